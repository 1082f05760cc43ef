//! Link layers the reader accepts, and how each becomes an Ethernet frame (the mapping itself is listed in
//! [the `io` docs](super)).
//!
//! The synthesised header is written in place, right before the network-layer payload, so no frame is
//! copied. Why the choices:
//! - zero MACs: these link layers carry no Ethernet destination, and the replayed host config must decide
//!   nothing on an invented address (a zero MAC is never a VMkernel adapter's);
//! - SLL protocol copied verbatim: Linux's pseudo-protocols below 0x0600 (raw 802.2/802.3 payloads) are not
//!   EtherTypes, and the pipeline drops them like any unknown EtherType;
//! - NULL and LOOP use the IP version nibble, not their address family: NULL's is in the capturing host's
//!   byte order, and IPv6 has a different AF_ value on every OS.

use pcap_file::DataLink;

use super::error::Corruption;

/// Length of an Ethernet II header: destination MAC, source MAC, EtherType.
pub(super) const ETHERNET_HEADER_LEN: usize = 14;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Stands for "not IP" when the EtherType comes from an IP version nibble; never a valid EtherType.
const ETHERTYPE_UNKNOWN: u16 = 0x0000;

/// A link layer the reader turns into Ethernet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LinkType {
    /// LINKTYPE_NULL (0): BSD loopback, 4-byte address family in the capturing host's byte order.
    Null,
    /// LINKTYPE_ETHERNET (1): passed through untouched.
    Ethernet,
    /// LINKTYPE_RAW (101): a bare IPv4 or IPv6 packet.
    Raw,
    /// LINKTYPE_LOOP (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
    /// LINKTYPE_LINUX_SLL (113): Linux "cooked" capture v1, 16-byte header ending in the protocol.
    LinuxSll,
    /// LINKTYPE_IPV4 (228): a bare IPv4 packet.
    Ipv4,
    /// LINKTYPE_IPV6 (229): a bare IPv6 packet.
    Ipv6,
    /// LINKTYPE_LINUX_SLL2 (276): Linux "cooked" capture v2, 20-byte header starting with the protocol.
    LinuxSll2,
}

/// Every supported link type with its LINKTYPE_ number; the error message lists them from here.
const SUPPORTED: [(u32, LinkType); 8] = [
    (1, LinkType::Ethernet),
    (113, LinkType::LinuxSll),
    (276, LinkType::LinuxSll2),
    (101, LinkType::Raw),
    (228, LinkType::Ipv4),
    (229, LinkType::Ipv6),
    (0, LinkType::Null),
    (108, LinkType::Loop),
];

impl LinkType {
    /// The link type with LINKTYPE_ number `number`, or `None` if the reader cannot map it to Ethernet.
    pub(super) fn from_number(number: u32) -> Option<Self> {
        SUPPORTED.iter().find(|(n, _)| *n == number).map(|&(_, link)| link)
    }

