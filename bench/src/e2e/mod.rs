//! The end-to-end benchmark (`vmknet-bench`): the generator against the XDP ceiling, vmknet's bare AF_XDP
//! rings, the full engine, DPDK's AF_XDP driver and the kernel's socket path, in one run and one
//! placement at a time, reported as JSON, a Markdown table and plots.
//!
//! - [`model`]: the results, one serialisable document.
//! - [`cpu`], [`placement`]: per-core and other processes' CPU; where veth's receive path runs.
//! - [`summary`]: repetitions to medians, min–max and ratios to the ceiling; warnings about disturbed runs.
//! - [`latency`]: a latency run's histogram to percentiles and CDF points.
//! - [`generator`]: vmknet-pktgen against xdp-trafficgen at 64 bytes, on a veth pair of its own.
//! - [`targets`]: the targets checked against the same run.
//! - [`markdown`]: the report as Markdown tables and lists.
//! - [`plot`]: the throughput and latency plots, as SVG (written by the small `svg` module).
//! - [`output`]: all of it written into a directory.

pub mod cpu;
#[cfg(test)]
mod fixtures;
pub mod generator;
pub mod latency;
pub mod markdown;
pub mod model;
pub mod output;
pub mod placement;
pub mod plot;
pub mod summary;
mod svg;
pub mod targets;
