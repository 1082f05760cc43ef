//! The steering decision: which netstack (if any) owns a frame.
//!
//! Frames are steered by what a vSwitch port would match: the destination MAC on the frame's VLAN. Two kinds of
//! frames do not carry a vmk MAC yet still belong to a vmk: broadcast ARP requests (steered by the target
//! IPv4 address) and IPv6 neighbour solicitations sent to a solicited-node group (steered by the group
//! address). Everything else belongs to Linux and is passed on untouched.
//!
//! A frame addressed to a vmk MAC that a VMkernel port can never accept is dropped here with its own reason:
//! stacked 802.1Q/802.1ad tags (a vmk port is a VST access port and never sees QinQ) and VID 4095 (reserved by
//! IEEE 802.1Q, never valid on the wire). Frames too short for their Ethernet or VLAN header are dropped
//! whoever they are for.
//!
//! [`announcement`] recognises, among the frames passed to Linux, a neighbour's gratuitous ARP or unsolicited
//! neighbour advertisement: the XDP program reports those to the engine so its neighbour caches follow a
//! neighbour whose MAC changed, while Linux gets the frame as before.
//!
//! [`classify`] reads at most 58 bytes of a frame, [`announcement`] at most 90; both take constant time, so
//! they are cheap in the kernel and acceptable to the verifier (no loops).

use crate::keys::{Announcement, Ipv4Key, Ipv6Key, MacKey, SteerTarget, UNTAGGED_VLAN};
use crate::reason::DropReason;

/// Ethernet header length without tags.
pub const ETH_HEADER_LEN: usize = 14;
/// Length of one 802.1Q / 802.1ad tag.
pub const VLAN_TAG_LEN: usize = 4;
/// 802.1Q customer tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service tag.
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// The VID IEEE 802.1Q reserves; never valid on the wire.
pub const RESERVED_VLAN: u16 = 4095;

const BROADCAST_MAC: [u8; 6] = [0xff; 6];
const IPV6_NEXT_HEADER_ICMPV6: u8 = 58;
const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// `33:33:00:00:00:01`, the MAC of the all-nodes group ff02::1.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: [u8; 16] = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Read access to a frame's bytes, implemented over a slice in userspace and over the packet pointers in XDP.
pub trait FrameBytes {
    /// Total length of the frame's linear data in bytes.
    fn len(&self) -> usize;

    /// Whether the frame is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `N` bytes at `offset`, or `None` when they are not all inside the frame.
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]>;

    /// The big-endian `u16` at `offset`.
    fn read_u16(&self, offset: usize) -> Option<u16> {
        self.read::<2>(offset).map(u16::from_be_bytes)
    }

    /// The byte at `offset`.
    fn read_u8(&self, offset: usize) -> Option<u8> {
        self.read::<1>(offset).map(|[b]| b)
    }
}

impl FrameBytes for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let end = offset.checked_add(N)?;
        self.get(offset..end)?.try_into().ok()
    }
}

/// The steering tables compiled from the host model.
pub trait SteeringTables {
    /// The vmk owning `mac` on `vlan`.
    fn by_mac(&self, key: &MacKey) -> Option<SteerTarget>;
    /// The vmk owning IPv4 address `addr` on `vlan` (broadcast ARP).
    fn by_arp_target(&self, key: &Ipv4Key) -> Option<SteerTarget>;
    /// The vmk that joined IPv6 group `addr` on `vlan` (solicited-node multicast).
    fn by_ipv6_group(&self, key: &Ipv6Key) -> Option<SteerTarget>;
    /// Whether `mac` is the MAC of any vmk, on any VLAN.
    fn is_vmk_mac(&self, mac: &[u8; 6]) -> bool;
}

/// Why a frame goes on to Linux.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SteerPass {
    /// No vmk matches the frame's destination on its VLAN.
    NotOurs = 0,
}

/// The steering decision for one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Steer {
    /// The frame belongs to a vmk.
    Steered {
        /// Owning netstack and vmk.
        target: SteerTarget,
        /// The frame's VLAN (0 when untagged or priority-tagged).
        vlan: u16,
        /// The EtherType that follows the tags.
        ethertype: u16,
        /// Offset of that EtherType field (12 or 16).
        ethertype_offset: u8,
    },
    /// Not a VMkernel frame: Linux's.
    Pass(SteerPass),
    /// A frame no VMkernel port accepts.
    Drop(DropReason),
}

