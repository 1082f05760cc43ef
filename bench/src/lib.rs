//! Benchmarks of vmknet.
//!
//! - The criterion benches of the pipeline stages live in `benches/`.
//! - [`pktgen`]: the project's packet generator (`vmknet-pktgen`), which sends UDP flows, captures or the
//!   testbed's vSphere mix at line rate with XDP live frames, and counts what a receiving interface got.

pub mod e2e;
pub mod pktgen;
