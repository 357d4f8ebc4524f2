//! The catalog's handlers, one family per file.

pub mod chaos;
pub mod failures;
pub mod math;
pub mod noop;
pub mod order;
pub mod polyglot;
