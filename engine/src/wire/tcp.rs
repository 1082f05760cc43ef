//! TCP headers (RFC 9293).
//!
//! The view is made over the IP payload, so the segment ends where IP says it does. Only what service
//! demultiplexing and validation need is read: ports, sequence numbers, flags, window, data offset and the
//! checksum; options are handed over as bytes.

use super::checksum::PseudoHeader;
use super::{WireError, ip_proto, read_u8, read_u16, read_u32, slice};

mod field {
    pub(super) const SRC_PORT: usize = 0;
    pub(super) const DST_PORT: usize = 2;
    pub(super) const SEQ_NUM: usize = 4;
    pub(super) const ACK_NUM: usize = 8;
    pub(super) const DATA_OFFSET: usize = 12;
    pub(super) const FLAGS: usize = 13;
    pub(super) const WINDOW: usize = 14;
    pub(super) const CHECKSUM: usize = 16;
    pub(super) const URGENT: usize = 18;
    pub(super) const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;

const FLAG_FIN: u8 = 0x01;
const FLAG_SYN: u8 = 0x02;
const FLAG_RST: u8 = 0x04;
const FLAG_PSH: u8 = 0x08;
const FLAG_ACK: u8 = 0x10;
const FLAG_URG: u8 = 0x20;
const FLAG_ECE: u8 = 0x40;
const FLAG_CWR: u8 = 0x80;

/// A view of a TCP segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` (the IP payload) after checking the header and data offset.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when shorter than 20 bytes, [`WireError::Malformed`] when the data offset is
    /// below 5 words or beyond the buffer.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the header and data offset against the buffer.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let header_len = self.header_len();
        if header_len < MIN_HEADER_LEN || header_len > len {
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

    /// Sequence number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment number (meaningful when [`ack`](Self::ack) is set).
    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes (data offset × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::DATA_OFFSET) >> 4) * 4
    }

    #[inline]
    fn flag(&self, flag: u8) -> bool {
        read_u8(self.buffer.as_ref(), field::FLAGS) & flag != 0
    }

    /// FIN flag.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flag(FLAG_FIN)
    }

    /// SYN flag.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flag(FLAG_SYN)
    }

    /// RST flag.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flag(FLAG_RST)
    }

    /// PSH flag.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flag(FLAG_PSH)
    }

    /// ACK flag.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flag(FLAG_ACK)
    }

    /// URG flag.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flag(FLAG_URG)
    }

    /// ECE flag.
    #[inline]
    pub fn ece(&self) -> bool {
        self.flag(FLAG_ECE)
    }

    /// CWR flag.
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flag(FLAG_CWR)
    }

    /// Receive window, before scaling.
    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW)
    }

    /// Checksum as carried.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent pointer (meaningful when [`urg`](Self::urg) is set).
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// Whether the checksum is valid for the carrying IP packet's addresses (the segment is the whole buffer).
    #[inline]
    pub fn verify_checksum(&self, pseudo: &PseudoHeader) -> bool {
        pseudo.verify(ip_proto::TCP, self.buffer.as_ref())
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The options: the header past its first 20 bytes.
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        slice(self.buffer.as_ref(), field::OPTIONS, self.header_len())
    }

    /// The payload after the header.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buf = self.buffer.as_ref();
        slice(buf, self.header_len(), buf.len())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    /// SYN 49152 → 443, seq 0x01020304, window 64240, MSS 1460 option, 4 bytes of payload, checksum for
    /// 10.10.10.1 → 10.10.10.11.
    static PACKET_BYTES: [u8; 28] = [
        0xc0, 0x00, 0x01, 0xbb, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x60, 0x02, 0xfa, 0xf0, 0xab, 0x4a,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x01, 0x02, 0x03, 0x04,
    ];

    const PSEUDO: PseudoHeader = PseudoHeader::V4 {
        src: Ipv4Addr::new(10, 10, 10, 1),
        dst: Ipv4Addr::new(10, 10, 10, 11),
    };

    #[test]
    fn deconstruct() {
        let tcp = TcpPacket::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!((tcp.src_port(), tcp.dst_port()), (49152, 443));
        assert_eq!((tcp.seq_number(), tcp.ack_number()), (0x0102_0304, 0));
        assert_eq!(tcp.header_len(), 24);
        assert!(tcp.syn());
        assert!(!(tcp.fin() || tcp.rst() || tcp.psh() || tcp.ack() || tcp.urg() || tcp.ece() || tcp.cwr()));
        assert_eq!((tcp.window_len(), tcp.checksum(), tcp.urgent_at()), (64240, 0xab4a, 0));
        assert_eq!(tcp.options(), &[0x02, 0x04, 0x05, 0xb4]);
        assert_eq!(tcp.payload(), &[1, 2, 3, 4]);
        assert!(tcp.verify_checksum(&PSEUDO));
    }

    #[test]
    fn every_flag_has_its_bit() {
        let mut bytes = PACKET_BYTES;
        bytes[13] = 0xff;
        let tcp = TcpPacket::new_checked(&bytes[..]).unwrap();
        assert!(tcp.fin() && tcp.syn() && tcp.rst() && tcp.psh() && tcp.ack() && tcp.urg() && tcp.ece() && tcp.cwr());
        assert!(!tcp.verify_checksum(&PSEUDO));
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..PACKET_BYTES.len() {
            let result = TcpPacket::new_checked(&PACKET_BYTES[..len]);
            match len {
                0..20 => assert_eq!(result, Err(WireError::Truncated), "len {len}"),
                20..24 => assert_eq!(result, Err(WireError::Malformed), "len {len}"),
                _ => assert_eq!(result.unwrap().payload(), &PACKET_BYTES[24..len]),
            }
        }
    }

    #[test]
    fn data_offset_below_5_or_beyond_buffer() {
        for offset in [0u8, 4, 8, 15] {
            let mut bytes = PACKET_BYTES;
            bytes[12] = offset << 4;
            assert_eq!(
                TcpPacket::new_checked(&bytes[..]),
                Err(WireError::Malformed),
                "{offset}"
            );
            let tcp = TcpPacket::new_unchecked(&bytes[..]);
            let _ = (tcp.options(), tcp.payload(), tcp.verify_checksum(&PSEUDO));
        }
    }
}
