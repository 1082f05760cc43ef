//! Properties of the views as a whole: no input makes any of them panic, and on valid frames they agree with
//! etherparse, an independent parser.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, Ipv6ExtensionsSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice, VlanId};
use proptest::prelude::*;

use super::*;

/// Runs every check of every view over `bytes`, every accessor on an unchecked view (the same code a checked
/// view runs, on bytes no check vouched for), then every writer on a copy. The point is that nothing
/// panics; the values are not looked at.
fn exercise_every_view(bytes: &[u8]) {
    let eth = EthernetFrame::new_unchecked(bytes);
    let _ = (
        EthernetFrame::new_checked(bytes),
        eth.check_len(),
        eth.dst_addr(),
        eth.src_addr(),
    );
    let _ = (
        eth.is_tagged(),
        eth.vlan_id(),
        eth.pcp(),
        eth.ethertype(),
        eth.header_len(),
        eth.payload(),
    );

    let arp = ArpPacket::new_unchecked(bytes);
    let _ = (
        ArpPacket::new_checked(bytes),
        arp.operation(),
        arp.sender_hw_addr(),
        arp.sender_proto_addr(),
    );
    let _ = (arp.target_hw_addr(), arp.target_proto_addr());

    let ip = Ipv4Packet::new_unchecked(bytes);
    let _ = (
        Ipv4Packet::new_checked(bytes),
        ip.version(),
        ip.header_len(),
        ip.dscp(),
        ip.ecn(),
        ip.total_len(),
    );
    let _ = (
        ip.ident(),
        ip.dont_frag(),
        ip.more_frags(),
        ip.frag_offset(),
        ip.is_fragment(),
        ip.ttl(),
    );
    let _ = (
        ip.protocol(),
        ip.checksum(),
        ip.src_addr(),
        ip.dst_addr(),
        ip.verify_checksum(),
    );
    let _ = (ip.options(), ip.payload());

    let ip6 = Ipv6Packet::new_unchecked(bytes);
    let _ = (
        Ipv6Packet::new_checked(bytes),
        ip6.version(),
        ip6.traffic_class(),
        ip6.flow_label(),
    );
    let _ = (
        ip6.payload_len(),
        ip6.next_header(),
        ip6.hop_limit(),
        ip6.src_addr(),
        ip6.dst_addr(),
    );
    let _ = (ip6.payload(), ip6.upper_layer());

    let v4 = PseudoHeader::V4 {
        src: Ipv4Addr::LOCALHOST,
        dst: Ipv4Addr::BROADCAST,
    };
    let v6 = PseudoHeader::V6 {
        src: Ipv6Addr::LOCALHOST,
        dst: Ipv6Addr::UNSPECIFIED,
    };
    let tcp = TcpPacket::new_unchecked(bytes);
    let _ = (
        TcpPacket::new_checked(bytes),
        tcp.src_port(),
        tcp.dst_port(),
        tcp.seq_number(),
        tcp.ack_number(),
    );
    let _ = (
        tcp.header_len(),
        tcp.fin(),
        tcp.syn(),
        tcp.rst(),
        tcp.psh(),
        tcp.ack(),
        tcp.urg(),
        tcp.ece(),
    );
    let _ = (
        tcp.cwr(),
        tcp.window_len(),
        tcp.checksum(),
        tcp.urgent_at(),
        tcp.verify_checksum(&v4),
    );
    let _ = (tcp.options(), tcp.payload());

    let udp = UdpPacket::new_unchecked(bytes);
    let _ = (
        UdpPacket::new_checked(bytes),
        udp.src_port(),
        udp.dst_port(),
        udp.len(),
        udp.is_empty(),
    );
    let _ = (
        udp.checksum(),
        udp.verify_checksum(&v4),
        udp.verify_checksum(&v6),
        udp.payload(),
    );

    let icmp = Icmpv4Packet::new_unchecked(bytes);
    let _ = (
        Icmpv4Packet::new_checked(bytes),
        icmp.msg_type(),
        icmp.msg_code(),
        icmp.checksum(),
    );
    let _ = (
        icmp.echo_ident(),
        icmp.echo_seq_no(),
        icmp.verify_checksum(),
        icmp.payload(),
    );

    let icmp6 = Icmpv6Packet::new_unchecked(bytes);
    let _ = (
        Icmpv6Packet::new_checked(bytes),
        icmp6.msg_type(),
        icmp6.msg_code(),
        icmp6.checksum(),
    );
    let _ = (icmp6.echo_ident(), icmp6.echo_seq_no(), icmp6.payload());
    let _ = icmp6.verify_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::UNSPECIFIED);

    let nd = NeighborMessage::new_unchecked(bytes);
    let _ = (
        NeighborMessage::new_checked(bytes),
        nd.kind(),
        nd.target_addr(),
        nd.router_flag(),
    );
    let _ = (
        nd.solicited_flag(),
        nd.override_flag(),
        nd.source_link_addr(),
        nd.target_link_addr(),
    );

    let mut copy = bytes.to_vec();
    let mut eth = EthernetFrame::new_unchecked(&mut copy[..]);
    eth.set_dst_addr([1; 6]);
    eth.set_src_addr([2; 6]);
    ArpPacket::new_unchecked(&mut copy[..]).make_reply_in_place([3; 6]);
    Ipv4Packet::new_unchecked(&mut copy[..]).fill_checksum();
    Icmpv4Packet::new_unchecked(&mut copy[..]).fill_checksum();
    Icmpv6Packet::new_unchecked(&mut copy[..]).fill_checksum(&Ipv6Addr::LOCALHOST, &Ipv6Addr::LOCALHOST);
}

