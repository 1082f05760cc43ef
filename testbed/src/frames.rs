//! Frame construction: well-formed frames through `etherparse::PacketBuilder`, and the handcrafted bytes
//! etherparse will not produce (stacked tags, fragments, broken headers).
//!
//! Builders here only make bytes; they never decide a label.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    ArpHardwareId, ArpOperation, ArpPacket, EtherType, Icmpv4Type, Icmpv6Type, IpFragOffset, IpHeaders, IpNumber,
    Ipv4Header, Ipv6FragmentHeader, Ipv6Header, PacketBuilder, TcpHeader, VlanId,
};

/// Minimum Ethernet frame without FCS; shorter frames are padded on the wire.
pub const MIN_FRAME: usize = 60;
/// 802.1Q TPID.
pub const TPID_8021Q: u16 = 0x8100;
/// 802.1ad (QinQ service tag) TPID.
pub const TPID_8021AD: u16 = 0x88a8;
/// Ethernet broadcast.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// The Ethernet part of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Source MAC.
    pub src: [u8; 6],
    /// Destination MAC.
    pub dst: [u8; 6],
    /// 802.1Q VID, `None` untagged.
    pub vlan: Option<u16>,
}

impl Link {
    /// Ethernet header length: 14, or 18 with the tag.
    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() { 18 } else { 14 }
    }
}

/// The IP part of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Net {
    /// Source address.
    pub src: IpAddr,
    /// Destination address (same family as `src`).
    pub dst: IpAddr,
    /// IPv4 identification.
    pub id: u16,
    /// IPv4 don't-fragment.
    pub df: bool,
    /// TTL / hop limit.
    pub ttl: u8,
}

impl Net {
    /// A DF packet with TTL/hop limit 64.
    pub fn new(src: IpAddr, dst: IpAddr, id: u16) -> Self {
        Self {
            src,
            dst,
            id,
            df: true,
            ttl: 64,
        }
    }

    fn headers(&self) -> IpHeaders {
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut header = Ipv4Header::new(0, self.ttl, IpNumber::UDP, src.octets(), dst.octets())
                    .expect("an empty payload fits");
                header.identification = self.id;
                header.dont_fragment = self.df;
                IpHeaders::Ipv4(header, Default::default())
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => IpHeaders::Ipv6(
                Ipv6Header {
                    hop_limit: self.ttl,
                    source: src.octets(),
                    destination: dst.octets(),
                    ..Default::default()
                },
                Default::default(),
            ),
            _ => panic!("mixed address families {} -> {}", self.src, self.dst),
        }
    }
}

/// What rides on IP.
#[derive(Clone, Debug)]
pub enum L4 {
    /// A TCP header (ports, flags, options).
    Tcp(TcpHeader),
    /// UDP with source and destination port.
    Udp(u16, u16),
    /// ICMPv4.
    Icmpv4(Icmpv4Type),
    /// ICMPv6.
    Icmpv6(Icmpv6Type),
    /// The payload is the whole IP payload, with this protocol number.
    Raw(IpNumber),
}

fn vlan_id(vid: u16) -> VlanId {
    VlanId::try_new(vid).expect("VIDs are 12 bits")
}

/// A well-formed IP frame, unpadded.
pub fn ip_frame(link: &Link, net: &Net, l4: L4, payload: &[u8]) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(link.src, link.dst);
    let step = match link.vlan {
        Some(vid) => eth.single_vlan(vlan_id(vid)).ip(net.headers()),
        None => eth.ip(net.headers()),
    };
    let mut out = Vec::with_capacity(link.header_len() + 60 + payload.len());
    let written = match l4 {
        L4::Tcp(header) => step.tcp_header(header).write(&mut out, payload),
        L4::Udp(sport, dport) => step.udp(sport, dport).write(&mut out, payload),
        L4::Icmpv4(kind) => step.icmpv4(kind).write(&mut out, payload),
        L4::Icmpv6(kind) => step.icmpv6(kind).write(&mut out, payload),
        L4::Raw(protocol) => step.write(&mut out, protocol, payload),
    };
    written.expect("generator built an unserialisable packet");
    out
}

/// Zero padding to the Ethernet minimum, as a sending NIC adds it.
pub fn padded(mut frame: Vec<u8>) -> Vec<u8> {
    if frame.len() < MIN_FRAME {
        frame.resize(MIN_FRAME, 0);
    }
    frame
}