    /// The LINKTYPE_ name, without the prefix.
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Null => "NULL",
            Self::Ethernet => "ETHERNET",
            Self::Raw => "RAW",
            Self::Loop => "LOOP",
            Self::LinuxSll => "LINUX_SLL",
            Self::Ipv4 => "IPV4",
            Self::Ipv6 => "IPV6",
            Self::LinuxSll2 => "LINUX_SLL2",
        }
    }

    /// "ETHERNET (1), LINUX_SLL (113), ..." for error messages.
    pub(super) fn supported_list() -> String {
        let names: Vec<String> = SUPPORTED
            .iter()
            .map(|(n, link)| format!("{} ({n})", link.name()))
            .collect();
        names.join(", ")
    }

    /// Length of the link-layer header this type puts before the network-layer payload.
    fn header_len(self) -> usize {
        match self {
            Self::Ethernet => ETHERNET_HEADER_LEN,
            Self::Null | Self::Loop => 4,
            Self::Raw | Self::Ipv4 | Self::Ipv6 => 0,
            Self::LinuxSll => 16,
            Self::LinuxSll2 => 20,
        }
    }

    /// The on-the-wire length `wire_len` of a record of this type, counted as the Ethernet frame it becomes.
    pub(super) fn ethernet_len(self, wire_len: u32) -> u32 {
        match self {
            Self::Ethernet => wire_len,
            // `as u32` is exact: header lengths are at most 20.
            _ => wire_len
                .saturating_sub(self.header_len() as u32)
                .saturating_add(ETHERNET_HEADER_LEN as u32),
        }
    }

    /// Turns the record in `buf[ETHERNET_HEADER_LEN..]` into an Ethernet frame inside `buf` and returns it.
    ///
    /// `buf` starts with [`ETHERNET_HEADER_LEN`] bytes of headroom so that a synthesised header always fits in
    /// front of the payload, whatever the original header's length (zero for RAW).
    ///
    /// # Errors
    /// [`Corruption::ShortLinkHeader`] if the record is too short to hold this link type's header.
    pub(super) fn to_ethernet(self, buf: &mut [u8]) -> Result<&[u8], Corruption> {
        if self == Self::Ethernet {
            return Ok(&buf[ETHERNET_HEADER_LEN..]);
        }
        let record = &buf[ETHERNET_HEADER_LEN..];
        let header_len = self.header_len();
        let Some(payload) = record.get(header_len..) else {
            return Err(Corruption::ShortLinkHeader {
                link: self.name(),
                needed: header_len,
                captured: record.len(),
            });
        };
        let ethertype = match self {
            Self::LinuxSll => u16::from_be_bytes([record[14], record[15]]),
            Self::LinuxSll2 => u16::from_be_bytes([record[0], record[1]]),
            Self::Ipv4 => ETHERTYPE_IPV4,
            Self::Ipv6 => ETHERTYPE_IPV6,
            Self::Ethernet | Self::Raw | Self::Null | Self::Loop => match payload.first().map(|b| b >> 4) {
                Some(4) => ETHERTYPE_IPV4,
                Some(6) => ETHERTYPE_IPV6,
                _ => ETHERTYPE_UNKNOWN,
            },
        };
        // The header goes right before the payload; it may overwrite the old link header, which is read above.
        let start = header_len;
        let header = &mut buf[start..start + ETHERNET_HEADER_LEN];
        header[..12].fill(0);
        header[12..].copy_from_slice(&ethertype.to_be_bytes());
        Ok(&buf[start..])
    }
}