/// What the pipeline does with a frame: each layer's view over the previous layer's payload.
fn parse_like_the_pipeline(frame: &[u8]) {
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return;
    };
    let payload = eth.payload();
    match eth.ethertype() {
        ethernet::ETHERTYPE_ARP => exercise_every_view(payload),
        ethernet::ETHERTYPE_IPV4 => {
            if let Ok(ip) = Ipv4Packet::new_checked(payload) {
                exercise_every_view(ip.payload());
            }
        }
        _ => {
            if let Ok(ip) = Ipv6Packet::new_checked(payload)
                && let Ok(upper) = ip.upper_layer()
            {
                exercise_every_view(upper.payload);
            }
        }
    }
}

/// Arbitrary bytes, and the same bytes with the fields the parsers branch on forced to interesting values, so
/// that the checks pass often enough for the deeper accessors to run on garbage too.
fn hostile_frames() -> impl Strategy<Value = Vec<u8>> {
    let prefixes: [&[u8]; 7] = [
        &[],
        &[0x45],
        &[0x4f],
        &[0x60, 0, 0, 0, 0x00, 0x40, 0],
        &[0x60, 0, 0, 0, 0xff, 0xff, 60],
        &[0, 1, 8, 0, 6, 4],
        &[0x87, 0],
    ];
    (
        proptest::sample::select(prefixes.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(prefix, mut bytes)| {
            for (b, p) in bytes.iter_mut().zip(prefix) {
                *b = *p;
            }
            bytes
        })
}

/// The network layer of a generated packet.
#[derive(Clone, Debug)]
enum Net {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

/// The transport layer of a generated packet.
#[derive(Clone, Copy, Debug)]
enum Transport {
    Tcp,
    Udp,
    IcmpEcho,
}

fn build(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    vlan: Option<u16>,
    net: &Net,
    l4: Transport,
    ports: (u16, u16),
    payload: &[u8],
) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
    let vid = |v: u16| VlanId::try_new(v).unwrap();
    let ip = match (vlan, net.clone()) {
        (None, Net::V4(s, d)) => eth.ipv4(s, d, 64),
        (None, Net::V6(s, d)) => eth.ipv6(s, d, 64),
        (Some(v), Net::V4(s, d)) => eth.single_vlan(vid(v)).ipv4(s, d, 64),
        (Some(v), Net::V6(s, d)) => eth.single_vlan(vid(v)).ipv6(s, d, 64),
    };
    let mut bytes = Vec::new();
    let (sp, dp) = ports;
    match (l4, net) {
        (Transport::Tcp, _) => ip.tcp(sp, dp, 0x0102_0304, 512).write(&mut bytes, payload),
        (Transport::Udp, _) => ip.udp(sp, dp).write(&mut bytes, payload),
        (Transport::IcmpEcho, Net::V4(..)) => ip.icmpv4_echo_request(sp, dp).write(&mut bytes, payload),
        (Transport::IcmpEcho, Net::V6(..)) => ip.icmpv6_echo_request(sp, dp).write(&mut bytes, payload),
    }
    .unwrap();
    bytes
}

/// What a parser saw in a frame: addresses, protocol, ports (or echo id/seq) and payload lengths.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    macs: ([u8; 6], [u8; 6]),
    vlan: Option<u16>,
    addrs: (Vec<u8>, Vec<u8>),
    protocol: u8,
    ip_payload_len: usize,
    ports: (u16, u16),
    l4_payload_len: usize,
}

