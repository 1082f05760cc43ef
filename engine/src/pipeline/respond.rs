//! The responders: how a vmk answers ARP requests, neighbour solicitations and echo requests, in place.
//!
//! A VMkernel adapter "responds to the standard Ethernet protocol as would a physical NIC". The pipeline
//! judges such a request [`Verdict::Replied`] (reading only); [`build_reply`] then rewrites the very buffer the
//! request arrived in into the answer, so a reply costs no allocation and no copy, and goes out on the TX ring
//! of the socket the request came from:
//!
//! - Ethernet: to the requester's MAC from the vmk's; the 802.1Q tag is kept, so the reply leaves on the VLAN
//!   the request came on (the vmk's).
//! - ARP request → reply (RFC 826), the padding left as it was.
//! - ICMP echo request → echo reply (RFC 792): addresses swapped, TTL [`REPLY_HOP_LIMIT`], header checksum
//!   recomputed; the ICMP checksum is adjusted for the type change alone (RFC 1624), so the payload is never
//!   read — it may be in the other buffers of a multi-buffer frame (a `ping -s 8972`).
//! - ICMPv6 echo request → echo reply (RFC 4443), likewise (swapping the addresses leaves the pseudo-header
//!   sum unchanged).
//! - Neighbour solicitation → solicited neighbour advertisement (RFC 4861 §7.2.4) with the target link-layer
//!   address option, from the target address, hop limit 255; a duplicate address detection probe (unspecified
//!   source) is answered to all-nodes with the solicited flag clear. An advertisement can be 8 bytes longer
//!   than a solicitation without options: the buffer must have room behind the frame (an AF_XDP chunk does).

use std::net::Ipv6Addr;

use vmknet_common::classify::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

use super::service::Service;
use super::tables::VmkRecord;
use super::verdict::Verdict;
use crate::wire::{
    ArpPacket, EthernetFrame, Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, NeighborMessage, arp, icmpv4, icmpv6,
    ip_proto, ipv6,
};

/// TTL / hop limit of echo replies (Linux's default).
pub const REPLY_HOP_LIMIT: u8 = 64;

/// Hop limit of neighbour discovery messages (RFC 4861: receivers drop anything else).
const ND_HOP_LIMIT: u8 = 255;

/// The all-nodes group, destination of an answer to duplicate address detection.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Its Ethernet address (RFC 2464 §7).
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

/// Rewrites the request in `buf` into the reply of `vmk`, for a frame judged `verdict`.
///
/// `buf` is the writable buffer that starts with the frame's head (its first buffer) and may extend past it;
/// `head_len` is the head's length. Returns the reply's head length; the rest of a multi-buffer frame is sent
/// along unchanged. `None` when the verdict is not [`Verdict::Replied`], the head is not the request such a
/// verdict is given for (it changed since it was judged), or the buffer has no room for the reply; nothing
/// is then guaranteed about the bytes, and the frame must not be sent.
pub fn build_reply(verdict: Verdict, vmk: &VmkRecord, buf: &mut [u8], head_len: usize) -> Option<usize> {
    let Verdict::Replied(service) = verdict else {
        return None;
    };
    let frame = EthernetFrame::new_checked(buf.get(..head_len)?).ok()?;
    let (header_len, ethertype, requester) = (frame.header_len(), frame.ethertype(), frame.src_addr());
    let (reply_len, destination) = match (service, ethertype) {
        (Service::Arp, ETHERTYPE_ARP) => {
            arp_reply(buf.get_mut(header_len..head_len)?, vmk)?;
            (head_len, requester)
        }
        (Service::Icmp, ETHERTYPE_IPV4) => {
            echo_reply_v4(buf.get_mut(header_len..head_len)?)?;
            (head_len, requester)
        }
        (Service::Icmp, ETHERTYPE_IPV6) => {
            echo_reply_v6(buf.get_mut(header_len..head_len)?)?;
            (head_len, requester)
        }
        (Service::NeighborDiscovery, ETHERTYPE_IPV6) => {
            let (len, to_all_nodes) = neighbor_advertisement(buf.get_mut(header_len..)?, head_len - header_len, vmk)?;
            (header_len + len, if to_all_nodes { ALL_NODES_MAC } else { requester })
        }
        _ => return None,
    };
    let mut frame = EthernetFrame::new_unchecked(buf);
    frame.set_dst_addr(destination);
    frame.set_src_addr(vmk.mac);
    Some(reply_len)
}

