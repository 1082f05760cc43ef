//! Why a frame was dropped: one enum for the XDP program, the pipeline, counters, metrics and docs.

/// Every reason vmknet drops a frame for. The discriminant is the counter index.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than its Ethernet header or 802.1Q tag.
    Runt = 0,
    /// Stacked 802.1Q/802.1ad tags to a vmk: a VMkernel port is a VST access port.
    QinQ,
    /// VID 4095, reserved by IEEE 802.1Q and never valid on the wire.
    ReservedVlan,
    /// A frame to a vmk with an EtherType VMkernel does not speak (neither ARP, IPv4 nor IPv6).
    UnsupportedEthertype,
    /// ARP that is not Ethernet/IPv4 or is truncated.
    MalformedArp,
    /// The IP version field does not match the EtherType.
    IpBadVersion,
    /// IPv4 header length field below 5 words or beyond the packet.
    Ipv4BadHeaderLength,
    /// IPv4 total length smaller than its header or larger than the frame.
    Ipv4BadTotalLength,
    /// IPv4 header checksum mismatch.
    Ipv4BadChecksum,
    /// IPv6 payload length larger than the frame.
    Ipv6BadPayloadLength,
    /// An IPv6 extension header chain that is truncated or too long to walk.
    Ipv6BadExtensionHeader,
    /// TCP, UDP or ICMP header truncated or with an impossible length field.
    L4Malformed,
    /// An IP packet longer than the receiving vmk's MTU.
    MtuExceeded,
    /// The destination IP address is not an address of the vmk's netstack.
    NotLocal,
    /// A service frame on a vmk whose tags do not enable that service.
    ServiceDisabled,
    /// A vMotion or provisioning frame on a default-stack vmk while that service has its own stack.
    ServiceMovedToOwnStack,
    /// A non-first IPv4 fragment whose first fragment was never seen (or has expired).
    FragmentOrphan,
    /// An ICMP echo request or neighbour solicitation the vmk would answer whose checksum is wrong.
    IcmpBadChecksum,
}

impl DropReason {
    /// Number of reasons; counter arrays are this long.
    pub const COUNT: usize = Self::ALL.len();

    /// Every reason, in discriminant order.
    pub const ALL: [DropReason; 18] = [
        Self::Runt,
        Self::QinQ,
        Self::ReservedVlan,
        Self::UnsupportedEthertype,
        Self::MalformedArp,
        Self::IpBadVersion,
        Self::Ipv4BadHeaderLength,
        Self::Ipv4BadTotalLength,
        Self::Ipv4BadChecksum,
        Self::Ipv6BadPayloadLength,
        Self::Ipv6BadExtensionHeader,
        Self::L4Malformed,
        Self::MtuExceeded,
        Self::NotLocal,
        Self::ServiceDisabled,
        Self::ServiceMovedToOwnStack,
        Self::FragmentOrphan,
        Self::IcmpBadChecksum,
    ];

    /// The counter and metric name (`snake_case`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Runt => "runt",
            Self::QinQ => "qinq",
            Self::ReservedVlan => "reserved_vlan",
            Self::UnsupportedEthertype => "unsupported_ethertype",
            Self::MalformedArp => "malformed_arp",
            Self::IpBadVersion => "ip_bad_version",
            Self::Ipv4BadHeaderLength => "ipv4_bad_header_length",
            Self::Ipv4BadTotalLength => "ipv4_bad_total_length",
            Self::Ipv4BadChecksum => "ipv4_bad_checksum",
            Self::Ipv6BadPayloadLength => "ipv6_bad_payload_length",
            Self::Ipv6BadExtensionHeader => "ipv6_bad_extension_header",
            Self::L4Malformed => "l4_malformed",
            Self::MtuExceeded => "mtu_exceeded",
            Self::NotLocal => "not_local",
            Self::ServiceDisabled => "service_disabled",
            Self::ServiceMovedToOwnStack => "service_moved_to_own_stack",
            Self::FragmentOrphan => "fragment_orphan",
            Self::IcmpBadChecksum => "icmp_bad_checksum",
        }
    }

    /// Parses a [`name`](Self::name) back.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discriminants_index_all() {
        for (i, reason) in DropReason::ALL.into_iter().enumerate() {
            assert_eq!(reason as usize, i);
            assert_eq!(DropReason::from_name(reason.name()), Some(reason));
        }
    }
}
