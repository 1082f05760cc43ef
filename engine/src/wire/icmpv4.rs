//! ICMP for IPv4 (RFC 792): the 8-byte header every message shares, with the echo fields.
//!
//! VMkernel answers pings (`vmkping` from the other side); the rest of ICMP is counted and passed up, so
//! this view reads the common header and leaves message bodies as bytes.

use super::icmp::{IcmpPacket, V4, field};
use super::{checksum, read_u16, write};

pub use super::icmp::HEADER_LEN;

/// Type of an echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Type of an echo request.
pub const ECHO_REQUEST: u8 = 8;
/// Type of a destination unreachable message.
pub const DEST_UNREACHABLE: u8 = 3;
/// Destination unreachable code: fragmentation needed and DF set (RFC 792, next-hop MTU per RFC 1191).
pub const CODE_FRAG_NEEDED: u8 = 4;

/// Offset of the next-hop MTU in a "fragmentation needed" message (RFC 1191 §4: the low 16 bits of the
/// second header word; the high 16 bits are unused and zero).
const NEXT_HOP_MTU: usize = 6;

/// A view of an ICMPv4 message.
pub type Icmpv4Packet<T> = IcmpPacket<T, V4>;

impl<T: AsRef<[u8]>> IcmpPacket<T, V4> {
    /// Whether the checksum over the whole message is valid.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }

    /// The next-hop MTU of a "fragmentation needed" message (meaningless for other messages).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        read_u16(self.buffer.as_ref(), NEXT_HOP_MTU)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpPacket<T, V4> {
    /// Computes and stores the checksum over the whole message.
    #[inline]
    pub fn fill_checksum(&mut self) {
        write(self.buffer.as_mut(), field::CHECKSUM, [0, 0]);
        let sum = checksum::data(self.buffer.as_ref());
        write(self.buffer.as_mut(), field::CHECKSUM, (!sum).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::WireError;

    /// Echo request, id 0x1234, seq 1, payload "abcd".
    static PACKET_BYTES: [u8; 12] = [0x08, 0x00, 0x21, 0x04, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62, 0x63, 0x64];

    #[test]
    fn deconstruct() {
        let icmp = Icmpv4Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!(
            (icmp.msg_type(), icmp.msg_code(), icmp.checksum()),
            (ECHO_REQUEST, 0, 0x2104)
        );
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (0x1234, 1));
        assert_eq!(icmp.payload(), b"abcd");
        assert!(icmp.verify_checksum());
    }

    #[test]
    fn construct_echo_reply_checksum() {
        let mut bytes = PACKET_BYTES;
        bytes[0] = ECHO_REPLY;
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!icmp.verify_checksum());
        icmp.fill_checksum();
        assert!(icmp.verify_checksum());
        // Type 8 → 0 adds 0x0800 to the checksum field.
        assert_eq!(icmp.checksum(), 0x2904);
    }

    #[test]
    fn construct_frag_needed_header() {
        let mut bytes = [0xffu8; 12];
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        icmp.set_msg_type(DEST_UNREACHABLE);
        icmp.set_msg_code(CODE_FRAG_NEEDED);
        icmp.set_rest_of_header(1500);
        icmp.payload_mut().copy_from_slice(b"abcd");
        icmp.fill_checksum();
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.next_hop_mtu(), 1500);
        assert_eq!(&bytes[..2], &[3, 4]);
        assert_eq!(&bytes[4..], &[0, 0, 0x05, 0xdc, b'a', b'b', b'c', b'd']);
    }

    #[test]
    fn construct_echo_fields() {
        let mut bytes = [0u8; 12];
        let mut icmp = Icmpv4Packet::new_checked(&mut bytes[..]).unwrap();
        icmp.set_msg_type(ECHO_REQUEST);
        icmp.set_echo_ident(0x1234);
        icmp.set_echo_seq_no(1);
        icmp.payload_mut().copy_from_slice(b"abcd");
        icmp.fill_checksum();
        assert_eq!(bytes, PACKET_BYTES);
        let mut short = [0u8; 4];
        assert!(Icmpv4Packet::new_unchecked(&mut short[..]).payload_mut().is_empty());
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..=PACKET_BYTES.len() {
            let result = Icmpv4Packet::new_checked(&PACKET_BYTES[..len]);
            if len < 8 {
                assert_eq!(result, Err(WireError::Truncated), "len {len}");
            } else {
                assert_eq!(result.unwrap().payload(), &PACKET_BYTES[8..len]);
            }
        }
    }
}
