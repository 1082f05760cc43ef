//! The send timestamp the packet generator writes into a frame, and where a receiver finds it: the latency
//! probe of the end-to-end benchmark.
//!
//! A stamp is [`STAMP_LEN`] bytes at the start of the L4 payload of a UDP or TCP frame (after one optional
//! 802.1Q tag, an IPv4 header with its options or a fixed IPv6 header): the magic [`STAMP_MAGIC`], then the
//! send time as a big-endian `u64` of nanoseconds on `CLOCK_MONOTONIC`, the clock of `bpf_ktime_get_ns()`
//! and of `clock_gettime(CLOCK_MONOTONIC)`, so a receiver on the same host subtracts it from its own clock.
//!
//! A 64-byte frame (60 bytes before the FCS) holds a stamp behind a tagged IPv4/UDP header (46 + 12 bytes);
//! IPv6 needs at least 78 bytes. Finding a stamp reads a fixed set of fields and never fails loudly: any
//! frame without one gives `None`.

use crate::classify::{ETH_HEADER_LEN, FrameBytes, VLAN_TAG_LEN};

/// The four bytes before the time: "VMKT".
pub const STAMP_MAGIC: [u8; 4] = *b"VMKT";
/// Magic and time.
pub const STAMP_LEN: usize = 4 + 8;

const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const UDP_HEADER_LEN: usize = 8;
const IPV6_HEADER_LEN: usize = 40;

/// The offset of the L4 payload of a UDP or TCP frame (untagged or with one 802.1Q tag, IPv4 or IPv6 without
/// extension headers), or `None` for any other frame or one too short for its headers.
pub fn payload_offset<F: FrameBytes + ?Sized>(frame: &F) -> Option<usize> {
    let (ethertype, l3) = match frame.read_u16(ETH_HEADER_LEN - 2)? {
        ETHERTYPE_VLAN => (frame.read_u16(ETH_HEADER_LEN + 2)?, ETH_HEADER_LEN + VLAN_TAG_LEN),
        ethertype => (ethertype, ETH_HEADER_LEN),
    };
    let (protocol, l4) = match ethertype {
        ETHERTYPE_IPV4 => {
            let version_ihl = frame.read_u8(l3)?;
            if version_ihl >> 4 != 4 || version_ihl & 0x0f < 5 {
                return None;
            }
            (frame.read_u8(l3 + 9)?, l3 + usize::from(version_ihl & 0x0f) * 4)
        }
        ETHERTYPE_IPV6 => (frame.read_u8(l3 + 6)?, l3 + IPV6_HEADER_LEN),
        _ => return None,
    };
    let header = match protocol {
        PROTO_UDP => UDP_HEADER_LEN,
        PROTO_TCP => usize::from(frame.read_u8(l4 + 12)? >> 4) * 4,
        _ => return None,
    };
    Some(l4 + header)
}

/// The send time of a stamped frame, or `None` when the frame carries no stamp.
pub fn read_stamp<F: FrameBytes + ?Sized>(frame: &F) -> Option<u64> {
    stamp_at(frame, payload_offset(frame)?)
}

/// The send time stamped at the start of an L4 payload (what a UDP socket reads), or `None`.
pub fn read_payload_stamp(payload: &[u8]) -> Option<u64> {
    stamp_at(payload, 0)
}

fn stamp_at<F: FrameBytes + ?Sized>(bytes: &F, at: usize) -> Option<u64> {
    if bytes.read::<4>(at)? != STAMP_MAGIC {
        return None;
    }
    bytes.read::<8>(at.checked_add(4)?).map(u64::from_be_bytes)
}

/// The stamp's bytes for the send time `ns`.
pub fn stamp_bytes(ns: u64) -> [u8; STAMP_LEN] {
    let mut bytes = [0; STAMP_LEN];
    let (magic, time) = bytes.split_at_mut(4);
    magic.copy_from_slice(&STAMP_MAGIC);
    time.copy_from_slice(&ns.to_be_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame with a UDP or TCP header (its contents are not looked at beyond the offsets) and `payload`.
    fn frame(vlan: bool, ipv6: bool, tcp: bool, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        if vlan {
            f.extend([0x81, 0x00, 0x00, 20]);
        }
        let protocol = if tcp { PROTO_TCP } else { PROTO_UDP };
        if ipv6 {
            f.extend([0x86, 0xdd, 0x60, 0, 0, 0, 0, 0, protocol, 64]);
            f.extend([0; 32]);
        } else {
            f.extend([0x08, 0x00, 0x46, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0]);
            f.extend([0; 12]); // addresses and one option word (IHL 6)
        }
        if tcp {
            f.extend([0; 12]);
            f.extend([0x60, 0]); // data offset 6: one option word
            f.extend([0; 10]);
        } else {
            f.extend([0; 8]);
        }
        f.extend(payload);
        f
    }

    #[test]
    fn stamps_are_found_behind_every_header_shape() {
        let stamp = stamp_bytes(0x0123_4567_89ab_cdef);
        for layout in 0..8 {
            let (vlan, ipv6, tcp) = (layout & 1 != 0, layout & 2 != 0, layout & 4 != 0);
            let f = frame(vlan, ipv6, tcp, &stamp);
            assert_eq!(read_stamp(f.as_slice()), Some(0x0123_4567_89ab_cdef), "layout {layout}");
            assert_eq!(payload_offset(f.as_slice()), Some(f.len() - STAMP_LEN));
            assert_eq!(
                read_payload_stamp(&f[f.len() - STAMP_LEN..]),
                Some(0x0123_4567_89ab_cdef)
            );
        }
    }

    #[test]
    fn a_minimum_tagged_ipv4_frame_holds_a_stamp() {
        let mut f = frame(true, false, false, &stamp_bytes(7));
        f[ETH_HEADER_LEN + VLAN_TAG_LEN] = 0x45;
        f.drain(ETH_HEADER_LEN + VLAN_TAG_LEN + 20..ETH_HEADER_LEN + VLAN_TAG_LEN + 24);
        assert_eq!(f.len(), 58);
        assert_eq!(read_stamp(f.as_slice()), Some(7));
    }

    #[test]
    fn frames_without_a_stamp_give_none_at_any_length() {
        let stamped = frame(true, true, true, &stamp_bytes(1));
        for len in 0..stamped.len() {
            assert_eq!(read_stamp(&stamped[..len]), None, "truncated to {len}");
        }
        let mut other_magic = stamped.clone();
        let at = stamped.len() - STAMP_LEN;
        other_magic[at] = b'X';
        assert_eq!(read_stamp(other_magic.as_slice()), None);
        let mut icmp = frame(false, false, false, &stamp_bytes(1));
        icmp[ETH_HEADER_LEN + 9] = 1;
        assert_eq!(read_stamp(icmp.as_slice()), None);
        let mut arp = icmp.clone();
        arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
        assert_eq!(read_stamp(arp.as_slice()), None);
    }
}
