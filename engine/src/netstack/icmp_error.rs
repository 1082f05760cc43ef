//! ICMP error messages about a packet too big for the egress MTU: IPv4 "fragmentation needed and DF set"
//! (type 3 code 4, RFC 792, next-hop MTU per RFC 1191 §4) and ICMPv6 Packet Too Big (type 2, RFC 4443
//! §3.2). The egress path sends them for forwarded packets; the ingress path can use the same builders.
//!
//! Each builder writes a whole IP packet, from one of our addresses back to the invoking packet's source,
//! into a buffer the caller provides: IPv4 quotes the invoking header and the first 8 bytes of its payload
//! (RFC 792); ICMPv6 quotes as much of the invoking packet as keeps the error within the IPv6 minimum MTU of
//! 1280 bytes (RFC 4443 §2.4 c). Checksums are filled: the IPv4 header's, the ICMP one over the message,
//! the ICMPv6 one with its pseudo-header.
//!
//! The rules that keep errors from multiplying are enforced (RFC 1122 §3.2.2, RFC 4443 §2.4 e): no error
//! about an ICMP error, about a non-first IPv4 fragment, or to a source that is not a unicast address; no
//! IPv4 error about a broadcast or multicast packet (ICMPv6 Packet Too Big is the documented exception,
//! RFC 4443 §2.4 e.3, so multicast invoking packets do get one).

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{
    Icmpv4Packet, Icmpv6Packet, Ipv4Error, Ipv4Packet, Ipv6Error, Ipv6Packet, icmpv4, icmpv6, ip_proto, ipv4, ipv6,
};

/// TTL / hop limit of the errors we originate.
pub const HOP_LIMIT: u8 = 64;
/// The IPv6 minimum MTU (RFC 8200 §5): an ICMPv6 error never exceeds it.
pub const IPV6_MIN_MTU: usize = 1280;
/// IPv4 quotes the invoking header and this many bytes of its payload (RFC 792).
const IPV4_QUOTED_PAYLOAD: usize = 8;

