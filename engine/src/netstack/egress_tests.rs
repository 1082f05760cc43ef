//! The egress path end to end: route selection seen on the wire (which gateway is resolved, from which MAC
//! and VLAN), neighbour resolution releasing waiting packets, egress MTU (fragments, local refusal, ICMP
//! errors for forwarded packets) and the frames' bytes, checked with the wire views and etherparse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::defrag::IpDefragPool;
use etherparse::{LinkSlice, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

use super::*;
use crate::model::{HostModel, MacAddr, NetstackKey, VmkId};
use crate::netstack::ping;
use crate::wire::ethernet::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use crate::wire::{ArpPacket, EthernetFrame, Icmpv6Packet, Ipv4Packet, NeighborMessage, arp, icmpv6};

/// Two stacks with the same static prefix through different gateways; vmk2 (untagged, jumbo) overrides the
/// default stack's IPv4 gateway.
const HOST: &str = r#"
[host]
name = "esx-egress"
uplinks = ["vmnic0"]

[[netstack]]
key = "defaultTcpipStack"
ipv4_gateway = "10.10.10.1"
ipv6_gateway = "fd00:10::1"

[[netstack]]
key = "vmotion"
ipv4_gateway = "10.20.20.1"

[[vmk]]
name = "vmk0"
mac = "00:50:56:00:00:a0"
vlan = 10
mtu = 1500
ipv4 = "10.10.10.11/24"
ipv6 = ["fd00:10::11/64"]
tags = ["Management"]

[[vmk]]
name = "vmk1"
netstack = "vmotion"
mac = "00:50:56:00:00:a1"
vlan = 20
mtu = 9000
ipv4 = "10.20.20.11/24"
tags = ["VMotion"]

[[vmk]]
name = "vmk2"
mac = "00:50:56:00:00:a2"
vlan = 0
mtu = 9000
ipv4 = "10.80.80.11/24"
ipv4_gateway = "10.80.80.1"

[[route]]
netstack = "defaultTcpipStack"
network = "192.168.100.0/24"
gateway = "10.10.10.254"

[[route]]
netstack = "vmotion"
network = "192.168.100.0/24"
gateway = "10.20.20.254"
"#;

const VMK0: VmkId = VmkId(0);
const VMK1: VmkId = VmkId(1);
const VMK2: VmkId = VmkId(2);
const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x99]);
const S: u64 = 1_000_000_000;

fn host() -> HostModel {
    HostModel::from_toml("egress.toml", HOST).unwrap_or_else(|err| panic!("test host invalid: {err}"))
}

fn tables(model: &HostModel, key: NetstackKey) -> NetstackTables {
    let netstack = model.netstack_by_key(&key).expect("stack exists");
    NetstackTables::compile(model, netstack, NeighborConfig::default()).expect("compiles")
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().expect("ipv4")
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("ipv6")
}

/// An IPv4 UDP packet with `len` bytes of payload.
fn udp_v4(src: &str, dst: &str, len: usize, dont_frag: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ipv4(v4(src).octets(), v4(dst).octets(), 64)
        .udp(40000, 8000)
        .write(&mut bytes, &vec![0x5a; len])
        .expect("build");
    let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).expect("ipv4");
    ip.set_ident(0x77);
    ip.set_flags_and_frag_offset(dont_frag, false, 0);
    ip.fill_checksum();
    bytes
}

fn udp_v6(src: &str, dst: &str, len: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    PacketBuilder::ipv6(v6(src).octets(), v6(dst).octets(), 64)
        .udp(40000, 8000)
        .write(&mut bytes, &vec![0x6b; len])
        .expect("build");
    bytes
}

/// Every frame of an outcome that must be `Send`.
fn frames(outcome: Outcome<'_>) -> (Link, Vec<Vec<u8>>) {
    let Outcome::Send(mut frames) = outcome else {
        panic!("expected frames, got {outcome:?}");
    };
    let link = *frames.link();
    let expected = frames.remaining();
    let mut out = Vec::new();
    let mut buf = [0u8; 9018];
    while let Some(len) = frames.write_next(&mut buf).expect("buffer is large enough") {
        out.push(buf[..len].to_vec());
    }
    assert_eq!(out.len(), expected);
    (link, out)
}

