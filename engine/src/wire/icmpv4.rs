//! ICMP for IPv4 (RFC 792): the 8-byte header every message shares, with the echo fields.
//!
//! VMkernel answers pings (`vmkping` from the other side); the rest of ICMP is counted and passed up, so
//! this view reads the common header and leaves message bodies as bytes.

use super::{WireError, checksum, read_u8, read_u16, slice, write};

mod field {
    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: usize = 2;
    pub(super) const ECHO_IDENT: usize = 4;
    pub(super) const ECHO_SEQ_NO: usize = 6;
    pub(super) const PAYLOAD: usize = 8;
}

/// Length of the header shared by all messages.
pub const HEADER_LEN: usize = field::PAYLOAD;
/// Type of an echo reply.
pub const ECHO_REPLY: u8 = 0;
/// Type of an echo request.
pub const ECHO_REQUEST: u8 = 8;

/// A view of an ICMPv4 message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmpv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` (the IP payload) after checking it holds the 8-byte header.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when shorter than 8 bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the buffer holds the 8-byte header.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type ([`ECHO_REQUEST`], [`ECHO_REPLY`], ...).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TYPE)
    }

    /// Message code.
    #[inline]
    pub fn msg_code(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::CODE)
    }

    /// Checksum as carried.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Echo identifier (meaningful for echo messages only).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Echo sequence number (meaningful for echo messages only).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQ_NO)
    }

    /// Whether the checksum over the whole message is valid.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Icmpv4Packet<&'a T> {
    /// The message body after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buf = self.buffer.as_ref();
        slice(buf, field::PAYLOAD, buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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
