//! ICMP for IPv6 (RFC 4443) and the neighbour discovery messages a vmk answers (RFC 4861).
//!
//! [`Icmpv6Packet`] reads the 8-byte header shared by every message (with the echo fields).
//! [`NeighborMessage`] reads a neighbour solicitation or advertisement: its target address, its flags and
//! the link-layer address options. The options are validated once by `new_checked`: an option of length 0
//! would make a naive walker loop forever, so it is malformed, as is one running past the message. The walk
//! moves at least 8 bytes a step and allocates nothing.

use std::net::Ipv6Addr;

use super::icmp::{IcmpPacket, V6};
use super::{WireError, checksum, ip_proto, read, read_u8, read_u32, slice, write};

pub use super::icmp::HEADER_LEN;

mod field {
    pub(super) use super::super::icmp::field::{CHECKSUM, CODE, TYPE};

    pub(super) const NEIGHBOR_FLAGS: usize = 4;
    pub(super) const TARGET_ADDR: usize = 8;
    pub(super) const OPTIONS: usize = 24;
}
/// Length of a neighbour solicitation or advertisement without options.
pub const NEIGHBOR_LEN: usize = field::OPTIONS;
/// Length of a neighbour advertisement carrying its target link-layer address option.
pub const ADVERTISEMENT_LEN: usize = NEIGHBOR_LEN + OPT_UNIT;
/// Type of a Packet Too Big message (RFC 4443 §3.2): the MTU is the second header word.
pub const PACKET_TOO_BIG: u8 = 2;
/// Type of an echo request.
pub const ECHO_REQUEST: u8 = 128;
/// Type of an echo reply.
pub const ECHO_REPLY: u8 = 129;
/// Type of a neighbour solicitation.
pub const NEIGHBOR_SOLICITATION: u8 = 135;
/// Type of a neighbour advertisement.
pub const NEIGHBOR_ADVERTISEMENT: u8 = 136;

/// Option type: source link-layer address.
const OPT_SOURCE_LINK_ADDR: u8 = 1;
/// Option type: target link-layer address.
const OPT_TARGET_LINK_ADDR: u8 = 2;
/// Options are counted in units of 8 bytes; an Ethernet link-layer address option is one unit.
const OPT_UNIT: usize = 8;
/// Length of a neighbour solicitation carrying its source link-layer address option.
pub const SOLICITATION_LEN: usize = NEIGHBOR_LEN + OPT_UNIT;

const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A view of an ICMPv6 message.
pub type Icmpv6Packet<T> = IcmpPacket<T, V6>;

impl<T: AsRef<[u8]>> IcmpPacket<T, V6> {
    /// Whether the checksum over the message and the IPv6 pseudo-header of `src` → `dst` is valid.
    #[inline]
    pub fn verify_checksum(&self, src: &Ipv6Addr, dst: &Ipv6Addr) -> bool {
        let buf = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, buf.len());
        checksum::combine(&[pseudo, checksum::data(buf)]) == 0xffff
    }
}

