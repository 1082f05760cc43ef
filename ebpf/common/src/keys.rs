//! Map keys and values of the steering tables, laid out for BPF hash maps.
//!
//! Every field is naturally aligned and padding is explicit (and always zero), because the kernel hashes keys
//! as raw bytes: two keys that differ only in padding would be two different keys.

/// The 802.1Q VLAN id used in keys for untagged and priority-tagged (VID 0) frames.
pub const UNTAGGED_VLAN: u16 = 0;

/// Key of the main steering map: a vmk's MAC address on its VLAN.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacKey {
    /// VLAN id (0 for untagged or priority-tagged frames).
    pub vlan: u16,
    /// Destination MAC address.
    pub mac: [u8; 6],
}

impl MacKey {
    /// A key for `mac` on `vlan`.
    pub const fn new(vlan: u16, mac: [u8; 6]) -> Self {
        Self { vlan, mac }
    }
}

/// Key for broadcast ARP: the target protocol address on a VLAN.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Key {
    /// VLAN id (0 for untagged).
    pub vlan: u16,
    /// Always zero.
    pub pad: u16,
    /// IPv4 address in network byte order.
    pub addr: [u8; 4],
}

impl Ipv4Key {
    /// A key for `addr` on `vlan`.
    pub const fn new(vlan: u16, addr: [u8; 4]) -> Self {
        Self { vlan, pad: 0, addr }
    }
}

/// Key for IPv6 multicast steering (neighbour solicitations): the destination group address on a VLAN.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Key {
    /// VLAN id (0 for untagged).
    pub vlan: u16,
    /// Always zero.
    pub pad: u16,
    /// IPv6 address in network byte order.
    pub addr: [u8; 16],
}

impl Ipv6Key {
    /// A key for `addr` on `vlan`.
    pub const fn new(vlan: u16, addr: [u8; 16]) -> Self {
        Self { vlan, pad: 0, addr }
    }
}

/// Where a steered frame goes: the netstack (AF_XDP ring index within a queue) and the vmk it is for.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SteerTarget {
    /// Dense index of the netstack, `0..n_netstacks`.
    pub netstack: u32,
    /// Dense index of the VMkernel adapter, `0..n_vmks`.
    pub vmk: u32,
}

/// What the XDP program reports of a gratuitous ARP or unsolicited neighbour advertisement it passes to
/// Linux: a neighbour on `vlan` announces that `addr` is at `mac`. One record of the learn ring buffer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Announcement {
    /// VLAN id (0 for untagged).
    pub vlan: u16,
    /// 4 (the first four bytes of `addr` are the IPv4 address, the rest zero) or 6.
    pub family: u8,
    /// Always zero.
    pub pad: u8,
    /// The announced MAC address.
    pub mac: [u8; 6],
    /// Always zero.
    pub pad2: [u8; 2],
    /// The announced address in network byte order.
    pub addr: [u8; 16],
}

/// The solicited-node multicast address (RFC 4291 §2.7.1) of `addr`: `ff02::1:ffXX:XXXX`.
pub const fn solicited_node(addr: [u8; 16]) -> [u8; 16] {
    [
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, addr[13], addr[14], addr[15],
    ]
}

#[cfg(feature = "user")]
mod pod {
    // Safety: each type is `#[repr(C)]` over integers and byte arrays with no implicit padding (checked by
    // `key_layouts_have_no_implicit_padding`): every byte is initialised and every bit pattern is a valid value.
    unsafe impl aya::Pod for super::MacKey {}
    unsafe impl aya::Pod for super::Ipv4Key {}
    unsafe impl aya::Pod for super::Ipv6Key {}
    unsafe impl aya::Pod for super::SteerTarget {}
    unsafe impl aya::Pod for super::Announcement {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_layouts_have_no_implicit_padding() {
        assert_eq!(core::mem::size_of::<MacKey>(), 8);
        assert_eq!(core::mem::size_of::<Ipv4Key>(), 8);
        assert_eq!(core::mem::size_of::<Ipv6Key>(), 20);
        assert_eq!(core::mem::size_of::<SteerTarget>(), 8);
        assert_eq!(core::mem::size_of::<Announcement>(), 28);
    }

    #[test]
    fn solicited_node_keeps_low_24_bits() {
        let addr = [0xfd, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56];
        let group = solicited_node(addr);
        assert_eq!(
            group,
            [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0x12, 0x34, 0x56]
        );
    }
}