/// An Ethernet/IPv4 ARP frame, padded.
pub fn arp_frame(
    link: &Link,
    operation: ArpOperation,
    sender: ([u8; 6], Ipv4Addr),
    target: ([u8; 6], Ipv4Addr),
) -> Vec<u8> {
    let arp = ArpPacket::new(
        ArpHardwareId::ETHERNET,
        EtherType::IPV4,
        operation,
        &sender.0,
        &sender.1.octets(),
        &target.0,
        &target.1.octets(),
    )
    .expect("Ethernet/IPv4 address sizes");
    let eth = PacketBuilder::ethernet2(link.src, link.dst);
    let mut out = Vec::new();
    let written = match link.vlan {
        Some(vid) => eth.single_vlan(vlan_id(vid)).arp(arp).write(&mut out),
        None => eth.arp(arp).write(&mut out),
    };
    written.expect("ARP serialises");
    padded(out)
}

/// A frame from raw parts: any stack of `(TPID, VID)` tags, any EtherType, any payload. Unpadded.
pub fn raw_frame(dst: [u8; 6], src: [u8; 6], tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(14 + 4 * tags.len() + payload.len());
    out.extend_from_slice(&dst);
    out.extend_from_slice(&src);
    for &(tpid, vid) in tags {
        out.extend_from_slice(&tpid.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&ethertype.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits the IPv4 packet of an unpadded `frame` into fragments carrying at most `chunk` payload bytes each
/// (a multiple of 8), each with the frame's Ethernet header. Padded.
pub fn fragment_ipv4(frame: &[u8], l2_len: usize, chunk: usize) -> Vec<Vec<u8>> {
    assert!(
        chunk.is_multiple_of(8) && chunk > 0,
        "fragment payloads are multiples of 8"
    );
    let (header, _) = Ipv4Header::from_slice(&frame[l2_len..]).expect("a built IPv4 packet");
    let start = l2_len + header.header_len();
    let payload = &frame[start..l2_len + usize::from(header.total_len)];
    let mut fragments = Vec::new();
    for offset in (0..payload.len()).step_by(chunk) {
        let end = (offset + chunk).min(payload.len());
        let mut h = header.clone();
        h.dont_fragment = false;
        h.more_fragments = end < payload.len();
        h.fragment_offset = IpFragOffset::try_new((offset / 8) as u16).expect("offset fits 13 bits");
        h.total_len = (header.header_len() + end - offset) as u16;
        h.header_checksum = h.calc_header_checksum();
        let mut out = frame[..l2_len].to_vec();
        out.extend_from_slice(&h.to_bytes());
        out.extend_from_slice(&payload[offset..end]);
        fragments.push(padded(out));
    }
    fragments
}

/// Splits the IPv6 packet (no extension headers) of an unpadded `frame` into fragments with a Fragment header,
/// at most `chunk` upper-layer bytes each (a multiple of 8).
pub fn fragment_ipv6(frame: &[u8], l2_len: usize, chunk: usize, id: u32) -> Vec<Vec<u8>> {
    assert!(
        chunk.is_multiple_of(8) && chunk > 0,
        "fragment payloads are multiples of 8"
    );
    let (header, _) = Ipv6Header::from_slice(&frame[l2_len..]).expect("a built IPv6 packet");
    let start = l2_len + Ipv6Header::LEN;
    let upper = &frame[start..start + usize::from(header.payload_length)];
    let mut fragments = Vec::new();
    for offset in (0..upper.len()).step_by(chunk) {
        let end = (offset + chunk).min(upper.len());
        let mut h = header.clone();
        h.next_header = IpNumber::IPV6_FRAGMENTATION_HEADER;
        h.payload_length = (Ipv6FragmentHeader::LEN + end - offset) as u16;
        let fragment = ipv6_fragment_header(header.next_header, offset, end < upper.len(), id);
        let mut out = frame[..l2_len].to_vec();
        out.extend_from_slice(&h.to_bytes());
        out.extend_from_slice(&fragment);
        out.extend_from_slice(&upper[offset..end]);
        fragments.push(padded(out));
    }
    fragments
}

/// An IPv6 Fragment header (RFC 8200 §4.5): next header, reserved, `offset << 3 | M` (offset in 8-byte units),
/// identification. Handwritten: etherparse 0.19's `Ipv6FragmentHeader::to_bytes` puts the M flag at bit 7 of the
/// fourth byte and the offset in the low 13 bits, which no other implementation reads back.
pub fn ipv6_fragment_header(next_header: IpNumber, offset_bytes: usize, more: bool, id: u32) -> [u8; 8] {
    assert!(
        offset_bytes.is_multiple_of(8) && offset_bytes < 65536,
        "fragment offsets are 13-bit multiples of 8"
    );
    let [hi, lo] = ((offset_bytes as u16) | u16::from(more)).to_be_bytes();
    let [a, b, c, d] = id.to_be_bytes();
    [next_header.0, 0, hi, lo, a, b, c, d]
}

/// The RFC 1071 checksum of `data`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Recomputes the IPv4 header checksum at `ip` after a mutation, over the header length the IHL claims (or
/// what is there of it).
pub fn fix_ipv4_checksum(frame: &mut [u8], ip: usize) {
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    let end = (ip + ihl.max(20)).min(frame.len());
    frame[ip + 10..ip + 12].fill(0);
    let sum = internet_checksum(&frame[ip..end]);
    frame[ip + 10..ip + 12].copy_from_slice(&sum.to_be_bytes());
}

/// Writes a big-endian `u16` at `at`.
pub fn put_u16(frame: &mut [u8], at: usize, value: u16) {
    frame[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

/// An IPv6 address as 8 groups.
pub fn v6(groups: [u16; 8]) -> Ipv6Addr {
    let [a, b, c, d, e, f, g, h] = groups;
    Ipv6Addr::new(a, b, c, d, e, f, g, h)
}

#[cfg(test)]
mod tests {
    use etherparse::SlicedPacket;

    use super::*;

    const A: [u8; 6] = [0, 0x50, 0x56, 1, 2, 3];
    const B: [u8; 6] = [0, 0x50, 0x56, 4, 5, 6];

    #[test]
    fn tagged_tcp_parses_back() {
        let link = Link {
            src: A,
            dst: B,
            vlan: Some(20),
        };
        let net = Net::new(
            Ipv4Addr::new(10, 20, 20, 12).into(),
            Ipv4Addr::new(10, 20, 20, 11).into(),
            7,
        );
        let frame = ip_frame(&link, &net, L4::Tcp(TcpHeader::new(50000, 8000, 1, 1000)), &[0; 8960]);
        assert_eq!(frame.len(), 9018);
        let sliced = SlicedPacket::from_ethernet(&frame).unwrap();
        assert!(sliced.transport.is_some());
    }

    #[test]
    fn fragments_cover_the_datagram() {
        let link = Link {
            src: A,
            dst: B,
            vlan: None,
        };
        let net = Net::new(Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into(), 9);
        let frame = ip_frame(&link, &net, L4::Udp(2049, 50000), &[1; 3000]);
        let frags = fragment_ipv4(&frame, 14, 1480);
        assert_eq!(frags.len(), 3);
        let carried: usize = frags
            .iter()
            .map(|f| usize::from(u16::from_be_bytes([f[16], f[17]])) - 20)
            .sum();
        assert_eq!(carried, 3008);
        for f in &frags {
            assert_eq!(internet_checksum(&f[14..34]), 0);
        }
    }

    #[test]
    fn ipv6_fragment_header_follows_rfc8200() {
        // Offset 1448 bytes = 181 units: 181 << 3 = 0x05a8, plus M.
        assert_eq!(
            ipv6_fragment_header(IpNumber::UDP, 1448, true, 0x0102_0304),
            [17, 0, 0x05, 0xa9, 1, 2, 3, 4]
        );
        assert_eq!(ipv6_fragment_header(IpNumber::UDP, 0, true, 7)[2..4], [0, 1]);
        assert_eq!(ipv6_fragment_header(IpNumber::UDP, 2896, false, 7)[2..4], [0x0b, 0x50]);
    }

    #[test]
    fn checksum_fix_verifies() {
        let link = Link {
            src: A,
            dst: B,
            vlan: None,
        };
        let net = Net::new(Ipv4Addr::new(10, 0, 0, 1).into(), Ipv4Addr::new(10, 0, 0, 2).into(), 9);
        let mut frame = ip_frame(&link, &net, L4::Udp(53, 50000), &[0; 20]);
        frame[22] = 1;
        fix_ipv4_checksum(&mut frame, 14);
        assert_eq!(internet_checksum(&frame[14..34]), 0);
    }
}