fn unresolved(outcome: Outcome<'_>) -> Unresolved {
    match outcome {
        Outcome::Unresolved(u) => u,
        other => panic!("expected an unresolved next hop, got {other:?}"),
    }
}

/// The ARP request in `frame`: (VLAN, source MAC, sender IP, target IP), after checking it is a broadcast
/// request that etherparse reads the same way.
fn arp_request(frame: &[u8]) -> (u16, [u8; 6], Ipv4Addr, Ipv4Addr) {
    let eth = EthernetFrame::new_checked(frame).expect("ethernet");
    assert_eq!((eth.dst_addr(), eth.ethertype()), ([0xff; 6], ETHERTYPE_ARP));
    let arp = ArpPacket::new_checked(eth.payload()).expect("arp");
    assert_eq!(arp.operation(), arp::OP_REQUEST);
    assert_eq!(arp.sender_hw_addr(), eth.src_addr());
    assert_eq!(arp.target_hw_addr(), [0; 6]);
    let sliced = SlicedPacket::from_ethernet(frame).expect("etherparse");
    let Some(NetSlice::Arp(theirs)) = &sliced.net else {
        panic!("etherparse sees no ARP");
    };
    assert_eq!(theirs.target_protocol_addr(), &arp.target_proto_addr().octets());
    (
        eth.vlan_id(),
        eth.src_addr(),
        arp.sender_proto_addr(),
        arp.target_proto_addr(),
    )
}

#[test]
fn the_same_prefix_resolves_through_each_stacks_own_gateway() {
    let model = host();
    let packet = udp_v4("10.10.10.11", "192.168.100.7", 100, true);
    let mut request = [0u8; 128];
    let cases = [
        (NetstackKey::Default, VMK0, 10, "10.10.10.11", "10.10.10.254"),
        (NetstackKey::Vmotion, VMK1, 20, "10.20.20.11", "10.20.20.254"),
    ];
    for (key, vmk, vlan, ours, gateway) in cases {
        let mut t = tables(&model, key);
        let outcome = t.egress(&model).send(&packet, None, Origin::Local, 1, S, &mut request);
        let u = unresolved(outcome.expect("routed"));
        assert_eq!(
            (u.next_hop, u.interface, u.queued),
            (IpAddr::V4(v4(gateway)), vmk, Enqueue::Queued)
        );
        let len = u.request_len.expect("a request is due");
        let mac = model.vmks[vmk.index()].mac.0;
        assert_eq!(arp_request(&request[..len]), (vlan, mac, v4(ours), v4(gateway)));
    }
}

#[test]
fn adapter_override_wins_over_the_stack_gateway_and_vlan_0_is_untagged() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let mut request = [0u8; 128];
    let packet = udp_v4("10.80.80.11", "8.8.8.8", 100, true);
    let mut egress = t.egress(&model);
    let u = unresolved(
        egress
            .send(&packet, Some(VMK2), Origin::Local, 1, S, &mut request)
            .unwrap(),
    );
    assert_eq!((u.next_hop, u.interface), (IpAddr::V4(v4("10.80.80.1")), VMK2));
    let len = u.request_len.unwrap();
    assert_eq!(len, 42, "untagged ARP request");
    assert_eq!(
        arp_request(&request[..len]),
        (0, model.vmks[2].mac.0, v4("10.80.80.11"), v4("10.80.80.1"))
    );
    // Without -I the stack's gateway applies.
    let u = unresolved(egress.send(&packet, None, Origin::Local, 2, S, &mut request).unwrap());
    assert_eq!((u.next_hop, u.interface), (IpAddr::V4(v4("10.10.10.1")), VMK0));
}

#[test]
fn a_vmk_of_another_stack_finds_no_route() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let packet = udp_v4("10.20.20.11", "10.20.20.50", 10, true);
    let result = t
        .egress(&model)
        .send(&packet, Some(VMK1), Origin::Local, 1, S, &mut [0; 128]);
    assert_eq!(
        result.unwrap_err(),
        EgressError::NoRoute {
            dst: IpAddr::V4(v4("10.20.20.50"))
        }
    );
    assert_eq!(t.neighbors.stats().requests, 0);
}

