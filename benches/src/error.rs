//! The error type shared by the benchmark roles.
//!
//! Benchmarks only report errors and stop, so one boxed error is enough: every
//! message says which role and transport failed and why.

/// Any error a benchmark role can hit.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Result of a benchmark step.
pub type BenchResult<T> = Result<T, BenchError>;
