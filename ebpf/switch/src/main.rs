//! The testbed switch's 802.1Q access ports: two tc programs attached to each access port of a plain Linux
//! bridge (this kernel has neither 802.1Q devices nor bridge VLAN filtering).
//!
//! - `access_port_ingress`: frames from the host behind the port get the port's tag pushed.
//! - `access_port_egress`: frames towards that host must carry the port's VLAN, and lose the tag.
//!
//! The rule itself is `vmknet_common::access_port`, tested on the host; the port's VLAN comes from a map
//! keyed by ifindex, so one loaded object serves every port of a switch.
//!
//! Only a `bpfel-unknown-none` build contains the programs; the host workspace build sees an empty `main`.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(target_arch = "bpf")]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