fn summarize_with_etherparse(frame: &[u8]) -> Summary {
    let sliced = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::LinkSlice::Ethernet2(eth)) = &sliced.link else {
        panic!("no Ethernet II")
    };
    let (addrs, protocol, ip_payload_len) = match sliced.net.as_ref().unwrap() {
        NetSlice::Ipv4(ip) => (
            (ip.header().source().to_vec(), ip.header().destination().to_vec()),
            ip.payload().ip_number,
            ip.payload().payload.len(),
        ),
        NetSlice::Ipv6(ip) => (
            (ip.header().source().to_vec(), ip.header().destination().to_vec()),
            ip.payload().ip_number,
            ip.payload().payload.len(),
        ),
        NetSlice::Arp(_) => panic!("not IP"),
    };
    let echo = |b: [u8; 4]| (u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]));
    let (ports, l4_payload_len) = match sliced.transport.as_ref().unwrap() {
        TransportSlice::Tcp(t) => ((t.source_port(), t.destination_port()), t.payload().len()),
        TransportSlice::Udp(u) => ((u.source_port(), u.destination_port()), u.payload().len()),
        TransportSlice::Icmpv4(i) => (echo(i.bytes5to8()), i.payload().len()),
        TransportSlice::Icmpv6(i) => (echo(i.bytes5to8()), i.payload().len()),
    };
    Summary {
        macs: (eth.source(), eth.destination()),
        vlan: sliced.vlan_ids().first().map(|v| v.value()),
        addrs,
        protocol: protocol.0,
        ip_payload_len,
        ports,
        l4_payload_len,
    }
}

/// Our summary of `frame`, also checking every checksum the builder filled in.
fn summarize(frame: &[u8]) -> Summary {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    let (addrs, pseudo, protocol, ip_payload) = match eth.ethertype() {
        ethernet::ETHERTYPE_IPV4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
            assert!(ip.verify_checksum());
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            (
                (src.octets().to_vec(), dst.octets().to_vec()),
                PseudoHeader::V4 { src, dst },
                ip.protocol(),
                ip.payload(),
            )
        }
        ethernet::ETHERTYPE_IPV6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            let upper = ip.upper_layer().unwrap();
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            (
                (src.octets().to_vec(), dst.octets().to_vec()),
                PseudoHeader::V6 { src, dst },
                upper.protocol,
                upper.payload,
            )
        }
        other => panic!("unexpected EtherType {other:#06x}"),
    };
    let (ports, l4_payload_len) = match (protocol, &pseudo) {
        (ip_proto::TCP, _) => {
            let tcp = TcpPacket::new_checked(ip_payload).unwrap();
            assert!(tcp.verify_checksum(&pseudo));
            ((tcp.src_port(), tcp.dst_port()), tcp.payload().len())
        }
        (ip_proto::UDP, _) => {
            let udp = UdpPacket::new_checked(ip_payload).unwrap();
            assert!(udp.verify_checksum(&pseudo));
            ((udp.src_port(), udp.dst_port()), udp.payload().len())
        }
        (ip_proto::ICMP, _) => {
            let icmp = Icmpv4Packet::new_checked(ip_payload).unwrap();
            assert!(icmp.verify_checksum());
            assert_eq!(icmp.msg_type(), icmpv4::ECHO_REQUEST);
            ((icmp.echo_ident(), icmp.echo_seq_no()), icmp.payload().len())
        }
        (ip_proto::ICMPV6, PseudoHeader::V6 { src, dst }) => {
            let icmp = Icmpv6Packet::new_checked(ip_payload).unwrap();
            assert!(icmp.verify_checksum(src, dst));
            assert_eq!(icmp.msg_type(), icmpv6::ECHO_REQUEST);
            ((icmp.echo_ident(), icmp.echo_seq_no()), icmp.payload().len())
        }
        (other, _) => panic!("unexpected protocol {other}"),
    };
    Summary {
        macs: (eth.src_addr(), eth.dst_addr()),
        vlan: eth.is_tagged().then(|| eth.vlan_id()),
        addrs,
        protocol,
        ip_payload_len: ip_payload.len(),
        ports,
        l4_payload_len,
    }
}

/// The walk limit, which generated extension chains stay under.
const MAX: usize = ipv6::MAX_EXTENSION_HEADERS;

