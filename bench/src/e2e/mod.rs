//! The end-to-end benchmark (`vmknet-bench`): the generator against the XDP ceiling, vmknet's bare AF_XDP
//! rings, the full engine, DPDK's AF_XDP driver and the kernel's socket path, in one run and one
//! placement at a time, reported as JSON, a Markdown table and plots.
//!
//! - [`model`]: the results, one serialisable document.
//! - [`peers`]: the comparison peers run as child processes, DPDK testpmd (AF_XDP driver) and
//!   `xdp-bench drop`, and how many frames each received.

pub mod model;
pub mod peers;