#[test]
fn resolution_releases_the_waiting_packets() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let packet = udp_v4("10.10.10.11", "10.10.10.50", 200, false);
    let mut request = [0u8; 128];
    let mut egress = t.egress(&model);
    let first = unresolved(egress.send(&packet, None, Origin::Local, 1, S, &mut request).unwrap());
    let len = first.request_len.expect("request");
    for handle in [2, 3] {
        let u = unresolved(
            egress
                .send(&packet, None, Origin::Local, handle, S + handle as u64, &mut [0; 128])
                .unwrap(),
        );
        assert_eq!(
            (u.queued, u.request_len),
            (Enqueue::Queued, None),
            "rate-limited: one request a second"
        );
    }
    assert_eq!(
        egress.release(first.next_hop, S, |_| panic!("nothing is released")),
        0,
        "still unresolved"
    );
    // The peer answers the request: its reply, built from the request's bytes, is what ingress parses.
    let mut reply = request[..len].to_vec();
    let mut eth = EthernetFrame::new_checked(&mut reply[..]).unwrap();
    eth.set_dst_addr(model.vmks[0].mac.0);
    eth.set_src_addr(PEER_MAC.0);
    let header_len = eth.header_len();
    let mut arp = ArpPacket::new_checked(&mut reply[header_len..]).unwrap();
    arp.make_reply_in_place(PEER_MAC.0);
    let arp = ArpPacket::new_checked(&reply[header_len..]).unwrap();
    let (ip, mac) = (IpAddr::V4(arp.sender_proto_addr()), MacAddr(arp.sender_hw_addr()));
    let mut released = Vec::new();
    let update = egress.resolved(ip, mac, 2 * S, |h| released.push(h));
    assert_eq!(update, Update::Updated { pending: 3 });
    assert_eq!(released, [1, 2, 3]);
    // Sent again, each packet now leaves as one tagged frame to the peer.
    let (link, out) = frames(
        egress
            .send(&packet, None, Origin::Local, 1, 2 * S, &mut [0; 128])
            .unwrap(),
    );
    assert_eq!(
        link,
        Link {
            interface: VMK0,
            src: model.vmks[0].mac,
            dst: PEER_MAC,
            vlan: 10
        }
    );
    assert_eq!(out.len(), 1);
    let sliced = SlicedPacket::from_ethernet(&out[0]).unwrap();
    let Some(LinkSlice::Ethernet2(eth)) = &sliced.link else {
        panic!("not Ethernet II")
    };
    assert_eq!((eth.destination(), eth.source()), (PEER_MAC.0, model.vmks[0].mac.0));
    assert_eq!(sliced.vlan_ids().first().map(|v| v.value()), Some(10));
    assert_eq!(&out[0][18..], &packet[..]);
    let frame = EthernetFrame::new_checked(&out[0][..]).unwrap();
    assert_eq!(frame.ethertype(), ETHERTYPE_IPV4);
    assert!(Ipv4Packet::new_checked(frame.payload()).unwrap().verify_checksum());
}

/// An unanswered resolution gives its packets back when it expires, and the next packet asks again.
#[test]
fn an_unanswered_resolution_expires_with_its_packets() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let packet = udp_v4("10.10.10.11", "10.10.10.50", 20, false);
    for handle in [1, 2] {
        t.egress(&model)
            .send(&packet, None, Origin::Local, handle, S, &mut [0; 128])
            .unwrap();
    }
    let mut freed = Vec::new();
    let timeout = NeighborConfig::default().incomplete_timeout_ns;
    assert_eq!(t.neighbors.expire_with(S + timeout, |h| freed.push(h)), 1);
    assert_eq!(freed, [1, 2]);
    let again = t
        .egress(&model)
        .send(&packet, None, Origin::Local, 3, S + timeout, &mut [0; 128]);
    let u = unresolved(again.unwrap());
    assert!(u.request_len.is_some(), "a new request goes out");
    assert_eq!(t.neighbors.stats().requests, 2);
}