/// An ARP request for the vmk's address → its reply.
fn arp_reply(packet: &mut [u8], vmk: &VmkRecord) -> Option<()> {
    let mut arp = ArpPacket::new_checked(packet).ok()?;
    let asks_for_vmk = vmk.ipv4 == Some(u32::from(arp.target_proto_addr()));
    (arp.operation() == arp::OP_REQUEST && asks_for_vmk).then(|| arp.make_reply_in_place(vmk.mac))
}

/// An IPv4 packet carrying an echo request → the echo reply.
fn echo_reply_v4(packet: &mut [u8]) -> Option<()> {
    let header_len = Ipv4Packet::new_unchecked(&*packet).header_len();
    let mut icmp = Icmpv4Packet::new_checked(packet.get_mut(header_len..)?).ok()?;
    if icmp.msg_type() != icmpv4::ECHO_REQUEST {
        return None;
    }
    icmp.retype(icmpv4::ECHO_REPLY);
    Ipv4Packet::new_unchecked(packet).turn_around(REPLY_HOP_LIMIT);
    Some(())
}

/// An IPv6 packet carrying an echo request (no extension headers) → the echo reply.
fn echo_reply_v6(packet: &mut [u8]) -> Option<()> {
    // The payload length was judged on the wire; the head may hold only the first bytes of a jumbo request.
    if packet.len() < ipv6::HEADER_LEN || Ipv6Packet::new_unchecked(&*packet).next_header() != ip_proto::ICMPV6 {
        return None;
    }
    let mut icmp = Icmpv6Packet::new_checked(packet.get_mut(ipv6::HEADER_LEN..)?).ok()?;
    if icmp.msg_type() != icmpv6::ECHO_REQUEST {
        return None;
    }
    icmp.retype(icmpv6::ECHO_REPLY);
    Ipv6Packet::new_unchecked(packet).turn_around(REPLY_HOP_LIMIT);
    Some(())
}

/// The IPv6 packet of `len` bytes at the start of `area` carrying a neighbour solicitation for one of the
/// vmk's addresses → the advertisement, written over it. Returns its length and whether it goes to
/// all-nodes (the answer to duplicate address detection).
fn neighbor_advertisement(area: &mut [u8], len: usize, vmk: &VmkRecord) -> Option<(usize, bool)> {
    let request = Ipv6Packet::new_checked(area.get(..len)?).ok()?;
    if request.next_header() != ip_proto::ICMPV6 {
        return None;
    }
    let solicitation = NeighborMessage::new_checked(request.payload()).ok()?;
    let target = solicitation.target_addr();
    if solicitation.kind() != icmpv6::NeighborKind::Solicitation || !vmk.ipv6.contains(&u128::from(target)) {
        return None;
    }
    let duplicate_address_detection = request.src_addr().is_unspecified();
    let destination = if duplicate_address_detection {
        ALL_NODES
    } else {
        request.src_addr()
    };
    let message = area.get_mut(ipv6::HEADER_LEN..)?;
    let message_len = NeighborMessage::new_unchecked(&mut *message).emit_advertisement(
        target,
        !duplicate_address_detection,
        vmk.mac,
    )?;
    Icmpv6Packet::new_unchecked(message.get_mut(..message_len)?).fill_checksum(&target, &destination);
    Ipv6Packet::new_unchecked(&mut *area).emit_header(
        u16::try_from(message_len).ok()?,
        ip_proto::ICMPV6,
        ND_HOP_LIMIT,
        target,
        destination,
    );
    Some((ipv6::HEADER_LEN + message_len, duplicate_address_detection))
}

#[cfg(test)]
mod tests;