/// Ethernet framing of a frame: its VLAN, the inner EtherType and where the payload starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Framing {
    /// VLAN id (0 when untagged or priority-tagged).
    pub vlan: u16,
    /// EtherType after the tag, if any.
    pub ethertype: u16,
    /// Offset of that EtherType field (12 untagged, 16 tagged).
    pub ethertype_offset: u8,
}

impl Framing {
    /// Offset of the first byte after the Ethernet header and tag.
    pub const fn payload_offset(&self) -> usize {
        self.ethertype_offset as usize + 2
    }
}

/// Parses the Ethernet header and at most one 802.1Q tag.
///
/// # Errors
/// [`DropReason::Runt`] when the frame is too short for its header or tag, [`DropReason::QinQ`] for
/// stacked tags (or a lone 802.1ad tag), [`DropReason::ReservedVlan`] for VID 4095.
pub fn parse_framing<F: FrameBytes + ?Sized>(frame: &F) -> Result<Framing, DropReason> {
    let outer = frame.read_u16(12).ok_or(DropReason::Runt)?;
    match outer {
        ETHERTYPE_QINQ => Err(DropReason::QinQ),
        ETHERTYPE_VLAN => {
            let [tci_high, tci_low, inner_high, inner_low] = frame.read::<4>(14).ok_or(DropReason::Runt)?;
            let (tci, inner) = (
                u16::from_be_bytes([tci_high, tci_low]),
                u16::from_be_bytes([inner_high, inner_low]),
            );
            if inner == ETHERTYPE_VLAN || inner == ETHERTYPE_QINQ {
                return Err(DropReason::QinQ);
            }
            let vlan = tci & 0x0fff;
            if vlan == RESERVED_VLAN {
                return Err(DropReason::ReservedVlan);
            }
            Ok(Framing {
                vlan,
                ethertype: inner,
                ethertype_offset: 16,
            })
        }
        ethertype => Ok(Framing {
            vlan: UNTAGGED_VLAN,
            ethertype,
            ethertype_offset: 12,
        }),
    }
}

/// Decides which netstack, if any, owns `frame`.
///
/// Drops for QinQ and VID 4095 apply only to frames addressed to a vmk MAC: anything else on those tags is
/// Linux's business. Runt frames are dropped whoever they are for.
pub fn classify<F, T>(frame: &F, tables: &T) -> Steer
where
    F: FrameBytes + ?Sized,
    T: SteeringTables + ?Sized,
{
    // Framing first: once it has read the EtherType, the destination MAC is known to be there.
    let framing = parse_framing(frame);
    let Some(dst) = frame.read::<6>(0) else {
        return Steer::Drop(DropReason::Runt);
    };
    let framing = match framing {
        Ok(framing) => framing,
        Err(DropReason::Runt) => return Steer::Drop(DropReason::Runt),
        Err(reason) if tables.is_vmk_mac(&dst) => return Steer::Drop(reason),
        Err(_) => return Steer::Pass(SteerPass::NotOurs),
    };
    let steered = |target| Steer::Steered {
        target,
        vlan: framing.vlan,
        ethertype: framing.ethertype,
        ethertype_offset: framing.ethertype_offset,
    };
    if let Some(target) = tables.by_mac(&MacKey::new(framing.vlan, dst)) {
        return steered(target);
    }
    let payload = framing.payload_offset();
    let group_target = if dst == BROADCAST_MAC && framing.ethertype == ETHERTYPE_ARP {
        // ARP for IPv4 over Ethernet: the target protocol address is at offset 24 of the ARP packet.
        frame
            .read::<4>(payload + 24)
            .and_then(|tpa| tables.by_arp_target(&Ipv4Key::new(framing.vlan, tpa)))
    } else if is_solicited_node_mac(&dst) && framing.ethertype == ETHERTYPE_IPV6 {
        neighbor_solicitation_group(frame, payload)
            .and_then(|group| tables.by_ipv6_group(&Ipv6Key::new(framing.vlan, group)))
    } else {
        None
    };
    match group_target {
        Some(target) => steered(target),
        None => Steer::Pass(SteerPass::NotOurs),
    }
}