impl<T: AsRef<[u8]>> IcmpPacket<T, V6> {
    /// The MTU of a Packet Too Big message (meaningless for other messages).
    #[inline]
    pub fn mtu(&self) -> u32 {
        read_u32(self.buffer.as_ref(), super::icmp::field::REST_OF_HEADER)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T, V6> {
    /// Computes and stores the checksum for a message sent from `src` to `dst`.
    #[inline]
    pub fn fill_checksum(&mut self, src: &Ipv6Addr, dst: &Ipv6Addr) {
        write(self.buffer.as_mut(), field::CHECKSUM, [0, 0]);
        let buf = self.buffer.as_ref();
        let pseudo = checksum::pseudo_header_v6(src, dst, ip_proto::ICMPV6, buf.len());
        let sum = checksum::combine(&[pseudo, checksum::data(buf)]);
        write(self.buffer.as_mut(), field::CHECKSUM, (!sum).to_be_bytes());
    }
}

/// Which neighbour discovery message a [`NeighborMessage`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeighborKind {
    /// Neighbour solicitation (type 135).
    Solicitation,
    /// Neighbour advertisement (type 136).
    Advertisement,
}

/// A view of a neighbour solicitation or advertisement (the whole ICMPv6 message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborMessage<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> NeighborMessage<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end, and the
    /// link-layer addresses of malformed options read as absent.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` (an ICMPv6 message) after checking it is a neighbour solicitation or advertisement
    /// with well-formed options.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when shorter than 24 bytes or when an option runs past the end,
    /// [`WireError::Malformed`] for another type, a non-zero code, an option of length 0, or a link-layer
    /// address option that is not one Ethernet address.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the message type, code, length and options.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        if buf.len() < NEIGHBOR_LEN {
            return Err(WireError::Truncated);
        }
        let msg_type = read_u8(buf, field::TYPE);
        if !matches!(msg_type, NEIGHBOR_SOLICITATION | NEIGHBOR_ADVERTISEMENT) || read_u8(buf, field::CODE) != 0 {
            return Err(WireError::Malformed);
        }
        link_addrs(self.options_bytes()).map(drop)
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Solicitation or advertisement (an unchecked view of another type reads as a solicitation).
    #[inline]
    pub fn kind(&self) -> NeighborKind {
        match read_u8(self.buffer.as_ref(), field::TYPE) {
            NEIGHBOR_ADVERTISEMENT => NeighborKind::Advertisement,
            _ => NeighborKind::Solicitation,
        }
    }

    /// The address being resolved (solicitation) or advertised (advertisement).
    #[inline]
    pub fn target_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), field::TARGET_ADDR))
    }

    #[inline]
    fn flag(&self, flag: u8) -> bool {
        self.kind() == NeighborKind::Advertisement && read_u8(self.buffer.as_ref(), field::NEIGHBOR_FLAGS) & flag != 0
    }

    /// Advertisement R flag: the sender is a router (always false for a solicitation).
    #[inline]
    pub fn router_flag(&self) -> bool {
        self.flag(FLAG_ROUTER)
    }

    /// Advertisement S flag: sent in response to a solicitation (always false for a solicitation).
    #[inline]
    pub fn solicited_flag(&self) -> bool {
        self.flag(FLAG_SOLICITED)
    }

    /// Advertisement O flag: override an existing cache entry (always false for a solicitation).
    #[inline]
    pub fn override_flag(&self) -> bool {
        self.flag(FLAG_OVERRIDE)
    }

    /// The source link-layer address option, if present (the first one).
    #[inline]
    pub fn source_link_addr(&self) -> Option<[u8; 6]> {
        link_addrs(self.options_bytes()).ok()?.source
    }

    /// The target link-layer address option, if present (the first one).
    #[inline]
    pub fn target_link_addr(&self) -> Option<[u8; 6]> {
        link_addrs(self.options_bytes()).ok()?.target
    }

    #[inline]
    fn options_bytes(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        slice(buf, field::OPTIONS, buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> NeighborMessage<T> {
    /// Writes a neighbour solicitation for `target` with a source link-layer address option carrying
    /// `source_link_addr` (RFC 4861 §4.3; the option is required when the source address is specified).
    /// The checksum is left zero: fill it with [`Icmpv6Packet::fill_checksum`] once the IPv6 addresses are
    /// known. Returns the message length, or `None` when the buffer is too short (nothing is written then).
    #[inline]
    pub fn emit_solicitation(&mut self, target: Ipv6Addr, source_link_addr: [u8; 6]) -> Option<usize> {
        let buf = self.buffer.as_mut().get_mut(..SOLICITATION_LEN)?;
        write(buf, field::TYPE, [NEIGHBOR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
        write(buf, field::TARGET_ADDR, target.octets());
        write(buf, field::OPTIONS, [OPT_SOURCE_LINK_ADDR, 1]);
        write(buf, field::OPTIONS + 2, source_link_addr);
        Some(SOLICITATION_LEN)
    }

    /// Writes a neighbour advertisement for `target` at `mac` (override set, solicited as told) with its
    /// target link-layer address option, and returns its length ([`ADVERTISEMENT_LEN`]); nothing is written
    /// when the buffer is shorter. The checksum is left zero: fill it with [`Icmpv6Packet::fill_checksum`]
    /// once the addresses are known.
    #[inline]
    pub fn emit_advertisement(&mut self, target: Ipv6Addr, solicited: bool, mac: [u8; 6]) -> Option<usize> {
        let buf = self.buffer.as_mut().get_mut(..ADVERTISEMENT_LEN)?;
        let flags = FLAG_OVERRIDE | if solicited { FLAG_SOLICITED } else { 0 };
        write(buf, field::TYPE, [NEIGHBOR_ADVERTISEMENT, 0, 0, 0]);
        write(buf, field::NEIGHBOR_FLAGS, [flags, 0, 0, 0]);
        write(buf, field::TARGET_ADDR, target.octets());
        write(buf, field::OPTIONS, [OPT_TARGET_LINK_ADDR, 1]);
        write(buf, field::OPTIONS + 2, mac);
        Some(ADVERTISEMENT_LEN)
    }
}

/// The link-layer addresses carried in neighbour discovery options.
#[derive(Clone, Copy, Debug, Default)]
struct LinkAddrs {
    source: Option<[u8; 6]>,
    target: Option<[u8; 6]>,
}

/// Walks `options`: each is (type, length in 8-byte units, data). At most `options.len() / 8` steps.
fn link_addrs(options: &[u8]) -> Result<LinkAddrs, WireError> {
    let mut addrs = LinkAddrs::default();
    let mut rest = options;
    while let Some(&[kind, units]) = rest.first_chunk::<2>() {
        let len = usize::from(units) * OPT_UNIT;
        if len == 0 {
            return Err(WireError::Malformed);
        }
        let Some((option, tail)) = rest.split_at_checked(len) else {
            return Err(WireError::Truncated);
        };
        let slot = match kind {
            OPT_SOURCE_LINK_ADDR => &mut addrs.source,
            OPT_TARGET_LINK_ADDR => &mut addrs.target,
            _ => {
                rest = tail;
                continue;
            }
        };
        if len != OPT_UNIT {
            return Err(WireError::Malformed);
        }
        slot.get_or_insert(read(option, 2));
        rest = tail;
    }
    if rest.is_empty() {
        Ok(addrs)
    } else {
        Err(WireError::Truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Echo request, id 0x1234, seq 7, payload "ping", checksum for fd00::1 → fd00::11.
    static ECHO_BYTES: [u8; 12] = [0x80, 0x00, 0x94, 0x99, 0x12, 0x34, 0x00, 0x07, 0x70, 0x69, 0x6e, 0x67];

    /// Neighbour solicitation for fd00::11 with source link-layer address 02:00:00:00:00:01, checksum for
    /// fd00::1 → ff02::1:ff00:11.
    static SOLICITATION_BYTES: [u8; 32] = [
        0x87, 0x00, 0x7d, 0x79, 0x00, 0x00, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct_echo() {
        let icmp = Icmpv6Packet::new_checked(&ECHO_BYTES[..]).unwrap();
        assert_eq!(
            (icmp.msg_type(), icmp.msg_code(), icmp.checksum()),
            (ECHO_REQUEST, 0, 0x9499)
        );
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x1234, 7));
        assert_eq!(icmp.payload(), b"ping");
        assert!(icmp.verify_checksum(&addr("fd00::1"), &addr("fd00::11")));
        assert!(!icmp.verify_checksum(&addr("fd00::2"), &addr("fd00::11")));
    }

    #[test]
    fn construct_echo_reply_checksum() {
        let mut bytes = ECHO_BYTES;
        bytes[0] = ECHO_REPLY;
        let mut icmp = Icmpv6Packet::new_checked(&mut bytes[..]).unwrap();
        let (src, dst) = (addr("fd00::11"), addr("fd00::1"));
        assert!(!icmp.verify_checksum(&src, &dst));
        icmp.fill_checksum(&src, &dst);
        assert!(icmp.verify_checksum(&src, &dst));
    }

    #[test]
    fn deconstruct_solicitation() {
        let icmp = Icmpv6Packet::new_checked(&SOLICITATION_BYTES[..]).unwrap();
        assert_eq!(icmp.msg_type(), NEIGHBOR_SOLICITATION);
        assert!(icmp.verify_checksum(&addr("fd00::1"), &addr("ff02::1:ff00:11")));
        let ns = NeighborMessage::new_checked(icmp.into_inner()).unwrap();
        assert_eq!(ns.kind(), NeighborKind::Solicitation);
        assert_eq!(ns.target_addr(), addr("fd00::11"));
        assert_eq!(ns.source_link_addr(), Some([0x02, 0, 0, 0, 0, 1]));
        assert_eq!(ns.target_link_addr(), None);
        assert!(!ns.router_flag() && !ns.solicited_flag() && !ns.override_flag());
    }

    #[test]
    fn construct_solicitation() {
        let mut bytes = [0xaau8; 40];
        let mut ns = NeighborMessage::new_unchecked(&mut bytes[..]);
        assert_eq!(ns.emit_solicitation(addr("fd00::11"), [0x02, 0, 0, 0, 0, 1]), Some(32));
        let mut icmp = Icmpv6Packet::new_checked(&mut bytes[..32]).unwrap();
        icmp.fill_checksum(&addr("fd00::1"), &addr("ff02::1:ff00:11"));
        assert_eq!(bytes[..32], SOLICITATION_BYTES);
        assert_eq!(bytes[32..], [0xaa; 8]);
        let mut short = [0u8; 31];
        assert_eq!(
            NeighborMessage::new_unchecked(&mut short[..]).emit_solicitation(addr("fd00::11"), [0; 6]),
            None
        );
        assert_eq!(short, [0; 31]);
    }

    #[test]
    fn packet_too_big_mtu() {
        let bytes = [PACKET_TOO_BIG, 0, 0, 0, 0, 0, 0x05, 0xdc];
        let icmp = Icmpv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!((icmp.msg_type(), icmp.mtu()), (PACKET_TOO_BIG, 1500));
    }

    #[test]
    fn deconstruct_advertisement() {
        let mut bytes = SOLICITATION_BYTES;
        bytes[0] = NEIGHBOR_ADVERTISEMENT;
        bytes[4] = FLAG_SOLICITED | FLAG_OVERRIDE;
        bytes[24] = OPT_TARGET_LINK_ADDR;
        let na = NeighborMessage::new_checked(&bytes[..]).unwrap();
        assert_eq!(na.kind(), NeighborKind::Advertisement);
        assert!(!na.router_flag() && na.solicited_flag() && na.override_flag());
        assert_eq!(
            (na.source_link_addr(), na.target_link_addr()),
            (None, Some([0x02, 0, 0, 0, 0, 1]))
        );
    }

    #[test]
    fn options_are_walked_past_unknown_ones() {
        let mut bytes = SOLICITATION_BYTES[..24].to_vec();
        bytes.extend_from_slice(&[14, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // nonce-like, 16 bytes
        bytes.extend_from_slice(&[2, 1, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        bytes.extend_from_slice(&[2, 1, 1, 1, 1, 1, 1, 1]); // a second one is ignored
        let ns = NeighborMessage::new_checked(&bytes[..]).unwrap();
        assert_eq!(ns.target_link_addr(), Some([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]));
        assert_eq!(ns.source_link_addr(), None);
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..=SOLICITATION_BYTES.len() {
            let bytes = &SOLICITATION_BYTES[..len];
            assert_eq!(Icmpv6Packet::new_checked(bytes).is_ok(), len >= 8, "len {len}");
            let expected = if len == 24 || len == 32 {
                Ok(())
            } else {
                Err(WireError::Truncated)
            };
            assert_eq!(NeighborMessage::new_checked(bytes).map(drop), expected, "len {len}");
        }
    }

    #[test]
    fn option_length_0_is_malformed() {
        let mut bytes = SOLICITATION_BYTES;
        bytes[25] = 0;
        assert_eq!(NeighborMessage::new_checked(&bytes[..]), Err(WireError::Malformed));
        let ns = NeighborMessage::new_unchecked(&bytes[..]);
        assert_eq!((ns.source_link_addr(), ns.target_link_addr()), (None, None));
    }

    #[test]
    fn option_past_the_end_or_of_the_wrong_size() {
        let mut bytes = SOLICITATION_BYTES;
        bytes[25] = 2;
        assert_eq!(NeighborMessage::new_checked(&bytes[..]), Err(WireError::Truncated));
        let mut long = SOLICITATION_BYTES.to_vec();
        long[25] = 2;
        long.extend_from_slice(&[0; 8]);
        assert_eq!(NeighborMessage::new_checked(&long[..]), Err(WireError::Malformed));
    }

    #[test]
    fn other_types_and_codes_are_not_neighbor_messages() {
        let mut bytes = SOLICITATION_BYTES;
        bytes[1] = 1;
        assert_eq!(NeighborMessage::new_checked(&bytes[..]), Err(WireError::Malformed));
        let mut echo = SOLICITATION_BYTES;
        echo[0] = ECHO_REQUEST;
        assert_eq!(NeighborMessage::new_checked(&echo[..]), Err(WireError::Malformed));
    }
}
