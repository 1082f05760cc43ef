//! The 8-byte header every ICMP message shares, for IPv4 (RFC 792) and IPv6 (RFC 4443) alike: type, code,
//! checksum and the echo fields. The two families differ only in their constants and in the checksum (ICMPv6
//! covers an IPv6 pseudo-header), so one view serves both, typed by family: [`super::Icmpv4Packet`] and
//! [`super::Icmpv6Packet`] add their checksum methods in their own modules.

use std::marker::PhantomData;

use super::{WireError, checksum, read_u8, read_u16, slice, write};

pub(super) mod field {
    pub(in super::super) const TYPE: usize = 0;
    pub(in super::super) const CODE: usize = 1;
    pub(in super::super) const CHECKSUM: usize = 2;
    pub(in super::super) const ECHO_IDENT: usize = 4;
    pub(in super::super) const ECHO_SEQ_NO: usize = 6;
    /// The second 32-bit word of the header: echo identifier and sequence, or an error's MTU field.
    pub(in super::super) const REST_OF_HEADER: usize = 4;
    pub(in super::super) const PAYLOAD: usize = 8;
}

/// Length of the header shared by all messages.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// ICMP for IPv4.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V4;

/// ICMP for IPv6.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct V6;

/// A view of an ICMP message of family `F` ([`V4`] or [`V6`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpPacket<T: AsRef<[u8]>, F> {
    pub(super) buffer: T,
    family: PhantomData<F>,
}

impl<T: AsRef<[u8]>, F> IcmpPacket<T, F> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self {
            buffer,
            family: PhantomData,
        }
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

    /// Message type.
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
}

impl<T: AsRef<[u8]> + AsMut<[u8]>, F> IcmpPacket<T, F> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, msg_type: u8) {
        write(self.buffer.as_mut(), field::TYPE, [msg_type]);
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, code: u8) {
        write(self.buffer.as_mut(), field::CODE, [code]);
    }

    /// Sets the echo identifier.
    #[inline]
    pub fn set_echo_ident(&mut self, ident: u16) {
        write(self.buffer.as_mut(), field::ECHO_IDENT, ident.to_be_bytes());
    }

    /// Sets the echo sequence number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        write(self.buffer.as_mut(), field::ECHO_SEQ_NO, seq_no.to_be_bytes());
    }

    /// Sets the second header word (bytes 4..8): the echo fields, or an error message's MTU and unused bits.
    #[inline]
    pub fn set_rest_of_header(&mut self, word: u32) {
        write(self.buffer.as_mut(), field::REST_OF_HEADER, word.to_be_bytes());
    }

    /// The message body after the 8-byte header, writable (empty when the buffer is shorter than 8 bytes).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut().get_mut(field::PAYLOAD..).unwrap_or_default()
    }

    /// Changes the message type, updating the checksum incrementally (RFC 1624) instead of summing the
    /// message again: turns an echo request into its reply without reading its payload, which may not even
    /// be in this buffer (a multi-buffer frame).
    #[inline]
    pub fn retype(&mut self, msg_type: u8) {
        let code = self.msg_code();
        let old = u16::from_be_bytes([self.msg_type(), code]);
        let new = u16::from_be_bytes([msg_type, code]);
        let sum = checksum::adjust(self.checksum(), old, new);
        let buf = self.buffer.as_mut();
        write(buf, field::TYPE, [msg_type]);
        write(buf, field::CHECKSUM, sum.to_be_bytes());
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized, F> IcmpPacket<&'a T, F> {
    /// The message body after the 8-byte header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buf = self.buffer.as_ref();
        slice(buf, field::PAYLOAD, buf.len())
    }
}