/// The announcement `frame` makes, if it is a neighbour's gratuitous ARP or unsolicited neighbour
/// advertisement:
/// - a broadcast ARP packet (request or reply) for IPv4 over Ethernet whose sender address is its target
///   address and not 0.0.0.0 (an RFC 5227 probe announces nothing);
/// - an ICMPv6 neighbour advertisement, carried directly after the fixed header, to ff02::1 with hop limit
///   255, the Solicited flag clear and the Override flag set (RFC 4861 §7.2.6), whose first option is the
///   target link-layer address. Without Override a receiver must not replace a known MAC (§7.2.5).
///
/// Only the headers are checked: the ICMPv6 checksum is Linux's business.
pub fn announcement<F: FrameBytes + ?Sized>(frame: &F) -> Option<Announcement> {
    let framing = parse_framing(frame).ok()?;
    let dst = frame.read::<6>(0)?;
    let payload = framing.payload_offset();
    let mut record = Announcement {
        vlan: framing.vlan,
        family: 4,
        pad: 0,
        mac: [0; 6],
        pad2: [0; 2],
        addr: [0; 16],
    };
    if dst == BROADCAST_MAC && framing.ethertype == ETHERTYPE_ARP {
        // htype 1, ptype IPv4, hlen 6, plen 4; then the operation, SHA, SPA, THA, TPA.
        let arp = frame.read::<28>(payload)?;
        let ipv4_over_ethernet = arp[..6] == [0, 1, 0x08, 0x00, 6, 4];
        let (spa, tpa) = (
            [arp[14], arp[15], arp[16], arp[17]],
            [arp[24], arp[25], arp[26], arp[27]],
        );
        if !ipv4_over_ethernet || spa != tpa || spa == [0; 4] {
            return None;
        }
        record.mac = [arp[8], arp[9], arp[10], arp[11], arp[12], arp[13]];
        record.addr[..4].copy_from_slice(&spa);
        return Some(record);
    }
    if dst != ALL_NODES_MAC || framing.ethertype != ETHERTYPE_IPV6 {
        return None;
    }
    let [next_header, hop_limit] = frame.read::<2>(payload + 6)?;
    if next_header != IPV6_NEXT_HEADER_ICMPV6 || hop_limit != 255 || frame.read::<16>(payload + 24)? != ALL_NODES {
        return None;
    }
    // Type, code, checksum, flags (R S O), reserved, target, then the option: type 2, length 1, the MAC.
    let icmp = payload + 40;
    let [kind, code] = frame.read::<2>(icmp)?;
    let flags = frame.read_u8(icmp + 4)?;
    let [option, option_len, m0, m1, m2, m3, m4, m5] = frame.read::<8>(icmp + 24)?;
    if kind != ICMPV6_NEIGHBOR_ADVERTISEMENT || code != 0 || flags & 0x60 != 0x20 || (option, option_len) != (2, 1) {
        return None;
    }
    record.family = 6;
    record.mac = [m0, m1, m2, m3, m4, m5];
    record.addr = frame.read::<16>(icmp + 8)?;
    Some(record)
}

/// `33:33:ff:xx:xx:xx`, the MAC of a solicited-node group.
fn is_solicited_node_mac(mac: &[u8; 6]) -> bool {
    mac[0] == 0x33 && mac[1] == 0x33 && mac[2] == 0xff
}

