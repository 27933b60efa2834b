//! Shared benchmark code.
