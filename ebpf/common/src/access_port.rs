//! The rule of an 802.1Q access port, as the testbed's switch applies it (`ebpf/switch`, a tc program on
//! each access port of a plain Linux bridge): the host behind the port sends and receives untagged frames, the
//! bridge and the trunk carry them tagged with the port's VLAN.
//!
//! The kernel has moved any tag of a received frame into skb metadata before tc runs (`skb_vlan_untag` in
//! `__netif_receive_skb_core`), and a tag pushed by `bpf_skb_vlan_push` stays there until a device without tx
//! VLAN offload writes it into the frame, so the program decides on the metadata: [`VlanTag`].
//!
//! VLAN 0 names an untagged port: it passes untagged frames both ways and nothing tagged, so frames of the
//! tagged VLANs never reach its host either.

/// Name of the BPF hash map from an access port's ifindex to its VLAN (`u32` to `u16`).
pub const ACCESS_VLAN_MAP: &str = "ACCESS_VLAN";
/// Access ports one switch program serves (the map's size).
pub const MAX_ACCESS_PORTS: u32 = 256;
/// Largest VLAN id an access port takes (4095 is reserved).
pub const MAX_VLAN: u16 = 4094;

/// An 802.1Q or 802.1ad tag held with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VlanTag {
    /// The tag protocol identifier (0x8100 for 802.1Q), host byte order.
    pub tpid: u16,
    /// The tag control information: priority, drop eligibility and the 12-bit VLAN id.
    pub tci: u16,
}

impl VlanTag {
    /// The VLAN id.
    pub const fn vid(self) -> u16 {
        self.tci & 0x0fff
    }
}

/// What an access port does with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortAction {
    /// Let it through unchanged.
    Pass,
    /// Tag it with this VLAN id (priority 0).
    Push(u16),
    /// Remove its tag.
    Pop,
    /// Drop it.
    Drop,
}

/// A frame the host behind a port of VLAN `port_vlan` sent towards the bridge: untagged frames get the port's
/// tag (none on VLAN 0); a host may not choose its VLAN, so a tagged frame is dropped.
pub const fn from_host(port_vlan: u16, tag: Option<VlanTag>) -> PortAction {
    match (tag, port_vlan) {
        (Some(_), _) => PortAction::Drop,
        (None, 0) => PortAction::Pass,
        (None, vlan) => PortAction::Push(vlan),
    }
}

/// A frame the bridge sends towards the host behind a port of VLAN `port_vlan`: only frames of that VLAN go
/// out, untagged. An 802.1Q tag with the port's id is removed (a priority tag, id 0, on an untagged port); an
/// untagged frame leaves only an untagged port; everything else, 802.1ad tags included, is dropped.
pub const fn to_host(port_vlan: u16, tag: Option<VlanTag>) -> PortAction {
    match tag {
        None if port_vlan == 0 => PortAction::Pass,
        Some(tag) if tag.tpid == crate::classify::ETHERTYPE_VLAN && tag.vid() == port_vlan => PortAction::Pop,
        _ => PortAction::Drop,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::{ETHERTYPE_QINQ, ETHERTYPE_VLAN};

    const fn dot1q(tci: u16) -> Option<VlanTag> {
        Some(VlanTag {
            tpid: ETHERTYPE_VLAN,
            tci,
        })
    }

    #[test]
    fn a_host_frame_gets_its_ports_tag_and_may_not_bring_one() {
        assert_eq!(from_host(20, None), PortAction::Push(20));
        assert_eq!(from_host(4094, None), PortAction::Push(4094));
        assert_eq!(from_host(0, None), PortAction::Pass);
        assert_eq!(from_host(20, dot1q(20)), PortAction::Drop);
        assert_eq!(from_host(0, dot1q(0)), PortAction::Drop);
    }

    #[test]
    fn only_the_ports_vlan_reaches_the_host_untagged() {
        assert_eq!(to_host(20, dot1q(20)), PortAction::Pop);
        // Priority and drop-eligible bits do not change the VLAN.
        assert_eq!(to_host(20, dot1q(0xe000 | 20)), PortAction::Pop);
        assert_eq!(to_host(20, dot1q(10)), PortAction::Drop);
        assert_eq!(to_host(20, None), PortAction::Drop);
        assert_eq!(
            to_host(
                20,
                Some(VlanTag {
                    tpid: ETHERTYPE_QINQ,
                    tci: 20
                })
            ),
            PortAction::Drop
        );
        assert_eq!(to_host(0, None), PortAction::Pass);
        assert_eq!(to_host(0, dot1q(0x2000)), PortAction::Pop);
        assert_eq!(to_host(0, dot1q(10)), PortAction::Drop);
    }
}