#[test]
fn the_pending_queue_is_bounded() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let packet = udp_v4("10.10.10.11", "10.10.10.50", 20, false);
    let mut egress = t.egress(&model);
    let queued: Vec<Enqueue> = (1..=5)
        .map(|h| unresolved(egress.send(&packet, None, Origin::Local, h, S, &mut [0; 128]).unwrap()).queued)
        .collect();
    let kept = [Enqueue::Queued; 4];
    assert_eq!(queued[..4], kept);
    assert_eq!(
        queued[4],
        Enqueue::DroppedOldest(1),
        "the oldest handle is handed back to be freed"
    );
}

#[test]
fn ipv6_next_hops_are_solicited_and_advertised() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let packet = udp_v6("fd00:10::11", "fd00:10::99", 64);
    let mut request = [0u8; MAX_REQUEST_LEN];
    let mut egress = t.egress(&model);
    let u = unresolved(egress.send(&packet, None, Origin::Local, 9, S, &mut request).unwrap());
    assert_eq!(u.next_hop, IpAddr::V6(v6("fd00:10::99")));
    assert_eq!(u.request_len, Some(MAX_REQUEST_LEN), "tagged: the longest request");
    let ns = &request[..u.request_len.unwrap()];
    let sliced = SlicedPacket::from_ethernet(ns).unwrap();
    let Some(LinkSlice::Ethernet2(eth)) = &sliced.link else {
        panic!("not Ethernet II")
    };
    assert_eq!(eth.destination(), [0x33, 0x33, 0xff, 0x00, 0x00, 0x99]);
    let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
        panic!("not IPv6")
    };
    let header = ip.header().to_header();
    assert_eq!(header.hop_limit, 255);
    assert_eq!(
        (header.source, header.destination),
        (v6("fd00:10::11").octets(), v6("ff02::1:ff00:99").octets())
    );
    let Some(TransportSlice::Icmpv6(icmp)) = &sliced.transport else {
        panic!("not ICMPv6")
    };
    let expected = icmp
        .icmp_type()
        .calc_checksum(header.source, header.destination, icmp.payload())
        .unwrap();
    assert_eq!(icmp.checksum(), expected);
    let message = &ns[18 + 40..];
    assert!(
        Icmpv6Packet::new_checked(message)
            .unwrap()
            .verify_checksum(&v6("fd00:10::11"), &v6("ff02::1:ff00:99"))
    );
    let solicitation = NeighborMessage::new_checked(message).unwrap();
    assert_eq!(solicitation.target_addr(), v6("fd00:10::99"));
    assert_eq!(solicitation.source_link_addr(), Some(model.vmks[0].mac.0));
    assert_eq!(
        Icmpv6Packet::new_checked(message).unwrap().msg_type(),
        icmpv6::NEIGHBOR_SOLICITATION
    );

    let mut released = Vec::new();
    egress.resolved(u.next_hop, PEER_MAC, S, |h| released.push(h));
    assert_eq!(released, [9]);
    let (link, out) = frames(egress.send(&packet, None, Origin::Local, 9, S, &mut [0; 128]).unwrap());
    assert_eq!((link.dst, link.vlan), (PEER_MAC, 10));
    let frame = EthernetFrame::new_checked(&out[0][..]).unwrap();
    assert_eq!((frame.ethertype(), frame.payload()), (ETHERTYPE_IPV6, &packet[..]));
}

#[test]
fn broadcast_and_multicast_need_no_resolution() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let mut egress = t.egress(&model);
    let cases = [
        ("10.10.10.255", [0xff; 6]),
        ("255.255.255.255", [0xff; 6]),
        ("224.0.0.251", [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]),
    ];
    for (dst, mac) in cases {
        let packet = udp_v4("10.10.10.11", dst, 10, false);
        let (link, _) = frames(
            egress
                .send(&packet, Some(VMK0), Origin::Local, 1, S, &mut [0; 128])
                .unwrap(),
        );
        assert_eq!(link.dst, MacAddr(mac), "{dst}");
    }
    let packet = udp_v6("fd00:10::11", "ff02::fb", 10);
    let (link, _) = frames(egress.send(&packet, None, Origin::Local, 1, S, &mut [0; 128]).unwrap());
    assert_eq!(link.dst, MacAddr([0x33, 0x33, 0, 0, 0, 0xfb]));
    assert_eq!(t.neighbors.stats().requests, 0);
}

