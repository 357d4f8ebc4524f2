//! The catalog's handlers, one family per file.

pub mod approval;
pub mod batches;
pub mod chaos;
pub mod combined;
pub mod failures;
pub mod math;
pub mod noop;
pub mod order;
pub mod polyglot;
