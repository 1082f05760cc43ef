//! The responders on hand-built requests (etherparse) for the embedded default host: the pipeline's verdict,
//! then the reply built in place, checked field by field and checksum by checksum.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use etherparse::{Icmpv6Type, PacketBuilder, SlicedPacket};

use crate::model::{HostModel, MacAddr, Vmk};
use crate::netstack::NeighborState;
use crate::pipeline::{Outcome, Pipeline, Service, Verdict};
use crate::wire::{Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, ip_proto};
use vmknet_common::DropReason;

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];
const NOW: u64 = 1_000;

struct Host {
    model: Arc<HostModel>,
    pipeline: Pipeline,
}

impl Host {
    fn new() -> Self {
        let model = Arc::new(HostModel::embedded_default());
        Self {
            pipeline: Pipeline::new(Arc::clone(&model)),
            model,
        }
    }

    fn vmk(&self, name: &str) -> Vmk {
        self.model.vmk_by_name(name).expect("vmk of the default host").clone()
    }

    fn ipv4(&self, name: &str) -> Ipv4Addr {
        self.vmk(name).ipv4_cidr().expect("static IPv4").addr
    }

    fn ipv6(&self, name: &str) -> Ipv6Addr {
        self.vmk(name).ipv6.addresses[0].addr
    }

    /// Judges `frame`, then builds the reply in a buffer with room behind it, as an AF_XDP chunk has.
    fn answer(&mut self, frame: &[u8]) -> (Outcome, Option<Vec<u8>>) {
        let outcome = self.pipeline.process(frame, NOW);
        let mut buf = frame.to_vec();
        buf.resize(frame.len() + 64, 0);
        let reply = self.pipeline.build_reply(&outcome, &mut buf, frame.len()).map(|len| {
            buf.truncate(len);
            buf
        });
        (outcome, reply)
    }

    fn outcome(&self, vmk: &str, verdict: Verdict) -> Outcome {
        Outcome {
            vmk: Some(self.vmk(vmk).id),
            verdict,
        }
    }

    fn neighbor(&self, vmk: &str, ip: IpAddr) -> Option<(NeighborState, Option<MacAddr>)> {
        self.pipeline.neighbors(self.vmk(vmk).netstack)?.state(ip, NOW)
    }
}

fn vlan_builder(src: [u8; 6], dst: [u8; 6], vlan: u16) -> etherparse::PacketBuilderStep<etherparse::VlanHeader> {
    PacketBuilder::ethernet2(src, dst).single_vlan(vlan.try_into().expect("VLAN id"))
}

fn arp_frame(dst_mac: [u8; 6], vlan: u16, operation: u16, sender: (Ipv4Addr, [u8; 6]), target: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(&dst_mac);
    frame.extend_from_slice(&sender.1);
    frame.extend_from_slice(&[0x81, 0x00]);
    frame.extend_from_slice(&vlan.to_be_bytes());
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4]);
    frame.extend_from_slice(&operation.to_be_bytes());
    frame.extend_from_slice(&sender.1);
    frame.extend_from_slice(&sender.0.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&target.octets());
    frame.resize(64, 0);
    frame
}

fn echo_v4(host: &Host, vmk: &str, dst: Ipv4Addr, data_len: usize) -> Vec<u8> {
    let v = host.vmk(vmk);
    let src = Ipv4Addr::from(u32::from(host.ipv4(vmk)) - 10);
    let builder = vlan_builder(PEER_MAC, v.mac.0, v.vlan)
        .ipv4(src.octets(), dst.octets(), 61)
        .icmpv4_echo_request(0x1234, 7);
    let data: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
    let mut frame = Vec::new();
    builder.write(&mut frame, &data).unwrap();
    frame
}

fn echo_v6(host: &Host, vmk: &str, data_len: usize) -> Vec<u8> {
    let v = host.vmk(vmk);
    let dst = host.ipv6(vmk);
    let src = Ipv6Addr::from(u128::from(dst) + 0x100);
    let builder = vlan_builder(PEER_MAC, v.mac.0, v.vlan)
        .ipv6(src.octets(), dst.octets(), 61)
        .icmpv6_echo_request(0x4321, 9);
    let data: Vec<u8> = (0..data_len).map(|i| (i * 7) as u8).collect();
    let mut frame = Vec::new();
    builder.write(&mut frame, &data).unwrap();
    frame
}