/// Why no error message was built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IcmpErrorRefusal {
    /// The invoking packet is not a well-formed IPv4 packet.
    #[error("invoking packet is not IPv4: {0}")]
    MalformedIpv4(#[from] Ipv4Error),
    /// The invoking packet is not a well-formed IPv6 packet.
    #[error("invoking packet is not IPv6: {0}")]
    MalformedIpv6(#[from] Ipv6Error),
    /// The invoking packet is itself an ICMP error message.
    #[error("no ICMP error about an ICMP error")]
    AboutAnError,
    /// The invoking packet is an IPv4 fragment other than the first.
    #[error("no ICMP error about a non-first fragment")]
    NotFirstFragment,
    /// The invoking packet's source is not a unicast address, or (IPv4) its destination is not.
    #[error("no ICMP error about a packet from or (IPv4) to a non-unicast address")]
    NotUnicast,
    /// The output buffer is too small.
    #[error("buffer of {len} bytes cannot hold the {needed}-byte error message")]
    BufferTooSmall {
        /// Bytes the message needs.
        needed: usize,
        /// Bytes the buffer has.
        len: usize,
    },
}

/// Writes an ICMP "fragmentation needed and DF set" from `src` to the source of `invoking` (an IPv4 packet,
/// Ethernet padding allowed), carrying `next_hop_mtu`; `ident` is the new packet's IPv4 identification.
/// Returns the length of the IPv4 packet written at the start of `out`.
///
/// # Errors
/// See [`IcmpErrorRefusal`]; nothing is written then.
pub fn frag_needed(
    invoking: &[u8],
    src: Ipv4Addr,
    next_hop_mtu: u16,
    ident: u16,
    out: &mut [u8],
) -> Result<usize, IcmpErrorRefusal> {
    let ip = Ipv4Packet::new_checked(invoking)?;
    if ip.frag_offset() != 0 {
        return Err(IcmpErrorRefusal::NotFirstFragment);
    }
    if ip.protocol() == ip_proto::ICMP && ip.payload().first().is_some_and(|&t| is_icmpv4_error(t)) {
        return Err(IcmpErrorRefusal::AboutAnError);
    }
    let (from, to) = (ip.src_addr(), ip.dst_addr());
    if !is_unicast_v4(from) || !is_unicast_v4(to) {
        return Err(IcmpErrorRefusal::NotUnicast);
    }
    let quoted_len = (ip.header_len() + IPV4_QUOTED_PAYLOAD).min(usize::from(ip.total_len()));
    let quoted = invoking.get(..quoted_len).unwrap_or_default();
    let icmp_len = icmpv4::HEADER_LEN + quoted_len;
    let needed = ipv4::MIN_HEADER_LEN + icmp_len;
    let len = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(IcmpErrorRefusal::BufferTooSmall { needed, len })?;
    let (header, message) = out.split_at_mut(ipv4::MIN_HEADER_LEN);
    let mut icmp = Icmpv4Packet::new_unchecked(&mut message[..]);
    icmp.set_msg_type(icmpv4::DEST_UNREACHABLE);
    icmp.set_msg_code(icmpv4::CODE_FRAG_NEEDED);
    icmp.set_rest_of_header(u32::from(next_hop_mtu));
    icmp.payload_mut().copy_from_slice(quoted);
    icmp.fill_checksum();
    let mut reply = Ipv4Packet::new_unchecked(header);
    reply.set_version_and_header_len(ipv4::MIN_HEADER_LEN);
    reply.set_dscp_ecn(0, 0);
    // At most 20 + 8 + 60 + 8 bytes.
    reply.set_total_len(needed as u16);
    reply.set_ident(ident);
    reply.set_flags_and_frag_offset(false, false, 0);
    reply.set_ttl(HOP_LIMIT);
    reply.set_protocol(ip_proto::ICMP);
    reply.set_src_addr(src);
    reply.set_dst_addr(from);
    reply.fill_checksum();
    Ok(needed)
}

/// Writes an ICMPv6 Packet Too Big from `src` to the source of `invoking` (an IPv6 packet, Ethernet padding
/// allowed), carrying `mtu` and as much of `invoking` as fits in 1280 bytes. Returns the length of the IPv6
/// packet written at the start of `out`.
///
/// # Errors
/// See [`IcmpErrorRefusal`]; nothing is written then.
pub fn packet_too_big(invoking: &[u8], src: Ipv6Addr, mtu: u32, out: &mut [u8]) -> Result<usize, IcmpErrorRefusal> {
    let ip = Ipv6Packet::new_checked(invoking)?;
    let about_error = ip.upper_layer().is_ok_and(|upper| {
        upper.protocol == ip_proto::ICMPV6
            && upper.fragment.is_none_or(|f| f.offset == 0)
            && upper.payload.first().is_some_and(|&t| t < icmpv6::ECHO_REQUEST)
    });
    if about_error {
        return Err(IcmpErrorRefusal::AboutAnError);
    }
    let from = ip.src_addr();
    if from.is_unspecified() || from.is_multicast() {
        return Err(IcmpErrorRefusal::NotUnicast);
    }
    let invoking_len = ipv6::HEADER_LEN + usize::from(ip.payload_len());
    let quoted_len = invoking_len.min(IPV6_MIN_MTU - ipv6::HEADER_LEN - icmpv6::HEADER_LEN);
    let quoted = invoking.get(..quoted_len).unwrap_or_default();
    let icmp_len = icmpv6::HEADER_LEN + quoted_len;
    let needed = ipv6::HEADER_LEN + icmp_len;
    let len = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(IcmpErrorRefusal::BufferTooSmall { needed, len })?;
    let (header, message) = out.split_at_mut(ipv6::HEADER_LEN);
    let mut icmp = Icmpv6Packet::new_unchecked(&mut message[..]);
    icmp.set_msg_type(icmpv6::PACKET_TOO_BIG);
    icmp.set_msg_code(0);
    icmp.set_rest_of_header(mtu);
    icmp.payload_mut().copy_from_slice(quoted);
    icmp.fill_checksum(&src, &from);
    // At most 1240 bytes.
    Ipv6Packet::new_unchecked(header).emit_header(icmp_len as u16, ip_proto::ICMPV6, HOP_LIMIT, src, from);
    Ok(needed)
}

/// ICMPv4 error types (RFC 1122 §3.2.2): destination unreachable, source quench, redirect, time exceeded,
/// parameter problem.
fn is_icmpv4_error(msg_type: u8) -> bool {
    matches!(msg_type, 3 | 4 | 5 | 11 | 12)
}

fn is_unicast_v4(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast())
}

