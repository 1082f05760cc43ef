//! UDP headers (RFC 768).
//!
//! The view is made over the IP payload. The UDP length field bounds the payload and must lie between the
//! header size and the IP payload: a length that disagrees with IP is malformed, not something to guess at.

use super::checksum::PseudoHeader;
use super::{WireError, ip_proto, read_u16, slice};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const LENGTH: usize = 4;
    pub(super) const CHECKSUM: usize = 6;
    pub(super) const PAYLOAD: usize = 8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// A view of a UDP datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` (the IP payload) after checking the header and length field.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when shorter than the header, [`WireError::Malformed`] when the length field
    /// is below 8 or beyond the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header and length field against the buffer.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let udp_len = usize::from(self.len());
        if udp_len < HEADER_LEN || udp_len > len {
            return Err(WireError::Malformed);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length field: header and payload in bytes.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Whether the datagram carries no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// Checksum as carried (0: none, allowed over IPv4 only).
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether the checksum is valid for the carrying IP packet's addresses. A zero checksum means "not
    /// computed" and is accepted over IPv4, never over IPv6 (RFC 8200 §8.1).
    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        if self.checksum() == 0 {
            return matches!(pseudo, PseudoHeader::V4 { .. });
        }
        let datagram = slice(self.buffer.as_ref(), 0, usize::from(self.len()));
        pseudo.verify(ip_proto::UDP, datagram)
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> UdpPacket<&'a T> {
    /// The payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        slice(self.buffer.as_ref(), field::PAYLOAD, usize::from(self.len()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// 49152 → 4789, 4 bytes of payload, checksum for 10.10.10.1 → 10.10.10.11.
    static PACKET_BYTES: [u8; 12] = [0xc0, 0x00, 0x12, 0xb5, 0x00, 0x0c, 0x67, 0x63, 0xde, 0xad, 0xbe, 0xef];

    const PSEUDO: PseudoHeader = PseudoHeader::V4 {
        src: Ipv4Addr::new(10, 10, 10, 1),
        dst: Ipv4Addr::new(10, 10, 10, 11),
    };

    #[test]
    fn deconstruct() {
        let udp = UdpPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!((udp.src_port(), udp.dst_port()), (49152, 4789));
        assert_eq!((udp.len(), udp.checksum()), (12, 0x6763));
        assert!(!udp.is_empty());
        assert_eq!(udp.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(udp.verify_checksum(&PSEUDO));
        let other = PseudoHeader::V4 {
            src: Ipv4Addr::new(10, 10, 10, 2),
            dst: Ipv4Addr::new(10, 10, 10, 11),
        };
        assert!(!udp.verify_checksum(&other));
    }

    #[test]
    fn zero_checksum_is_accepted_over_ipv4_only() {
        let mut bytes = PACKET_BYTES;
        bytes[6..8].fill(0);
        let udp = UdpPacket::new_checked(&bytes[..]).unwrap();
        assert!(udp.verify_checksum(&PSEUDO));
        let v6 = PseudoHeader::V6 {
            src: "fd00::1".parse().unwrap(),
            dst: "fd00::2".parse().unwrap(),
        };
        assert!(!udp.verify_checksum(&v6));
    }

    #[test]
    fn length_field_bounds_the_payload() {
        let mut padded = [0u8; 20];
        padded[..12].copy_from_slice(&PACKET_BYTES);
        let udp = UdpPacket::new_checked(&padded[..]).unwrap();
        assert_eq!(udp.payload(), &[0xde, 0xad, 0xbe, 0xef]);
        assert!(udp.verify_checksum(&PSEUDO));
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..PACKET_BYTES.len() {
            let expected = if len < 8 {
                WireError::Truncated
            } else {
                WireError::Malformed
            };
            assert_eq!(UdpPacket::new_checked(&PACKET_BYTES[..len]), Err(expected), "len {len}");
        }
    }

    #[test]
    fn length_field_below_header_or_beyond_buffer() {
        for udp_len in [3u16, 0, 7, 13, 0xffff] {
            let mut bytes = PACKET_BYTES;
            bytes[4..6].copy_from_slice(&udp_len.to_be_bytes());
            assert_eq!(
                UdpPacket::new_checked(&bytes[..]),
                Err(WireError::Malformed),
                "{udp_len}"
            );
            let udp = UdpPacket::new_unchecked(&bytes[..]);
            assert!(udp.payload().len() <= 4);
            assert!(!udp.verify_checksum(&PSEUDO));
        }
        let mut empty = PACKET_BYTES;
        empty[4..6].copy_from_slice(&8u16.to_be_bytes());
        let udp = UdpPacket::new_checked(&empty[..]).unwrap();
        assert!(udp.is_empty() && udp.payload().is_empty());
    }
}