/// A neighbour solicitation for `target` from `src`, to its solicited-node group, with a source link-layer
/// option unless `src` is unspecified (duplicate address detection).
fn solicitation(host: &Host, vmk: &str, src: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let v = host.vmk(vmk);
    let t = target.octets();
    let group = Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(t[13]),
        u16::from_be_bytes([t[14], t[15]]),
    );
    let g = group.octets();
    let group_mac = [0x33, 0x33, g[12], g[13], g[14], g[15]];
    let builder = vlan_builder(PEER_MAC, group_mac, v.vlan)
        .ipv6(src.octets(), group.octets(), 255)
        .icmpv6(Icmpv6Type::Unknown {
            type_u8: 135,
            code_u8: 0,
            bytes5to8: [0; 4],
        });
    let mut body = target.octets().to_vec();
    if !src.is_unspecified() {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&PEER_MAC);
    }
    let mut frame = Vec::new();
    builder.write(&mut frame, &body).unwrap();
    frame
}

/// Asserts the reply's Ethernet header: to `dst`, from the vmk, on its VLAN.
fn assert_ethernet(reply: &[u8], dst: [u8; 6], vmk: &Vmk) {
    assert_eq!(reply[..6], dst);
    assert_eq!(reply[6..12], vmk.mac.0);
    assert_eq!(u16::from_be_bytes([reply[14], reply[15]]) & 0xfff, vmk.vlan);
}

#[test]
fn arp_request_for_the_vmk_is_answered_and_its_sender_learnt() {
    let mut host = Host::new();
    let vmk1 = host.vmk("vmk1");
    let peer_ip = Ipv4Addr::new(10, 20, 20, 50);
    let request = arp_frame([0xff; 6], vmk1.vlan, 1, (peer_ip, PEER_MAC), host.ipv4("vmk1"));
    let (outcome, reply) = host.answer(&request);
    assert_eq!(outcome, host.outcome("vmk1", Verdict::Replied(Service::Arp)));
    let reply = reply.expect("a reply");
    assert_eq!(reply.len(), request.len(), "same frame, padding kept");
    assert_ethernet(&reply, PEER_MAC, &vmk1);
    let arp = &reply[18..46];
    assert_eq!(arp[6..8], [0, 2], "reply");
    assert_eq!(arp[8..14], vmk1.mac.0, "sender hardware address");
    assert_eq!(arp[14..18], host.ipv4("vmk1").octets(), "sender protocol address");
    assert_eq!(arp[18..24], PEER_MAC, "target hardware address");
    assert_eq!(arp[24..28], peer_ip.octets(), "target protocol address");
    assert_eq!(
        host.neighbor("vmk1", peer_ip.into()),
        Some((NeighborState::Stale, Some(MacAddr(PEER_MAC)))),
        "RFC 826: the requester is learnt"
    );
}

#[test]
fn arp_for_another_address_of_the_stack_or_a_reply_is_delivered_not_answered() {
    let mut host = Host::new();
    let vmk0 = host.vmk("vmk0");
    let peer_ip = Ipv4Addr::new(10, 10, 10, 50);
    // Unicast to vmk0, asking for vmk2's address (same netstack): vmk2 answers for itself, vmk0 does not.
    let request = arp_frame(vmk0.mac.0, vmk0.vlan, 1, (peer_ip, PEER_MAC), host.ipv4("vmk2"));
    let (outcome, reply) = host.answer(&request);
    assert_eq!(outcome, host.outcome("vmk0", Verdict::Delivered(Service::Arp)));
    assert_eq!(reply, None);
    // The peer's reply confirms the entry the request created.
    let peer_reply = arp_frame(vmk0.mac.0, vmk0.vlan, 2, (peer_ip, PEER_MAC), host.ipv4("vmk0"));
    assert_eq!(
        host.answer(&peer_reply).0,
        host.outcome("vmk0", Verdict::Delivered(Service::Arp))
    );
    assert_eq!(
        host.neighbor("vmk0", peer_ip.into()),
        Some((NeighborState::Reachable, Some(MacAddr(PEER_MAC))))
    );
    assert!(host.pipeline.counters().conservation().holds());
}