/// The LINKTYPE_ name of any link type number, supported or not ("unassigned" for numbers with no name).
pub(super) fn link_type_name(number: u32) -> String {
    match DataLink::from(number) {
        DataLink::Unknown(_) => "unassigned".to_owned(),
        known => format!("{known:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 header's first bytes (version 4, IHL 5) and an IPv6 header's (version 6).
    const IPV4_START: [u8; 4] = [0x45, 0x00, 0x00, 0x54];
    const IPV6_START: [u8; 4] = [0x60, 0x00, 0x00, 0x00];

    /// Runs `to_ethernet` on `record` behind the headroom the reader reserves.
    fn map(link: LinkType, record: &[u8]) -> Result<Vec<u8>, Corruption> {
        let mut buf = vec![0xee; ETHERNET_HEADER_LEN];
        buf.extend_from_slice(record);
        link.to_ethernet(&mut buf).map(<[u8]>::to_vec)
    }

    fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0; 12];
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn ethernet_passes_through() {
        let frame = ethernet(ETHERTYPE_IPV4, &IPV4_START);
        assert_eq!(map(LinkType::Ethernet, &frame), Ok(frame));
        assert_eq!(
            map(LinkType::Ethernet, &[1, 2, 3]),
            Ok(vec![1, 2, 3]),
            "short Ethernet frames are the pipeline's to judge"
        );
    }

    #[test]
    fn linux_sll_takes_protocol_field() {
        // Packet type 0 (to us), ARPHRD_ETHER, 6-byte address, protocol 0x86dd.
        let mut record = vec![0, 0, 0, 1, 0, 6, 0x00, 0x50, 0x56, 0x01, 0x02, 0x03, 0, 0, 0x86, 0xdd];
        record.extend_from_slice(&IPV6_START);
        assert_eq!(
            map(LinkType::LinuxSll, &record),
            Ok(ethernet(ETHERTYPE_IPV6, &IPV6_START))
        );
    }

    #[test]
    fn linux_sll2_takes_protocol_field() {
        // Protocol 0x0806 (ARP), reserved, ifindex 2, ARPHRD_ETHER, packet type 1, 6-byte address.
        let mut record = vec![
            0x08, 0x06, 0, 0, 0, 0, 0, 2, 0, 1, 1, 6, 0x00, 0x50, 0x56, 0x01, 0x02, 0x03, 0, 0,
        ];
        record.extend_from_slice(&[0, 1, 8, 0]);
        assert_eq!(map(LinkType::LinuxSll2, &record), Ok(ethernet(0x0806, &[0, 1, 8, 0])));
    }

    #[test]
    fn raw_uses_version_nibble() {
        assert_eq!(
            map(LinkType::Raw, &IPV4_START),
            Ok(ethernet(ETHERTYPE_IPV4, &IPV4_START))
        );
        assert_eq!(
            map(LinkType::Raw, &IPV6_START),
            Ok(ethernet(ETHERTYPE_IPV6, &IPV6_START))
        );
        assert_eq!(
            map(LinkType::Raw, &[0x12, 0x34]),
            Ok(ethernet(ETHERTYPE_UNKNOWN, &[0x12, 0x34]))
        );
        assert_eq!(map(LinkType::Raw, &[]), Ok(ethernet(ETHERTYPE_UNKNOWN, &[])));
    }

    #[test]
    fn ipv4_and_ipv6_link_types_fix_the_ethertype() {
        assert_eq!(
            map(LinkType::Ipv4, &IPV4_START),
            Ok(ethernet(ETHERTYPE_IPV4, &IPV4_START))
        );
        assert_eq!(
            map(LinkType::Ipv6, &IPV6_START),
            Ok(ethernet(ETHERTYPE_IPV6, &IPV6_START))
        );
    }

    #[test]
    fn null_and_loop_ignore_the_address_family() {
        // AF_INET6 as Linux (10, little-endian host) and macOS (30, network order) write it.
        for family in [[10, 0, 0, 0], [0, 0, 0, 30]] {
            let mut record = family.to_vec();
            record.extend_from_slice(&IPV6_START);
            for link in [LinkType::Null, LinkType::Loop] {
                assert_eq!(
                    map(link, &record),
                    Ok(ethernet(ETHERTYPE_IPV6, &IPV6_START)),
                    "{link:?} {family:?}"
                );
            }
        }
    }

    #[test]
    fn short_link_header_is_an_error() {
        assert_eq!(
            map(LinkType::LinuxSll, &[0; 15]),
            Err(Corruption::ShortLinkHeader {
                link: "LINUX_SLL",
                needed: 16,
                captured: 15
            })
        );
        assert_eq!(
            map(LinkType::Null, &[0; 3]),
            Err(Corruption::ShortLinkHeader {
                link: "NULL",
                needed: 4,
                captured: 3
            })
        );
    }

    #[test]
    fn ethernet_len_counts_the_replaced_header() {
        assert_eq!(LinkType::Ethernet.ethernet_len(60), 60);
        assert_eq!(LinkType::LinuxSll.ethernet_len(100), 98);
        assert_eq!(LinkType::LinuxSll2.ethernet_len(100), 94);
        assert_eq!(LinkType::Raw.ethernet_len(100), 114);
        assert_eq!(LinkType::Null.ethernet_len(100), 110);
        assert_eq!(LinkType::Raw.ethernet_len(u32::MAX), u32::MAX);
    }

    #[test]
    fn numbers_and_names() {
        for (number, link) in SUPPORTED {
            assert_eq!(LinkType::from_number(number), Some(link));
            assert_eq!(link_type_name(number), link.name(), "our names are the registry's");
        }
        assert_eq!(LinkType::from_number(105), None);
        assert_eq!(link_type_name(105), "IEEE802_11");
        assert_eq!(link_type_name(65_000), "unassigned");
    }
}
