//! vmknet-pktgen's XDP programs.
//!
//! - `pktgen_flows`: run by `BPF_PROG_TEST_RUN` in live-frame mode on one UDP template; writes the next flow
//!   of this CPU's odometer into each frame ([`vmknet_common::pktgen::rewrite_flow`], the code the host tests
//!   check) and redirects it to the configured interface.
//! - `pktgen_replay`: run the same way on a dummy frame; copies the next template of an array (captured or
//!   generated frames) into each frame and redirects it.
//! - `pktgen_sink`: attached to a receiving interface; counts frames and bytes and drops or passes them.
//!
//! Only a `bpfel-unknown-none` build contains the programs; the host workspace build sees an empty `main`.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
