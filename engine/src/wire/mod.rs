//! Zero-copy views of the frames the pipeline parses: Ethernet (one 802.1Q tag), ARP, IPv4, IPv6 (with its
//! extension-header chain), ICMPv4, ICMPv6 (echo and neighbour discovery), TCP and UDP.
//!
//! Each protocol has one file and one view type, `XxxPacket<T: AsRef<[u8]>>`, in the style of smoltcp: the
//! field offsets live in a private `mod field`, `new_checked` validates every length field once and returns
//! a typed error the pipeline can count, and the accessors that follow read fixed-size big-endian fields
//! straight from the buffer.
//!
//! This module must never panic, allocate or use `unsafe`, whatever the bytes: frames come from the wire.
//! Every read goes through `read` or a `get`, which yield zeros or an empty slice outside the buffer, so
//! even a view made with `new_unchecked` over garbage cannot panic; `new_checked` is what makes the values
//! meaningful. The lint below keeps indexing, `unwrap` and `panic!` out of the non-test code.
//!
//! Views borrow: `payload()` on a view of `&'a [u8]` returns a `&'a [u8]`, so the next layer's view can
//! outlive the one it came from. Views of mutable buffers also write the few fields the responders rewrite
//! (addresses, ARP operation, checksums).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod icmpv4;
pub mod icmpv6;
pub mod ipv4;
pub mod ipv6;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod tests;

pub use arp::ArpPacket;
pub use checksum::PseudoHeader;
pub use ethernet::{EthernetError, EthernetFrame};
pub use icmpv4::Icmpv4Packet;
pub use icmpv6::{Icmpv6Packet, NeighborKind, NeighborMessage};
pub use ipv4::{Ipv4Error, Ipv4Packet};
pub use ipv6::{Ipv6Error, Ipv6Fragment, Ipv6Packet, Ipv6UpperLayer};
pub use tcp::TcpPacket;
pub use udp::UdpPacket;

/// Why a header without a protocol-specific error type (ARP, ICMP, TCP, UDP) was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the fixed part of the header.
    #[error("truncated header")]
    Truncated,
    /// A length or type field is inconsistent with the buffer or the protocol.
    #[error("malformed header")]
    Malformed,
    /// A well-formed header of a variant vmknet does not speak (e.g. ARP for a non-Ethernet/IPv4 pair).
    #[error("unsupported header variant")]
    Unsupported,
}

/// IP protocol numbers (IPv4 Protocol, IPv6 Next Header) the pipeline and the IPv6 walker use.
pub mod ip_proto {
    /// IPv6 Hop-by-Hop Options extension header.
    pub const HOP_BY_HOP: u8 = 0;
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 Routing extension header.
    pub const ROUTING: u8 = 43;
    /// IPv6 Fragment extension header.
    pub const FRAGMENT: u8 = 44;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header": nothing follows.
    pub const NO_NEXT_HEADER: u8 = 59;
    /// IPv6 Destination Options extension header.
    pub const DESTINATION_OPTIONS: u8 = 60;
}

/// The `N` bytes at `offset`, or zeros when they are not all inside `buf`.
///
/// Zeros rather than an `Option` because every caller either validated the length already (checked views)
/// or explicitly accepted meaningless values (unchecked views); the branch costs what a bounds check does.
#[inline]
fn read<const N: usize>(buf: &[u8], offset: usize) -> [u8; N] {
    match buf.get(offset..).and_then(<[u8]>::first_chunk) {
        Some(bytes) => *bytes,
        None => [0; N],
    }
}

/// The big-endian `u16` at `offset` (zero outside `buf`).
#[inline]
fn read_u16(buf: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes(read(buf, offset))
}

/// The big-endian `u32` at `offset` (zero outside `buf`).
#[inline]
fn read_u32(buf: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(read(buf, offset))
}

/// The byte at `offset` (zero outside `buf`).
#[inline]
fn read_u8(buf: &[u8], offset: usize) -> u8 {
    buf.get(offset).copied().unwrap_or(0)
}

/// `buf[start..end]`, or an empty slice when that range is not inside `buf`.
#[inline]
fn slice(buf: &[u8], start: usize, end: usize) -> &[u8] {
    buf.get(start..end).unwrap_or_default()
}

/// Writes `bytes` at `offset`; does nothing when they do not fit (only possible on an unchecked view).
#[inline]
fn write<const N: usize>(buf: &mut [u8], offset: usize, bytes: [u8; N]) {
    if let Some(dst) = buf.get_mut(offset..).and_then(<[u8]>::first_chunk_mut) {
        *dst = bytes;
    }
}
