//! Send-time stamps from userspace's side: where a template can carry one ([`stamp_site`]) and the clock the
//! stamps are read from ([`vmknet::runtime::monotonic_ns`]).
//!
//! The stamp itself ([`vmknet_common::stamp`]) and its writer ([`write_stamp`](vmknet_common::pktgen::write_stamp))
//! are shared with the XDP programs; userspace decides once per template whether and where to stamp. A replayed
//! template gets a site only when the stamp can be patched in correctly: a UDP or TCP frame, not an IP fragment,
//! whose L4 segment (as the IP header bounds it) holds [`STAMP_LEN`] payload bytes and whose checksum is valid
//! now (or absent, for UDP over IPv4). A capture taken with checksum offload, a truncated record or any other
//! frame is played unstamped rather than corrupted.

use etherparse::{NetSlice, SlicedPacket};
use vmknet_common::pktgen::{STAMP_CHECKSUM_OPTIONAL, STAMP_UDP, StampSite};
use vmknet_common::stamp::{STAMP_LEN, payload_offset};

const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const UDP_CHECKSUM: usize = 6;
const TCP_CHECKSUM: usize = 16;

/// Where `frame` can carry a stamp, or `None` when it cannot (see the module documentation).
pub fn stamp_site(frame: &[u8]) -> Option<StampSite> {
    let packet = SlicedPacket::from_ethernet(frame).ok()?;
    let (pseudo, ip_payload, optional) = match &packet.net {
        Some(NetSlice::Ipv4(ip)) if !ip.is_payload_fragmented() => {
            let header = ip.header();
            let mut pseudo = header.source().to_vec();
            pseudo.extend(header.destination());
            (pseudo, ip.payload(), true)
        }
        Some(NetSlice::Ipv6(ip)) if !ip.is_payload_fragmented() => {
            let header = ip.header();
            let mut pseudo = header.source().to_vec();
            pseudo.extend(header.destination());
            (pseudo, ip.payload(), false)
        }
        _ => return None,
    };
    let segment = ip_payload.payload;
    let l4 = segment.as_ptr() as usize - frame.as_ptr() as usize;
    let at = payload_offset(frame)?;
    let (checksum, flags) = match ip_payload.ip_number.0 {
        PROTO_UDP if optional => (l4 + UDP_CHECKSUM, STAMP_UDP | STAMP_CHECKSUM_OPTIONAL),
        PROTO_UDP => (l4 + UDP_CHECKSUM, STAMP_UDP),
        PROTO_TCP => (l4 + TCP_CHECKSUM, 0),
        _ => return None,
    };
    // The receivers' payload offset must lie inside the segment, with room for the stamp.
    if at < l4 || at + STAMP_LEN > l4 + segment.len() {
        return None;
    }
    let check = u16::from_be_bytes([*frame.get(checksum)?, *frame.get(checksum + 1)?]);
    let absent = check == 0 && flags & STAMP_CHECKSUM_OPTIONAL != 0;
    if !absent && !checksum_valid(&pseudo, ip_payload.ip_number.0, segment) {
        return None;
    }
    Some(StampSite {
        at: u32::try_from(at).ok()?,
        checksum: u32::try_from(checksum).ok()?,
        flags,
    })
}

/// Whether the L4 `segment` sums to 0xffff with its pseudo-header (the `addresses`, `protocol`, length).
fn checksum_valid(addresses: &[u8], protocol: u8, segment: &[u8]) -> bool {
    let words = |bytes: &[u8]| -> u64 {
        bytes
            .chunks(2)
            .map(|pair| u64::from(pair[0]) << 8 | pair.get(1).map_or(0, |&b| u64::from(b)))
            .sum()
    };
    let mut sum = words(addresses) + u64::from(protocol) + segment.len() as u64 + words(segment);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[cfg(test)]
mod tests {
    use etherparse::PacketBuilder;
    use vmknet_common::pktgen::write_stamp;
    use vmknet_common::stamp::read_stamp;

    use vmknet::runtime::monotonic_ns;

    use super::*;

    fn udp_v4(payload: usize) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .udp(1000, 2000)
            .write(&mut frame, &vec![7; payload])
            .expect("builds");
        frame
    }

    fn tcp_v6(payload: usize) -> Vec<u8> {
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6([0xfd; 16], [0xfe; 16], 64)
            .tcp(1000, 3260, 1, 65535)
            .write(&mut frame, &vec![7; payload])
            .expect("builds");
        frame
    }

    #[test]
    fn stamped_templates_keep_valid_checksums() {
        for frame in [udp_v4(STAMP_LEN), udp_v4(1000), tcp_v6(STAMP_LEN), tcp_v6(100)] {
            let site = stamp_site(&frame).expect("a site");
            let mut stamped = frame.clone();
            let now = monotonic_ns();
            write_stamp(stamped.as_mut_slice(), &site, now).expect("fits");
            assert_eq!(read_stamp(stamped.as_slice()), Some(now));
            assert_eq!(stamp_site(&stamped), Some(site), "still valid, so still a site");
        }
    }

    #[test]
    fn frames_that_cannot_be_patched_get_no_site() {
        assert_eq!(stamp_site(&udp_v4(STAMP_LEN - 1)), None, "too short");
        let mut padded = udp_v4(4);
        padded.resize(60, 0);
        assert_eq!(stamp_site(&padded), None, "Ethernet padding is not payload");
        let mut offloaded = tcp_v6(100);
        let check = offloaded.len() - 100 - 4;
        offloaded[check] ^= 0xff;
        assert_eq!(stamp_site(&offloaded), None, "a checksum left to the NIC");
        let mut fragment = udp_v4(100);
        fragment[14 + 6] = 0x20; // more fragments
        fragment[14 + 10..14 + 12].fill(0);
        let ip_check = !checksum_fold(&fragment[14..34]);
        fragment[14 + 10..14 + 12].copy_from_slice(&ip_check.to_be_bytes());
        assert_eq!(stamp_site(&fragment), None, "a fragment");
        let mut no_checksum = udp_v4(20);
        no_checksum[14 + 20 + 6..14 + 20 + 8].fill(0);
        let site = stamp_site(&no_checksum).expect("UDP over IPv4 without a checksum");
        assert_eq!(site.flags, STAMP_UDP | STAMP_CHECKSUM_OPTIONAL);
    }

    fn checksum_fold(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes.chunks(2).map(|p| u32::from(p[0]) << 8 | u32::from(p[1])).sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }
}
