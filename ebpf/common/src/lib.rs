//! Types and frame classification shared by the vmknet XDP program and userspace.
//!
//! This crate is `no_std` and allocation-free so that the XDP classifier (`ebpf/classifier`) and the
//! engine's userspace twin run *the same code*: the steering decision is [`classify`], generic over a
//! [`FrameBytes`] source (a byte slice in userspace, the packet pointers of an `XdpContext` in the kernel)
//! and a [`SteeringTables`] lookup (Rust maps in userspace, BPF hash maps in the kernel).
//!
//! [`pktgen`] holds the same for the project's packet generator: its maps' records and the per-frame flow
//! rewrite its XDP program runs, [`stamp`] the send timestamp it can write and receivers read, and
//! [`access_port`] the 802.1Q access-port rule of the testbed's switch.
//!
//! The map keys and values are `#[repr(C)]` with explicit padding, so userspace can write them into BPF maps
//! byte for byte; the `user` feature implements `aya::Pod` for them.
#![cfg_attr(not(any(feature = "user", test)), no_std)]

pub mod access_port;
pub mod classify;
pub mod keys;
pub mod packet;
pub mod pktgen;
pub mod reason;
pub mod stamp;
pub mod xdp;

pub use classify::{FrameBytes, Steer, SteerPass, SteeringTables, announcement, classify};
pub use keys::{Announcement, Ipv4Key, Ipv6Key, MacKey, SteerTarget};
pub use packet::LinearPacket;
pub use reason::DropReason;
pub use xdp::{XdpConfig, XdpVerdict};