/// Resolves `ip` to the peer in `t`.
fn resolve(model: &HostModel, t: &mut NetstackTables, ip: IpAddr) {
    assert_eq!(t.neighbors.lookup(ip, S), Lookup::NotFound);
    t.egress(model).resolved(ip, PEER_MAC, S, |_| {});
}

#[test]
fn df_clear_ipv4_is_fragmented_to_the_egress_mtu() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    resolve(&model, &mut t, IpAddr::V4(v4("10.10.10.50")));
    let packet = udp_v4("10.10.10.11", "10.10.10.50", 4000, false);
    let (_, out) = frames(
        t.egress(&model)
            .send(&packet, None, Origin::Local, 1, S, &mut [0; 128])
            .unwrap(),
    );
    assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), [1518, 1518, 1086]);
    let mut pool = IpDefragPool::<(), ()>::new();
    let mut whole = None;
    for frame in &out {
        let sliced = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
            panic!("not IPv4")
        };
        let header = ip.header().to_header();
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        if let Some(done) = pool.process_sliced_packet(&sliced, (), ()).unwrap() {
            whole = Some(done.payload);
        }
    }
    assert_eq!(whole.as_deref(), Some(&packet[20..]), "reassembled output equals input");
}

#[test]
fn oversize_local_packets_are_refused_before_resolution() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let mut egress = t.egress(&model);
    let df = udp_v4("10.10.10.11", "10.10.10.50", 1473, true);
    assert_eq!(
        egress.send(&df, None, Origin::Local, 1, S, &mut [0; 128]).unwrap_err(),
        EgressError::MessageTooLong { mtu: 1500 }
    );
    let v6_packet = udp_v6("fd00:10::11", "fd00:10::50", 1453);
    assert_eq!(
        egress
            .send(&v6_packet, None, Origin::Local, 1, S, &mut [0; 128])
            .unwrap_err(),
        EgressError::MessageTooLong { mtu: 1500 }
    );
    let fits = udp_v4("10.10.10.11", "10.10.10.50", 1472, true);
    assert!(matches!(
        egress.send(&fits, None, Origin::Local, 1, S, &mut [0; 128]),
        Ok(Outcome::Unresolved(_))
    ));
    assert_eq!(
        t.neighbors.stats().requests,
        1,
        "only the packet that fits asked for its next hop"
    );
}

#[test]
fn oversize_forwarded_packets_get_icmp_errors() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let mut egress = t.egress(&model);
    let mut out = [0u8; 1500];

    let df = udp_v4("10.80.80.50", "10.10.10.50", 3000, true);
    let Ok(Outcome::TooBig(too_big)) = egress.send(&df, None, Origin::Forwarded, 1, S, &mut [0; 128]) else {
        panic!("expected TooBig");
    };
    assert_eq!(
        too_big,
        TooBig {
            interface: VMK0,
            mtu: 1500
        }
    );
    let len = egress.write_too_big(&df, too_big, 7, &mut out).unwrap();
    let error = Ipv4Packet::new_checked(&out[..len]).unwrap();
    // From our address on the adapter facing the source (vmk2), to the source.
    assert_eq!(
        (error.src_addr(), error.dst_addr()),
        (v4("10.80.80.11"), v4("10.80.80.50"))
    );
    let icmp = crate::wire::Icmpv4Packet::new_checked(error.payload()).unwrap();
    assert_eq!((icmp.msg_type(), icmp.msg_code(), icmp.next_hop_mtu()), (3, 4, 1500));
    assert_eq!(icmp.payload(), &df[..28]);

    let v6_packet = udp_v6("fd00:10::50", "fd00:10::60", 2000);
    let Ok(Outcome::TooBig(too_big)) = egress.send(&v6_packet, None, Origin::Forwarded, 1, S, &mut [0; 128]) else {
        panic!("expected TooBig");
    };
    let len = egress.write_too_big(&v6_packet, too_big, 8, &mut out).unwrap();
    assert_eq!(len, 1280);
    let icmp = Icmpv6Packet::new_checked(&out[40..len]).unwrap();
    assert_eq!((icmp.msg_type(), icmp.mtu()), (icmpv6::PACKET_TOO_BIG, 1500));
    assert!(icmp.verify_checksum(&v6("fd00:10::11"), &v6("fd00:10::50")));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Default);
    let mut egress = t.egress(&model);
    assert_eq!(
        egress
            .send(&[0x55; 40], None, Origin::Local, 1, S, &mut [0; 128])
            .unwrap_err(),
        EgressError::NotIp(5)
    );
    assert!(matches!(
        egress.send(&[0x45, 0, 0], None, Origin::Local, 1, S, &mut [0; 128]),
        Err(EgressError::Ipv4(_))
    ));
    let packet = udp_v4("10.10.10.11", "10.10.10.50", 10, false);
    assert_eq!(
        egress
            .send(&packet, None, Origin::Local, 1, S, &mut [0; 45])
            .unwrap_err(),
        EgressError::BufferTooSmall { needed: 46, len: 45 }
    );
    assert_eq!(
        t.neighbors.stats().requests,
        0,
        "no request counted for a request that was never written"
    );
}

