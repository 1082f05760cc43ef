//! The end-to-end benchmark (`vmknet-bench`): the generator against the XDP ceiling, vmknet's bare AF_XDP
//! rings, the full engine, DPDK's AF_XDP driver and the kernel's socket path, in one run and one
//! placement at a time, reported as JSON, a Markdown table and plots.
//!
//! - [`run`](mod@run): the run itself: topology, interleaved measurements, latency runs, the report.
//! - [`generate`]: the generator (`vmknet-pktgen`) driven for one measurement.
//! - [`subject`]: starting and stopping a subject; [`serve`]: vmknet's own subjects, as child processes;
//!   [`peers`]: the external ones (xdp-bench, DPDK's testpmd).
//! - [`cpu`], [`placement`]: per-core and other processes' CPU; where veth's receive path runs.
//! - [`model`]: the results, one serialisable document.
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
pub mod generate;
pub mod generator;
pub mod latency;
pub mod markdown;
pub mod model;
pub mod output;
pub mod peers;
pub mod placement;
pub mod plot;
pub mod run;
pub mod serve;
pub mod subject;
pub mod summary;
mod svg;
pub mod targets;
