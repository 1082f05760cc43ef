//! vmknet's XDP classifier.
//!
//! The program runs [`vmknet_common::classify`], the very steering code the host tests exercise, over the
//! packet and the steering maps the engine fills from the host model, then redirects VMkernel frames to the
//! AF_XDP socket of their netstack on the receiving queue, passes everything else to Linux and counts one
//! verdict per frame.
//!
//! Only a `bpfel-unknown-none` build contains the program; the host workspace build sees an empty `main`, so
//! that `cargo build --workspace` and clippy need no eBPF toolchain for this crate (and do not collide with
//! std's panic handler).
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