#[cfg(test)]
mod tests {
    use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice, icmpv4};

    use super::*;

    const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 20, 20, 11);
    const PEER: [u8; 4] = [10, 20, 20, 50];

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// An IPv4 UDP packet from `src` to `dst` with `len` bytes of UDP payload and DF set.
    fn udp_v4(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src, dst, 63)
            .udp(40000, 8000)
            .write(&mut bytes, &vec![0xab; len])
            .unwrap();
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        ip.set_flags_and_frag_offset(true, false, 0);
        ip.fill_checksum();
        bytes
    }

    fn udp_v6(src: &str, dst: &str, len: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        PacketBuilder::ipv6(v6(src).octets(), v6(dst).octets(), 64)
            .udp(40000, 8000)
            .write(&mut bytes, &vec![0xcd; len])
            .unwrap();
        bytes
    }

    fn frag_needed_of(invoking: &[u8]) -> Result<Vec<u8>, IcmpErrorRefusal> {
        let mut out = [0u8; 200];
        let len = frag_needed(invoking, ROUTER, 1500, 7, &mut out)?;
        Ok(out[..len].to_vec())
    }

    #[test]
    fn frag_needed_quotes_header_and_8_bytes() {
        let invoking = udp_v4(PEER, [10, 120, 20, 5], 8972);
        let error = frag_needed_of(&invoking).unwrap();
        assert_eq!(error.len(), 20 + 8 + 20 + 8);
        let sliced = SlicedPacket::from_ip(&error).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
            panic!("not IPv4")
        };
        let header = ip.header().to_header();
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        assert_eq!((header.source, header.destination), (ROUTER.octets(), PEER));
        assert_eq!(
            (header.time_to_live, header.identification, header.total_len),
            (64, 7, 56)
        );
        let Some(TransportSlice::Icmpv4(icmp)) = &sliced.transport else {
            panic!("not ICMP")
        };
        assert_eq!(
            icmp.icmp_type(),
            Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::FragmentationNeeded {
                next_hop_mtu: 1500
            })
        );
        assert_eq!(icmp.checksum(), icmp.icmp_type().calc_checksum(icmp.payload()));
        assert_eq!(icmp.payload(), &invoking[..28]);
        let ours = Icmpv4Packet::new_checked(&error[20..]).unwrap();
        assert!(ours.verify_checksum());
        assert_eq!((ours.msg_type(), ours.msg_code(), ours.next_hop_mtu()), (3, 4, 1500));
        assert_eq!(&error[24..26], &[0, 0], "unused bits are zero");
    }

    #[test]
    fn frag_needed_quotes_options_and_short_payloads_whole() {
        // A 24-byte header (one 4-byte option) is quoted whole, plus 8 bytes.
        let mut with_options = udp_v4(PEER, [10, 120, 20, 5], 100);
        with_options.splice(20..20, [1, 1, 1, 0]);
        let total = with_options.len() as u16;
        let mut ip = Ipv4Packet::new_unchecked(&mut with_options[..]);
        ip.set_version_and_header_len(24);
        ip.set_total_len(total);
        ip.fill_checksum();
        let error = frag_needed_of(&with_options).unwrap();
        assert_eq!(&error[28..], &with_options[..32]);
        // A packet with fewer than 8 payload bytes (a bare IPv4 header plus 4) is quoted whole, not padded.
        let mut short = udp_v4(PEER, [10, 120, 20, 5], 0);
        short.truncate(24);
        let mut ip = Ipv4Packet::new_unchecked(&mut short[..]);
        ip.set_total_len(24);
        ip.fill_checksum();
        let error = frag_needed_of(&short).unwrap();
        assert_eq!(&error[28..], &short[..]);
    }

    #[test]
    fn frag_needed_is_suppressed_where_rfc_1122_says() {
        let mut about_error = Vec::new();
        PacketBuilder::ipv4(PEER, [10, 120, 20, 5], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(icmpv4::DestUnreachableHeader::Host))
            .write(&mut about_error, &[0; 28])
            .unwrap();
        assert_eq!(frag_needed_of(&about_error), Err(IcmpErrorRefusal::AboutAnError));
        let mut echo = Vec::new();
        PacketBuilder::ipv4(PEER, [10, 120, 20, 5], 64)
            .icmpv4_echo_request(1, 1)
            .write(&mut echo, &[0; 2000])
            .unwrap();
        assert!(frag_needed_of(&echo).is_ok(), "an echo request is not an error");

        let mut later = udp_v4(PEER, [10, 120, 20, 5], 2000);
        let mut ip = Ipv4Packet::new_unchecked(&mut later[..]);
        ip.set_flags_and_frag_offset(false, true, 1480);
        ip.fill_checksum();
        assert_eq!(frag_needed_of(&later), Err(IcmpErrorRefusal::NotFirstFragment));

        for (src, dst) in [
            ([224, 0, 0, 5], [10, 1, 1, 1]),
            ([0; 4], [10, 1, 1, 1]),
            (PEER, [255; 4]),
            (PEER, [239, 1, 1, 1]),
        ] {
            assert_eq!(
                frag_needed_of(&udp_v4(src, dst, 2000)),
                Err(IcmpErrorRefusal::NotUnicast),
                "{src:?} → {dst:?}"
            );
        }
        assert!(matches!(
            frag_needed_of(&[0x45, 0, 0]),
            Err(IcmpErrorRefusal::MalformedIpv4(_))
        ));
        let mut small = [0u8; 55];
        assert_eq!(
            frag_needed(&udp_v4(PEER, [10, 1, 1, 1], 2000), ROUTER, 1500, 1, &mut small),
            Err(IcmpErrorRefusal::BufferTooSmall { needed: 56, len: 55 })
        );
        assert_eq!(small, [0; 55], "nothing written");
    }

    fn too_big_of(invoking: &[u8]) -> Result<Vec<u8>, IcmpErrorRefusal> {
        let mut out = [0u8; 1500];
        let len = packet_too_big(invoking, v6("fd00:20::11"), 1500, &mut out)?;
        Ok(out[..len].to_vec())
    }

    #[test]
    fn packet_too_big_quotes_up_to_1280_bytes() {
        let invoking = udp_v6("fd00:20::50", "fd00:99::5", 8952);
        let error = too_big_of(&invoking).unwrap();
        assert_eq!(error.len(), IPV6_MIN_MTU);
        let sliced = SlicedPacket::from_ip(&error).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
            panic!("not IPv6")
        };
        let header = ip.header().to_header();
        assert_eq!(
            (header.source, header.destination),
            (v6("fd00:20::11").octets(), v6("fd00:20::50").octets())
        );
        assert_eq!((header.hop_limit, header.payload_length), (64, 1240));
        let Some(TransportSlice::Icmpv6(icmp)) = &sliced.transport else {
            panic!("not ICMPv6")
        };
        assert_eq!(icmp.icmp_type(), Icmpv6Type::PacketTooBig { mtu: 1500 });
        let expected = icmp
            .icmp_type()
            .calc_checksum(header.source, header.destination, icmp.payload())
            .unwrap();
        assert_eq!(icmp.checksum(), expected, "checksum with the pseudo-header");
        assert_eq!(icmp.payload(), &invoking[..1232]);
        let ours = Icmpv6Packet::new_checked(&error[40..]).unwrap();
        assert!(ours.verify_checksum(&v6("fd00:20::11"), &v6("fd00:20::50")));
        assert_eq!(ours.mtu(), 1500);

        let small = udp_v6("fd00:20::50", "ff02::1:2", 100);
        let error = too_big_of(&small).unwrap();
        assert_eq!(
            &error[48..],
            &small[..],
            "a short packet is quoted whole; a multicast one gets its error"
        );
    }

    #[test]
    fn packet_too_big_is_suppressed_where_rfc_4443_says() {
        let mut about_error = Vec::new();
        PacketBuilder::ipv6(v6("fd00:20::50").octets(), v6("fd00:99::5").octets(), 64)
            .icmpv6(Icmpv6Type::PacketTooBig { mtu: 1280 })
            .write(&mut about_error, &[0; 1400])
            .unwrap();
        assert_eq!(too_big_of(&about_error), Err(IcmpErrorRefusal::AboutAnError));
        for src in ["ff02::1", "::"] {
            assert_eq!(
                too_big_of(&udp_v6(src, "fd00:99::5", 2000)),
                Err(IcmpErrorRefusal::NotUnicast)
            );
        }
        assert!(matches!(
            too_big_of(&[0x60, 0]),
            Err(IcmpErrorRefusal::MalformedIpv6(_))
        ));
        let mut small = [0u8; 1279];
        assert_eq!(
            packet_too_big(
                &udp_v6("fd00:20::50", "fd00:99::5", 2000),
                v6("fd00:20::11"),
                1500,
                &mut small
            ),
            Err(IcmpErrorRefusal::BufferTooSmall {
                needed: 1280,
                len: 1279
            })
        );
    }
}