#[test]
fn echo_request_is_answered_with_valid_checksums_and_the_same_data() {
    let mut host = Host::new();
    let vmk0 = host.vmk("vmk0");
    let request = echo_v4(&host, "vmk0", host.ipv4("vmk0"), 56);
    let (outcome, reply) = host.answer(&request);
    assert_eq!(outcome, host.outcome("vmk0", Verdict::Replied(Service::Icmp)));
    let reply = reply.expect("a reply");
    assert_ethernet(&reply, PEER_MAC, &vmk0);
    let ip = Ipv4Packet::new_checked(&reply[18..]).expect("IPv4");
    assert!(ip.verify_checksum());
    assert_eq!(ip.src_addr(), host.ipv4("vmk0"));
    assert_eq!(u32::from(ip.dst_addr()), u32::from(host.ipv4("vmk0")) - 10);
    assert_eq!(ip.ttl(), super::REPLY_HOP_LIMIT);
    let icmp = Icmpv4Packet::new_checked(ip.payload()).expect("ICMP");
    assert_eq!((icmp.msg_type(), icmp.echo_ident(), icmp.echo_seq_no()), (0, 0x1234, 7));
    assert!(icmp.verify_checksum());
    assert_eq!(icmp.payload(), &request[18 + 28..], "the data comes back unchanged");
    // etherparse agrees it is a well-formed echo reply.
    let parsed = SlicedPacket::from_ethernet(&reply).expect("etherparse");
    assert!(matches!(parsed.net, Some(etherparse::NetSlice::Ipv4(_))));
}

#[test]
fn echo_requests_not_answered() {
    let mut host = Host::new();
    let broadcast = echo_v4(&host, "vmk0", Ipv4Addr::new(10, 10, 10, 255), 56);
    assert_eq!(
        host.answer(&broadcast),
        (host.outcome("vmk0", Verdict::Delivered(Service::Icmp)), None),
        "directed broadcast: delivered, never answered"
    );
    let mut bad = echo_v4(&host, "vmk0", host.ipv4("vmk0"), 56);
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    assert_eq!(
        host.answer(&bad),
        (host.outcome("vmk0", Verdict::drop(DropReason::IcmpBadChecksum)), None)
    );
    let mut reply = echo_v4(&host, "vmk0", host.ipv4("vmk0"), 56);
    Icmpv4Packet::new_unchecked(&mut reply[18 + 20..]).retype(0);
    assert_eq!(
        host.answer(&reply).0,
        host.outcome("vmk0", Verdict::Delivered(Service::Icmp))
    );
    // A reply is never built for a frame judged otherwise.
    let mut buf = reply.clone();
    let delivered = host.outcome("vmk0", Verdict::Delivered(Service::Icmp));
    assert_eq!(host.pipeline.build_reply(&delivered, &mut buf, reply.len()), None);
}

/// A jumbo echo request seen through its first buffer only (multi-buffer AF_XDP): judged on its wire
/// length, answered by rewriting the head alone, and the whole reply is still valid.
#[test]
fn jumbo_echo_is_answered_from_its_first_buffer() {
    let mut host = Host::new();
    let request = echo_v4(&host, "vmk1", host.ipv4("vmk1"), 8972);
    assert_eq!(request.len(), 18 + 9000);
    let head_len = 3000;
    let mut outcomes = [host.outcome("vmk1", Verdict::Passed)];
    let wire_len = [request.len() as u32];
    host.pipeline
        .process_batch_segmented(&[&request[..head_len]], &wire_len, NOW, &mut outcomes);
    assert_eq!(outcomes[0], host.outcome("vmk1", Verdict::Replied(Service::Icmp)));
    let mut frame = request.clone();
    let len = host
        .pipeline
        .build_reply(&outcomes[0], &mut frame[..head_len], head_len);
    assert_eq!(len, Some(head_len));
    let ip = Ipv4Packet::new_checked(&frame[18..]).expect("IPv4");
    assert!(ip.verify_checksum());
    let icmp = Icmpv4Packet::new_checked(ip.payload()).expect("ICMP");
    assert_eq!(icmp.msg_type(), 0);
    assert!(
        icmp.verify_checksum(),
        "the incremental checksum covers the buffers never read"
    );
    assert_eq!(frame[head_len..], request[head_len..]);
    // One byte over the MTU on the wire is refused though the head is the same size.
    let over = echo_v4(&host, "vmk1", host.ipv4("vmk1"), 8973);
    let wire_len = [over.len() as u32];
    host.pipeline
        .process_batch_segmented(&[&over[..head_len]], &wire_len, NOW, &mut outcomes);
    assert_eq!(
        outcomes[0],
        host.outcome("vmk1", Verdict::drop(DropReason::MtuExceeded))
    );
    let counters = host.pipeline.counters();
    assert!(counters.conservation().holds());
    assert_eq!(
        counters.frames_in().bytes,
        (request.len() + over.len()) as u64,
        "wire bytes counted"
    );
}

