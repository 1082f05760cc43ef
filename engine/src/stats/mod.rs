//! Counting frames: per-worker counters on the hot path, and reports built from them off it.

mod counters;
mod report;

pub use counters::{Conservation, Counters, Tally};
pub use report::Report;