/// An IPv6 payload: one extension header per entry of `headers`, `(next header, extra 8-byte units, fragment
/// offset and flags)`, the first of type `first`, then `data` filler bytes.
fn extension_chain(first: u8, headers: &[(u8, u8, u16)], data: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    let kinds: Vec<u8> = std::iter::once(first).chain(headers.iter().map(|h| h.0)).collect();
    for (&(next, units, frag), &kind) in headers.iter().zip(&kinds) {
        if kind == ip_proto::FRAGMENT {
            bytes.extend_from_slice(&[next, 0]);
            bytes.extend_from_slice(&frag.to_be_bytes());
            bytes.extend_from_slice(&[0xfe, 0xed, 0xfa, 0xce]);
        } else {
            bytes.extend_from_slice(&[next, units]);
            bytes.resize(bytes.len() + 6 + 8 * usize::from(units), 0x01);
        }
    }
    bytes.resize(bytes.len() + data, 0xaa);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn no_input_makes_a_view_panic(bytes in hostile_frames()) {
        exercise_every_view(&bytes);
        parse_like_the_pipeline(&bytes);
    }

    #[test]
    fn no_prefix_of_a_valid_frame_makes_the_pipeline_panic(
        vlan in proptest::option::of(0u16..4096),
        v6 in any::<bool>(),
        l4 in prop_oneof![Just(Transport::Tcp), Just(Transport::Udp), Just(Transport::IcmpEcho)],
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let net = if v6 { Net::V6([0xfd; 16], [0xfe; 16]) } else { Net::V4([10, 0, 0, 1], [10, 0, 0, 2]) };
        let frame = build([2; 6], [4; 6], vlan, &net, l4, (1, 2), &payload);
        for len in 0..=frame.len() {
            parse_like_the_pipeline(&frame[..len]);
            exercise_every_view(&frame[..len]);
        }
    }

    #[test]
    fn valid_frames_parse_as_etherparse_parses_them(
        macs in any::<([u8; 6], [u8; 6])>(),
        vlan in proptest::option::of(0u16..4096),
        net in prop_oneof![
            any::<([u8; 4], [u8; 4])>().prop_map(|(s, d)| Net::V4(s, d)),
            any::<([u8; 16], [u8; 16])>().prop_map(|(s, d)| Net::V6(s, d)),
        ],
        l4 in prop_oneof![Just(Transport::Tcp), Just(Transport::Udp), Just(Transport::IcmpEcho)],
        ports in any::<(u16, u16)>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let frame = build(macs.0, macs.1, vlan, &net, l4, ports, &payload);
        let ours = summarize(&frame);
        prop_assert_eq!(ours.l4_payload_len, payload.len());
        prop_assert_eq!(&ours, &summarize_with_etherparse(&frame));
    }

    #[test]
    fn extension_chains_walk_as_etherparse_walks_them(
        first in prop_oneof![Just(ip_proto::HOP_BY_HOP), Just(ip_proto::ROUTING), Just(ip_proto::FRAGMENT),
            Just(ip_proto::DESTINATION_OPTIONS), Just(ip_proto::TCP)],
        headers in proptest::collection::vec(
            (
                prop_oneof![Just(ip_proto::HOP_BY_HOP), Just(ip_proto::ROUTING), Just(ip_proto::FRAGMENT),
                    Just(ip_proto::DESTINATION_OPTIONS), Just(ip_proto::UDP), Just(ip_proto::NO_NEXT_HEADER)],
                0u8..4,
                // First fragments only: etherparse walks on past a non-first one, the pipeline must not.
                prop_oneof![Just(0u16), Just(1u16)],
            ),
            // Fewer than the limit: past it etherparse walks on and the pipeline must not.
            0..MAX,
        ),
        data in 0usize..32,
        cut in any::<proptest::sample::Index>(),
    ) {
        let payload = extension_chain(first, &headers, data);
        // Sometimes shorten the payload length so the chain is cut anywhere.
        let payload_len = if data % 3 == 0 { cut.index(payload.len() + 1) } else { payload.len() };
        let mut packet = vec![0x60, 0, 0, 0];
        packet.extend_from_slice(&(payload_len as u16).to_be_bytes());
        packet.extend_from_slice(&[first, 64]);
        packet.extend_from_slice(&[0; 32]);
        packet.extend_from_slice(&payload);

        let ours = Ipv6Packet::new_checked(&packet[..]).unwrap().upper_layer();
        let theirs = Ipv6ExtensionsSlice::from_slice(IpNumber(first), &payload[..payload_len]);
        match (ours, theirs) {
            (Ok(ours), Ok((_, protocol, rest))) => {
                prop_assert_eq!(ours.protocol, protocol.0);
                prop_assert_eq!(ours.payload, rest);
                prop_assert_eq!(ours.offset, 40 + payload_len - rest.len());
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => prop_assert!(false, "ours {:?}, etherparse {:?}", ours, theirs),
        }
    }
}