/// vmkping from a vmk end to end: requests through the egress (route, neighbour, MTU, VLAN), the peer's
/// replies built from the frames' bytes, vmkping's lines. `-d -s 8972` fits MTU 9000, 8973 fails locally,
/// 1472 / 1473 the same at MTU 1500; without `-d` 8973 bytes leave as two fragments.
#[test]
fn vmkping_through_the_egress() {
    let model = host();
    let mut t = tables(&model, NetstackKey::Vmotion);
    let gateway = IpAddr::V4(v4("10.20.20.1"));
    resolve(&model, &mut t, gateway);
    let mut egress = t.egress(&model);
    let run = |egress: &mut Egress<'_>, size: usize, dont_fragment: bool| {
        let options = ping::PingOptions {
            size,
            dont_fragment,
            count: 2,
            ..ping::PingOptions::default()
        };
        let mut session = PingSession::new(IpAddr::V4(v4("10.20.20.11")), gateway, 0x0bad, options).unwrap();
        let mut lines = vec![session.header()];
        let mut packet = vec![0u8; session.request_len()];
        let mut frame_counts = Vec::new();
        for k in 0..2u64 {
            let len = session.next_request(k * S, k as u16, &mut packet).unwrap().unwrap();
            match egress.send(&packet[..len], Some(VMK1), Origin::Local, 1, k * S, &mut [0; 128]) {
                Ok(outcome) => {
                    let (link, out) = frames(outcome);
                    assert_eq!((link.dst, link.vlan), (PEER_MAC, 20));
                    frame_counts.push(out.len());
                    if let [frame] = &out[..] {
                        // The peer answers what it received.
                        let request = EthernetFrame::new_checked(&frame[..]).unwrap().payload();
                        let reply = ping::tests::echo_reply(request);
                        lines.push(session.on_packet(&reply, k * S + 300_000).unwrap().to_string());
                    }
                }
                Err(err) => lines.push(session.send_failed(&err)),
            }
        }
        (lines, frame_counts, session.statistics().to_string())
    };
    let (lines, counts, stats) = run(&mut egress, 8972, true);
    assert_eq!(counts, [1, 1]);
    assert_eq!(
        lines,
        [
            "PING 10.20.20.1 (10.20.20.1): 8972 data bytes",
            "8980 bytes from 10.20.20.1: icmp_seq=0 ttl=64 time=0.300 ms",
            "8980 bytes from 10.20.20.1: icmp_seq=1 ttl=64 time=0.300 ms",
        ]
    );
    assert!(stats.ends_with(
        "2 packets transmitted, 2 packets received, 0% packet loss
round-trip min/avg/max = 0.300/0.300/0.300 ms
"
    ));
    let (lines, counts, stats) = run(&mut egress, 8973, true);
    assert!(counts.is_empty());
    assert_eq!(lines[1..], ["sendto() failed (Message too long)"; 2]);
    assert!(stats.ends_with(
        "2 packets transmitted, 0 packets received, 100% packet loss
"
    ));
    let (_, counts, _) = run(&mut egress, 8973, false);
    assert_eq!(counts, [2, 2], "DF clear: fragmented");

    // The same limits at MTU 1500 on the default stack's vmk0.
    let mut t = tables(&model, NetstackKey::Default);
    resolve(&model, &mut t, IpAddr::V4(v4("10.10.10.1")));
    let mut egress = t.egress(&model);
    for (size, fits) in [(1472, true), (1473, false)] {
        let options = ping::PingOptions {
            size,
            dont_fragment: true,
            ..ping::PingOptions::default()
        };
        let mut session =
            PingSession::new(IpAddr::V4(v4("10.10.10.11")), IpAddr::V4(v4("10.10.10.1")), 1, options).unwrap();
        let mut packet = vec![0u8; session.request_len()];
        let len = session.next_request(0, 1, &mut packet).unwrap().unwrap();
        let result = egress.send(&packet[..len], Some(VMK0), Origin::Local, 1, S, &mut [0; 128]);
        assert_eq!(result.is_ok(), fits, "-d -s {size}");
    }
}

