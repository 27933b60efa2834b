//! The record schema: what a run logs, as rkyv archives written into frames.

pub mod schema;