#[test]
fn icmpv6_echo_is_answered() {
    let mut host = Host::new();
    let vmk8 = host.vmk("vmk8");
    let request = echo_v6(&host, "vmk8", 100);
    let (outcome, reply) = host.answer(&request);
    assert_eq!(outcome, host.outcome("vmk8", Verdict::Replied(Service::Icmp)));
    let reply = reply.expect("a reply");
    assert_ethernet(&reply, PEER_MAC, &vmk8);
    let ip = Ipv6Packet::new_checked(&reply[18..]).expect("IPv6");
    assert_eq!(ip.src_addr(), host.ipv6("vmk8"));
    assert_eq!(ip.hop_limit(), super::REPLY_HOP_LIMIT);
    let icmp = Icmpv6Packet::new_checked(ip.payload()).expect("ICMPv6");
    assert_eq!(
        (icmp.msg_type(), icmp.echo_ident(), icmp.echo_seq_no()),
        (129, 0x4321, 9)
    );
    assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
}

#[test]
fn neighbor_solicitation_is_answered_with_an_advertisement() {
    let mut host = Host::new();
    let vmk0 = host.vmk("vmk0");
    let target = host.ipv6("vmk0");
    let peer: Ipv6Addr = "fe80::99".parse().unwrap();
    let request = solicitation(&host, "vmk0", peer, target);
    let (outcome, reply) = host.answer(&request);
    assert_eq!(
        outcome,
        host.outcome("vmk0", Verdict::Replied(Service::NeighborDiscovery))
    );
    let reply = reply.expect("a reply");
    assert_ethernet(&reply, PEER_MAC, &vmk0);
    let advert = check_advertisement(&reply, target, peer, vmk0.mac.0);
    assert_eq!(advert[4] & 0x60, 0x60, "solicited and override");
    assert_eq!(
        host.neighbor("vmk0", peer.into()),
        Some((NeighborState::Stale, Some(MacAddr(PEER_MAC)))),
        "the solicitation's source link-layer address is learnt"
    );
}

#[test]
fn duplicate_address_detection_is_defended_to_all_nodes() {
    let mut host = Host::new();
    let vmk0 = host.vmk("vmk0");
    let target = host.ipv6("vmk0");
    let request = solicitation(&host, "vmk0", Ipv6Addr::UNSPECIFIED, target);
    let (outcome, reply) = host.answer(&request);
    assert_eq!(
        outcome,
        host.outcome("vmk0", Verdict::Replied(Service::NeighborDiscovery))
    );
    let reply = reply.expect("a reply");
    assert_eq!(
        reply.len(),
        request.len() + 8,
        "the advertisement carries an option the probe had not"
    );
    assert_ethernet(&reply, [0x33, 0x33, 0, 0, 0, 1], &vmk0);
    let advert = check_advertisement(&reply, target, "ff02::1".parse().unwrap(), vmk0.mac.0);
    assert_eq!(advert[4] & 0x60, 0x20, "override, not solicited");
}

#[test]
fn neighbor_messages_off_the_link_or_corrupt_are_dropped() {
    let mut host = Host::new();
    let target = host.ipv6("vmk0");
    let mut routed = solicitation(&host, "vmk0", "fe80::99".parse().unwrap(), target);
    routed[18 + 7] = 254;
    assert_eq!(
        host.answer(&routed).0,
        host.outcome("vmk0", Verdict::drop(DropReason::L4Malformed))
    );
    let mut corrupt = solicitation(&host, "vmk0", "fe80::99".parse().unwrap(), target);
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(
        host.answer(&corrupt).0,
        host.outcome("vmk0", Verdict::drop(DropReason::IcmpBadChecksum))
    );
}

/// Checks the IPv6 and ICMPv6 fields of a neighbour advertisement and returns the ICMPv6 message.
fn check_advertisement(reply: &[u8], target: Ipv6Addr, dst: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let ip = Ipv6Packet::new_checked(&reply[18..]).expect("IPv6");
    assert_eq!((ip.src_addr(), ip.dst_addr()), (target, dst));
    assert_eq!(
        (ip.hop_limit(), ip.next_header(), ip.payload_len()),
        (255, ip_proto::ICMPV6, 32)
    );
    let message = ip.payload();
    assert!(
        Icmpv6Packet::new_checked(message)
            .unwrap()
            .verify_checksum(&target, &dst)
    );
    assert_eq!(message[0], 136);
    assert_eq!(message[8..24], target.octets());
    assert_eq!(message[24..26], [2, 1], "target link-layer address option");
    assert_eq!(message[26..32], mac);
    message.to_vec()
}