mod no_panic {
    use proptest::prelude::*;

    use super::*;
    use crate::netstack::icmp_error;

    fn packet() -> impl Strategy<Value = Vec<u8>> {
        (
            prop::collection::vec(any::<u8>(), 0..3000),
            any::<u8>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(mut bytes, kind, fix_lengths, routable)| {
                let len = bytes.len();
                match (kind % 3, bytes.len()) {
                    (0, 20..) => {
                        bytes[0] = 0x45;
                        if fix_lengths {
                            bytes[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                        }
                        if routable {
                            bytes[16..20].copy_from_slice(&[10, 10, 10, 50]);
                        }
                    }
                    (1, 40..) => {
                        bytes[0] = 0x60;
                        if fix_lengths {
                            bytes[4..6].copy_from_slice(&((len - 40) as u16).to_be_bytes());
                        }
                        if routable {
                            bytes[24..40].copy_from_slice(&v6("fd00:10::50").octets());
                        }
                    }
                    _ => {}
                }
                bytes
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the bytes, the sender and the buffer sizes: an answer, never a panic.
        #[test]
        fn no_input_makes_the_egress_panic(
            bytes in packet(),
            from in 0u32..4,
            forwarded in any::<bool>(),
            resolved in any::<bool>(),
            out_len in 0usize..2000,
        ) {
            let model = host();
            let mut t = tables(&model, NetstackKey::Default);
            if resolved {
                for ip in [IpAddr::V4(v4("10.10.10.50")), IpAddr::V6(v6("fd00:10::50")), IpAddr::V4(v4("10.10.10.1"))] {
                    resolve(&model, &mut t, ip);
                }
            }
            let mut egress = t.egress(&model);
            let origin = if forwarded { Origin::Forwarded } else { Origin::Local };
            let mut out = vec![0u8; out_len];
            let from = (from < 3).then_some(VmkId(from));
            match egress.send(&bytes, from, origin, 1, S, &mut out) {
                Ok(Outcome::Send(mut frames)) => {
                    let mut written = 0;
                    while let Ok(Some(_)) = frames.write_next(&mut out) {
                        written += 1;
                    }
                    prop_assert!(written <= 200);
                }
                Ok(Outcome::TooBig(too_big)) => {
                    let _ = egress.write_too_big(&bytes, too_big, 1, &mut out);
                }
                Ok(Outcome::Unresolved(_)) | Err(_) => {}
            }
            let _ = icmp_error::frag_needed(&bytes, v4("10.10.10.11"), 1500, 1, &mut out);
            let _ = icmp_error::packet_too_big(&bytes, v6("fd00:10::11"), 1500, &mut out);
            let options = ping::PingOptions::default();
            let mut session = PingSession::new(IpAddr::V4(v4("10.10.10.11")), IpAddr::V4(v4("10.10.10.50")), 1, options).unwrap();
            let _ = session.next_request(0, 1, &mut out);
            let _ = session.on_packet(&bytes, S);
        }
    }
}