/// The destination group of an IPv6 packet at `ip` when it is an ICMPv6 neighbour solicitation carried
/// directly after the fixed header (as RFC 4861 senders do).
fn neighbor_solicitation_group<F: FrameBytes + ?Sized>(frame: &F, ip: usize) -> Option<[u8; 16]> {
    if frame.read_u8(ip + 6)? != IPV6_NEXT_HEADER_ICMPV6 {
        return None;
    }
    if frame.read_u8(ip + 40)? != ICMPV6_NEIGHBOR_SOLICITATION {
        return None;
    }
    frame.read::<16>(ip + 24)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMK_MAC: [u8; 6] = [0x00, 0x50, 0x56, 0x6a, 0x10, 0x00];
    const VMK_IP: [u8; 4] = [10, 10, 10, 11];
    const VMK_IP6: [u8; 16] = [0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11];
    const TARGET: SteerTarget = SteerTarget { netstack: 2, vmk: 5 };

    struct OneVmk;

    impl SteeringTables for OneVmk {
        fn by_mac(&self, key: &MacKey) -> Option<SteerTarget> {
            (*key == MacKey::new(10, VMK_MAC)).then_some(TARGET)
        }
        fn by_arp_target(&self, key: &Ipv4Key) -> Option<SteerTarget> {
            (*key == Ipv4Key::new(10, VMK_IP)).then_some(TARGET)
        }
        fn by_ipv6_group(&self, key: &Ipv6Key) -> Option<SteerTarget> {
            (*key == Ipv6Key::new(10, crate::keys::solicited_node(VMK_IP6))).then_some(TARGET)
        }
        fn is_vmk_mac(&self, mac: &[u8; 6]) -> bool {
            *mac == VMK_MAC
        }
    }

    fn frame(dst: [u8; 6], tags: &[u16], ethertype: u16, payload: &[u8]) -> std::vec::Vec<u8> {
        let mut f = std::vec::Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        for &tci in tags {
            f.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
            f.extend_from_slice(&tci.to_be_bytes());
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn unicast_to_vmk_mac_on_its_vlan_is_steered() {
        let f = frame(VMK_MAC, &[10], ETHERTYPE_IPV4, &[0x45; 20]);
        assert_eq!(
            classify(f.as_slice(), &OneVmk),
            Steer::Steered {
                target: TARGET,
                vlan: 10,
                ethertype: ETHERTYPE_IPV4,
                ethertype_offset: 16
            }
        );
    }

    #[test]
    fn priority_bits_do_not_change_the_vlan() {
        let f = frame(VMK_MAC, &[(7 << 13) | 10], ETHERTYPE_IPV4, &[0x45; 20]);
        assert!(matches!(
            classify(f.as_slice(), &OneVmk),
            Steer::Steered { vlan: 10, .. }
        ));
    }

    #[test]
    fn vmk_mac_on_another_vlan_or_untagged_is_linux_traffic() {
        for tags in [&[11u16][..], &[][..]] {
            let f = frame(VMK_MAC, tags, ETHERTYPE_IPV4, &[0x45; 20]);
            assert_eq!(classify(f.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
        }
    }

    #[test]
    fn broadcast_arp_is_steered_by_target_address() {
        let mut arp = [0u8; 28];
        arp[24..28].copy_from_slice(&VMK_IP);
        let f = frame(BROADCAST_MAC, &[10], ETHERTYPE_ARP, &arp);
        assert!(matches!(classify(f.as_slice(), &OneVmk), Steer::Steered { .. }));
        arp[27] = 99;
        let f = frame(BROADCAST_MAC, &[10], ETHERTYPE_ARP, &arp);
        assert_eq!(classify(f.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
    }

    #[test]
    fn truncated_broadcast_arp_is_passed_not_read_past_the_end() {
        let f = frame(BROADCAST_MAC, &[10], ETHERTYPE_ARP, &[0u8; 20]);
        assert_eq!(classify(f.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
    }

    #[test]
    fn neighbor_solicitation_is_steered_by_solicited_node_group() {
        let group = crate::keys::solicited_node(VMK_IP6);
        let mut ip = [0u8; 40 + 24];
        ip[0] = 0x60;
        ip[6] = IPV6_NEXT_HEADER_ICMPV6;
        ip[24..40].copy_from_slice(&group);
        ip[40] = ICMPV6_NEIGHBOR_SOLICITATION;
        let dst = [0x33, 0x33, 0xff, group[13], group[14], group[15]];
        let f = frame(dst, &[10], ETHERTYPE_IPV6, &ip);
        assert!(matches!(classify(f.as_slice(), &OneVmk), Steer::Steered { .. }));
        ip[40] = 128; // echo request to the group is not a solicitation
        let f = frame(dst, &[10], ETHERTYPE_IPV6, &ip);
        assert_eq!(classify(f.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
    }

    fn gratuitous_arp(op: u8, mac: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> [u8; 28] {
        let mut arp = [0u8; 28];
        arp[..8].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, op]);
        arp[8..14].copy_from_slice(&mac);
        arp[14..18].copy_from_slice(&spa);
        arp[24..28].copy_from_slice(&tpa);
        arp
    }

    fn unsolicited_na(flags: u8, target: [u8; 16], mac: [u8; 6]) -> [u8; 72] {
        let mut ip = [0u8; 72];
        ip[0] = 0x60;
        ip[6] = IPV6_NEXT_HEADER_ICMPV6;
        ip[7] = 255;
        ip[24..40].copy_from_slice(&ALL_NODES);
        ip[40] = ICMPV6_NEIGHBOR_ADVERTISEMENT;
        ip[44] = flags;
        ip[48..64].copy_from_slice(&target);
        ip[64..66].copy_from_slice(&[2, 1]);
        ip[66..72].copy_from_slice(&mac);
        ip
    }

    #[test]
    fn gratuitous_arp_is_announced_and_passed() {
        let mac = [0x02, 0, 0, 0, 0, 0x99];
        let peer = [10, 10, 10, 50];
        for op in [1, 2] {
            let f = frame(
                BROADCAST_MAC,
                &[10],
                ETHERTYPE_ARP,
                &gratuitous_arp(op, mac, peer, peer),
            );
            assert_eq!(classify(f.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
            let record = announcement(f.as_slice()).expect("announced");
            assert_eq!((record.vlan, record.family, record.mac), (10, 4, mac));
            assert_eq!(record.addr[..4], peer);
            assert_eq!(record.addr[4..], [0; 12]);
        }
        // A request for another address, a probe (sender 0.0.0.0), a truncated packet: no announcement.
        let request = frame(
            BROADCAST_MAC,
            &[10],
            ETHERTYPE_ARP,
            &gratuitous_arp(1, mac, peer, [10, 10, 10, 1]),
        );
        let probe = frame(
            BROADCAST_MAC,
            &[10],
            ETHERTYPE_ARP,
            &gratuitous_arp(1, mac, [0; 4], [0; 4]),
        );
        let short = frame(
            BROADCAST_MAC,
            &[10],
            ETHERTYPE_ARP,
            &gratuitous_arp(1, mac, peer, peer)[..27],
        );
        for f in [request, probe, short] {
            assert_eq!(announcement(f.as_slice()), None);
        }
    }

    #[test]
    fn unsolicited_na_with_override_is_announced() {
        let mac = [0x02, 0, 0, 0, 0, 0x99];
        let f = frame(ALL_NODES_MAC, &[], ETHERTYPE_IPV6, &unsolicited_na(0x20, VMK_IP6, mac));
        assert_eq!(classify(f.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
        let record = announcement(f.as_slice()).expect("announced");
        assert_eq!(
            (record.vlan, record.family, record.mac, record.addr),
            (0, 6, mac, VMK_IP6)
        );
        // Solicited, or without Override: nothing to report.
        for flags in [0x60, 0x00, 0x40] {
            let f = frame(ALL_NODES_MAC, &[], ETHERTYPE_IPV6, &unsolicited_na(flags, VMK_IP6, mac));
            assert_eq!(announcement(f.as_slice()), None, "flags {flags:#x}");
        }
        let mut hop = unsolicited_na(0x20, VMK_IP6, mac);
        hop[7] = 64;
        let f = frame(ALL_NODES_MAC, &[], ETHERTYPE_IPV6, &hop);
        assert_eq!(announcement(f.as_slice()), None);
        let f = frame(
            ALL_NODES_MAC,
            &[],
            ETHERTYPE_IPV6,
            &unsolicited_na(0x20, VMK_IP6, mac)[..71],
        );
        assert_eq!(announcement(f.as_slice()), None);
    }

    #[test]
    fn qinq_and_reserved_vlan_are_dropped_only_for_vmk_macs() {
        let qinq = frame(VMK_MAC, &[10, 20], ETHERTYPE_IPV4, &[0; 20]);
        assert_eq!(classify(qinq.as_slice(), &OneVmk), Steer::Drop(DropReason::QinQ));
        let reserved = frame(VMK_MAC, &[4095], ETHERTYPE_IPV4, &[0; 20]);
        assert_eq!(
            classify(reserved.as_slice(), &OneVmk),
            Steer::Drop(DropReason::ReservedVlan)
        );
        let mut ad = frame(VMK_MAC, &[10], ETHERTYPE_IPV4, &[0; 20]);
        ad[12..14].copy_from_slice(&ETHERTYPE_QINQ.to_be_bytes());
        assert_eq!(classify(ad.as_slice(), &OneVmk), Steer::Drop(DropReason::QinQ));
        let other = frame([2, 0, 0, 0, 0, 9], &[10, 20], ETHERTYPE_IPV4, &[0; 20]);
        assert_eq!(classify(other.as_slice(), &OneVmk), Steer::Pass(SteerPass::NotOurs));
    }

    #[test]
    fn runts_are_dropped() {
        for len in 0..14 {
            let f = std::vec![0u8; len];
            assert_eq!(
                classify(f.as_slice(), &OneVmk),
                Steer::Drop(DropReason::Runt),
                "len {len}"
            );
        }
        let tagged = frame(VMK_MAC, &[10], ETHERTYPE_IPV4, &[]);
        assert_eq!(classify(&tagged[..16], &OneVmk), Steer::Drop(DropReason::Runt));
    }
}
