//! The link layer of an egress frame: which adapter sends it, from which MAC, to which MAC, on which VLAN.
//!
//! A vmk's frames carry its MAC as source and, on a VST port group (VLAN 1-4094), an 802.1Q tag with its
//! VLAN; VLAN 0 means untagged (fact sheet §2.2). Destinations are a resolved neighbour's MAC, or for
//! broadcast and multicast IP destinations the MAC mapped from the address (RFC 1112 §6.4, RFC 2464 §7),
//! which needs no resolution. Also the ARP request and neighbour solicitation frames that resolve a next
//! hop (RFC 826, RFC 4861 §7.2.2).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vmknet_common::keys::solicited_node;

use super::EgressError;
use crate::model::{MacAddr, Vmk, VmkId};
use crate::wire::ethernet::{ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV6, VLAN_TAG_LEN};
use crate::wire::{ArpPacket, EthernetFrame, Icmpv6Packet, Ipv6Packet, NeighborMessage, icmpv6, ip_proto, ipv6};

/// The broadcast MAC.
pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
/// Hop limit of neighbour discovery messages (RFC 4861 §7.1: receivers check it is 255).
const ND_HOP_LIMIT: u8 = 255;

/// Where a frame goes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// The sending adapter.
    pub interface: VmkId,
    /// Its MAC.
    pub src: MacAddr,
    /// The next hop's MAC.
    pub dst: MacAddr,
    /// Its VLAN (0: untagged).
    pub vlan: u16,
}

impl Link {
    /// The link from `vmk` to `dst`.
    pub const fn new(vmk: &Vmk, dst: MacAddr) -> Self {
        Self {
            interface: vmk.id,
            src: vmk.mac,
            dst,
            vlan: vmk.vlan,
        }
    }

    /// Length of the Ethernet header (14, or 18 with a tag).
    pub const fn header_len(&self) -> usize {
        if self.vlan == 0 {
            ETH_HEADER_LEN
        } else {
            ETH_HEADER_LEN + VLAN_TAG_LEN
        }
    }

    /// Writes the Ethernet header for `ethertype` and returns its length.
    ///
    /// # Errors
    /// [`EgressError::BufferTooSmall`].
    pub fn write_header(&self, out: &mut [u8], ethertype: u16) -> Result<usize, EgressError> {
        let len = out.len();
        EthernetFrame::new_unchecked(out)
            .emit_header(self.dst.0, self.src.0, self.vlan, ethertype)
            .ok_or(EgressError::BufferTooSmall {
                needed: self.header_len(),
                len,
            })
    }

    /// Writes a whole frame: the header for `ethertype`, then `payload`. Returns the frame length.
    ///
    /// # Errors
    /// [`EgressError::BufferTooSmall`].
    pub fn write_frame(&self, out: &mut [u8], ethertype: u16, payload: &[u8]) -> Result<usize, EgressError> {
        let needed = self.header_len() + payload.len();
        let len = out.len();
        let out = out
            .get_mut(..needed)
            .ok_or(EgressError::BufferTooSmall { needed, len })?;
        let header_len = self.write_header(out, ethertype)?;
        out[header_len..].copy_from_slice(payload);
        Ok(needed)
    }
}

/// The MAC a multicast or broadcast destination maps to, without resolution: `ff:ff:ff:ff:ff:ff` for the
/// limited broadcast or `directed_broadcast` (the sending adapter's subnet broadcast), `01:00:5e` and the low
/// 23 bits of an IPv4 group, `33:33` and the low 32 bits of an IPv6 group. `None` for a unicast address.
pub fn mapped_mac(dst: IpAddr, directed_broadcast: Option<Ipv4Addr>) -> Option<MacAddr> {
    match dst {
        IpAddr::V4(ip) if ip.is_broadcast() || Some(ip) == directed_broadcast => Some(BROADCAST),
        IpAddr::V4(ip) if ip.is_multicast() => {
            let [_, b, c, d] = ip.octets();
            Some(MacAddr([0x01, 0x00, 0x5e, b & 0x7f, c, d]))
        }
        IpAddr::V6(ip) if ip.is_multicast() => Some(ipv6_multicast_mac(&ip)),
        _ => None,
    }
}

fn ipv6_multicast_mac(group: &Ipv6Addr) -> MacAddr {
    let [.., a, b, c, d] = group.octets();
    MacAddr([0x33, 0x33, a, b, c, d])
}

/// Writes a broadcast ARP request from `vmk` (MAC, VLAN, IPv4 `sender`) for `target`. Returns the frame
/// length.
///
/// # Errors
/// [`EgressError::BufferTooSmall`].
pub fn write_arp_request(vmk: &Vmk, sender: Ipv4Addr, target: Ipv4Addr, out: &mut [u8]) -> Result<usize, EgressError> {
    let link = Link::new(vmk, BROADCAST);
    let header_len = link.header_len();
    let needed = header_len + crate::wire::arp::PACKET_LEN;
    let len = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(EgressError::BufferTooSmall { needed, len })?;
    link.write_header(out, ETHERTYPE_ARP)?;
    ArpPacket::new_unchecked(&mut out[header_len..]).emit_request(vmk.mac.0, sender, target);
    Ok(needed)
}

/// Writes a neighbour solicitation from `vmk` (MAC, VLAN, IPv6 `sender`) for `target`, to the target's
/// solicited-node multicast group, with a source link-layer address option. Returns the frame length.
///
/// # Errors
/// [`EgressError::BufferTooSmall`].
pub fn write_neighbor_solicitation(
    vmk: &Vmk,
    sender: Ipv6Addr,
    target: Ipv6Addr,
    out: &mut [u8],
) -> Result<usize, EgressError> {
    let group = Ipv6Addr::from(solicited_node(target.octets()));
    let link = Link::new(vmk, ipv6_multicast_mac(&group));
    let header_len = link.header_len();
    let message_len = icmpv6::SOLICITATION_LEN;
    let needed = header_len + ipv6::HEADER_LEN + message_len;
    let len = out.len();
    let out = out
        .get_mut(..needed)
        .ok_or(EgressError::BufferTooSmall { needed, len })?;
    link.write_header(out, ETHERTYPE_IPV6)?;
    let (ip_header, message) = out[header_len..].split_at_mut(ipv6::HEADER_LEN);
    NeighborMessage::new_unchecked(&mut message[..]).emit_solicitation(target, vmk.mac.0);
    Icmpv6Packet::new_unchecked(&mut message[..]).fill_checksum(&sender, &group);
    // 32 bytes.
    Ipv6Packet::new_unchecked(ip_header).emit_header(message_len as u16, ip_proto::ICMPV6, ND_HOP_LIMIT, sender, group);
    Ok(needed)
}
