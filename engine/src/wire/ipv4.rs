//! IPv4 headers (RFC 791).
//!
//! [`Ipv4Packet::new_checked`] tells apart the malformations the pipeline counts separately (version, header
//! length, total length); the header checksum is checked on its own ([`Ipv4Packet::verify_checksum`]) since
//! it costs a pass over the header. The payload is bounded by the total length, so Ethernet padding never
//! reaches the transport parsers.

use std::net::Ipv4Addr;

use super::{checksum, read, read_u8, read_u16, slice, write};

mod field {
    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const TOTAL_LEN: usize = 2;
    pub(super) const IDENT: usize = 4;
    pub(super) const FLAGS_FRAG: usize = 6;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: usize = 10;
    pub(super) const SRC_ADDR: usize = 12;
    pub(super) const DST_ADDR: usize = 16;
    pub(super) const OPTIONS: usize = 20;
}

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = field::OPTIONS;
/// Option type: End of Options List (one byte, also the padding).
pub const OPTION_END: u8 = 0;
/// Option type: No Operation (one byte).
pub const OPTION_NOP: u8 = 1;
/// Option type bit: the option is copied into every fragment (RFC 791 §3.1).
pub const OPTION_COPIED: u8 = 0x80;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// Why a buffer is not a well-formed IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Ipv4Error {
    /// Shorter than a header without options.
    #[error("truncated IPv4 header")]
    Truncated,
    /// The version field is not 4.
    #[error("IP version is not 4")]
    BadVersion,
    /// IHL below 5 words, or a header longer than the buffer.
    #[error("bad IPv4 header length")]
    BadHeaderLength,
    /// Total length smaller than the header or larger than the buffer.
    #[error("bad IPv4 total length")]
    BadTotalLength,
}

/// A view of an IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking the version, header length and total length.
    ///
    /// # Errors
    /// See [`Ipv4Error`]; the checks run in the order of its variants.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Ipv4Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the version, header length and total length against the buffer.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), Ipv4Error> {
        self.check_len_on_wire(self.buffer.as_ref().len())
    }

    /// As [`check_len`](Self::check_len) for a buffer holding only the first bytes of a packet whose bytes
    /// on the wire, from the IP header on, number `wire_len` (the first buffer of a multi-buffer frame): the
    /// header must be in the buffer, the total length within `wire_len`. Accessors then see the buffer's part
    /// of the payload.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len_on_wire(&self, wire_len: usize) -> Result<(), Ipv4Error> {
        let len = self.buffer.as_ref().len();
        if len < MIN_HEADER_LEN {
            return Err(Ipv4Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Ipv4Error::BadVersion);
        }
        let header_len = self.header_len();
        if header_len < MIN_HEADER_LEN || header_len > len {
            return Err(Ipv4Error::BadHeaderLength);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len || total_len > wire_len.max(len) {
            return Err(Ipv4Error::BadTotalLength);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (4 on a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_IHL) >> 4
    }

    /// Header length in bytes (IHL × 4), options included.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(read_u8(self.buffer.as_ref(), field::VER_IHL) & 0x0f) * 4
    }

    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::DSCP_ECN) >> 2
    }

    /// Explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::DSCP_ECN) & 0x03
    }

    /// Total length of the packet (header and payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::TOTAL_LEN)
    }

    /// Identification, shared by the fragments of one datagram.
    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// Don't Fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_DF != 0
    }

    /// More Fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FLAG_MF != 0
    }

    /// Fragment offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & FRAG_OFFSET_MASK) << 3
    }

    /// Whether this is a fragment (first or not) of a larger datagram.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLAGS_FRAG) & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::TTL)
    }

    /// Protocol of the payload (see [`ip_proto`](super::ip_proto)).
    #[inline]
    pub fn protocol(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Header checksum as carried.
    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read::<4>(self.buffer.as_ref(), field::SRC_ADDR))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read::<4>(self.buffer.as_ref(), field::DST_ADDR))
    }

    /// Whether the header checksum is valid.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let buf = self.buffer.as_ref();
        let header_len = self.header_len();
        let sum = match buf.first_chunk::<MIN_HEADER_LEN>() {
            Some(header) if header_len == MIN_HEADER_LEN => checksum::header_20(header),
            _ => checksum::data(slice(buf, 0, header_len)),
        };
        sum == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The options: the header past its first 20 bytes (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &'a [u8] {
        slice(self.buffer.as_ref(), field::OPTIONS, self.header_len())
    }

    /// The payload: from the end of the header to the total length (Ethernet padding excluded), or to the end
    /// of the buffer when it holds only the first bytes of the packet.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buffer = self.buffer.as_ref();
        slice(
            buffer,
            self.header_len(),
            usize::from(self.total_len()).min(buffer.len()),
        )
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets version 4 and the header length in bytes (a multiple of 4, 20 to 60; other values are rounded
    /// down and clamped so the field stays meaningful).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        let words = (header_len / 4).clamp(5, 15) as u8;
        write(self.buffer.as_mut(), field::VER_IHL, [0x40 | words]);
    }

    /// Sets the DSCP and ECN bits.
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        write(self.buffer.as_mut(), field::DSCP_ECN, [(dscp << 2) | (ecn & 0x03)]);
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, total_len: u16) {
        write(self.buffer.as_mut(), field::TOTAL_LEN, total_len.to_be_bytes());
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, ident: u16) {
        write(self.buffer.as_mut(), field::IDENT, ident.to_be_bytes());
    }

    /// Sets the DF and MF flags and the fragment offset, given in bytes (a multiple of 8: the field counts
    /// 8-byte units, so the low three bits are dropped).
    #[inline]
    pub fn set_flags_and_frag_offset(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut value = (offset >> 3) & FRAG_OFFSET_MASK;
        if dont_frag {
            value |= FLAG_DF;
        }
        if more_frags {
            value |= FLAG_MF;
        }
        write(self.buffer.as_mut(), field::FLAGS_FRAG, value.to_be_bytes());
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        write(self.buffer.as_mut(), field::TTL, [ttl]);
    }

    /// Sets the payload protocol.
    #[inline]
    pub fn set_protocol(&mut self, protocol: u8) {
        write(self.buffer.as_mut(), field::PROTOCOL, [protocol]);
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        write(self.buffer.as_mut(), field::SRC_ADDR, addr.octets());
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        write(self.buffer.as_mut(), field::DST_ADDR, addr.octets());
    }

    /// Computes and stores the header checksum.
    #[inline]
    pub fn fill_checksum(&mut self) {
        write(self.buffer.as_mut(), field::CHECKSUM, [0, 0]);
        let sum = checksum::data(slice(self.buffer.as_ref(), 0, self.header_len()));
        write(self.buffer.as_mut(), field::CHECKSUM, (!sum).to_be_bytes());
    }

    /// Readdresses the packet back to its sender, from the address it was sent to, with a fresh `ttl`, and
    /// stores the new header checksum: the IP half of answering a request in place.
    #[inline]
    pub fn turn_around(&mut self, ttl: u8) {
        let (src, dst) = (self.src_addr(), self.dst_addr());
        let buf = self.buffer.as_mut();
        write(buf, field::SRC_ADDR, dst.octets());
        write(buf, field::DST_ADDR, src.octets());
        write(buf, field::TTL, [ttl]);
        self.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip_proto;

    /// 10.10.10.1 → 10.10.10.11, DSCP EF, DF, TTL 64, UDP, one 4-byte option (NOP NOP NOP EOL), 12 bytes of
    /// payload.
    static PACKET_BYTES: [u8; 36] = [
        0x46, 0xb8, 0x00, 0x24, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0xfc, 0xbc, 0x0a, 0x0a, 0x0a, 0x01, 0x0a, 0x0a,
        0x0a, 0x0b, 0x01, 0x01, 0x01, 0x00, 0xc0, 0x00, 0x12, 0xb5, 0x00, 0x0c, 0x67, 0x63, 0xde, 0xad, 0xbe, 0xef,
    ];

    fn with(edit: impl FnOnce(&mut [u8; 36])) -> [u8; 36] {
        let mut bytes = PACKET_BYTES;
        edit(&mut bytes);
        bytes
    }

    #[test]
    fn deconstruct() {
        let ip = Ipv4Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!((ip.version(), ip.header_len()), (4, 24));
        assert_eq!((ip.dscp(), ip.ecn()), (46, 0));
        assert_eq!((ip.total_len(), ip.ident()), (36, 0x1234));
        assert!(ip.dont_frag() && !ip.more_frags() && !ip.is_fragment());
        assert_eq!(ip.frag_offset(), 0);
        assert_eq!((ip.ttl(), ip.protocol(), ip.checksum()), (64, ip_proto::UDP, 0xfcbc));
        assert_eq!(ip.src_addr(), Ipv4Addr::new(10, 10, 10, 1));
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(10, 10, 10, 11));
        assert_eq!(ip.options(), &[1, 1, 1, 0]);
        assert_eq!(ip.payload(), &PACKET_BYTES[24..]);
        assert!(ip.verify_checksum());
    }

    #[test]
    fn construct_checksum() {
        let mut bytes = with(|b| b[10..12].copy_from_slice(&[0xaa, 0xbb]));
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        assert!(!ip.verify_checksum());
        ip.fill_checksum();
        assert!(ip.verify_checksum());
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn construct_every_field() {
        let mut bytes = [0u8; 36];
        bytes[20..24].copy_from_slice(&[1, 1, 1, 0]);
        bytes[24..].copy_from_slice(&PACKET_BYTES[24..]);
        let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip.set_version_and_header_len(24);
        ip.set_dscp_ecn(46, 0);
        ip.set_total_len(36);
        ip.set_ident(0x1234);
        ip.set_flags_and_frag_offset(true, false, 0);
        ip.set_ttl(64);
        ip.set_protocol(ip_proto::UDP);
        ip.set_src_addr(Ipv4Addr::new(10, 10, 10, 1));
        ip.set_dst_addr(Ipv4Addr::new(10, 10, 10, 11));
        ip.fill_checksum();
        assert_eq!(bytes, PACKET_BYTES);
    }

    #[test]
    fn construct_fragment_fields() {
        let mut bytes = PACKET_BYTES;
        let mut ip = Ipv4Packet::new_checked(&mut bytes[..]).unwrap();
        ip.set_flags_and_frag_offset(false, true, 1480);
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(!ip.dont_frag() && ip.more_frags());
        assert_eq!(ip.frag_offset(), 1480);
        assert_eq!(&bytes[6..8], &(0x2000u16 | 185).to_be_bytes());
    }

    #[test]
    fn fragment_fields() {
        // MF set, offset 185 units = 1480 bytes.
        let bytes = with(|b| b[6..8].copy_from_slice(&(0x2000u16 | 185).to_be_bytes()));
        let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert!(ip.more_frags() && !ip.dont_frag() && ip.is_fragment());
        assert_eq!(ip.frag_offset(), 1480);
        let last = with(|b| b[6..8].copy_from_slice(&0x1fffu16.to_be_bytes()));
        assert_eq!(Ipv4Packet::new_checked(&last[..]).unwrap().frag_offset(), 0xfff8);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut padded = [0u8; 60];
        padded[..36].copy_from_slice(&PACKET_BYTES);
        let ip = Ipv4Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(ip.payload(), &PACKET_BYTES[24..]);
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..PACKET_BYTES.len() {
            let expected = match len {
                0..20 => Ipv4Error::Truncated,
                20..24 => Ipv4Error::BadHeaderLength,
                _ => Ipv4Error::BadTotalLength,
            };
            assert_eq!(
                Ipv4Packet::new_checked(&PACKET_BYTES[..len]),
                Err(expected),
                "len {len}"
            );
        }
    }

    #[test]
    fn bad_version() {
        let bytes = with(|b| b[0] = 0x66);
        assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Ipv4Error::BadVersion));
    }

    #[test]
    fn small_ihl() {
        let bytes = with(|b| b[0] = 0x44);
        assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Ipv4Error::BadHeaderLength));
    }

    #[test]
    fn ihl_15_on_a_short_buffer() {
        let bytes = with(|b| b[0] = 0x4f);
        assert_eq!(Ipv4Packet::new_checked(&bytes[..]), Err(Ipv4Error::BadHeaderLength));
        let ip = Ipv4Packet::new_unchecked(&bytes[..]);
        assert_eq!(ip.header_len(), 60);
        assert_eq!((ip.options(), ip.payload()), (&[][..], &[][..]));
        assert!(!ip.verify_checksum());
    }

    #[test]
    fn total_len_beyond_buffer_or_inside_header() {
        for total_len in [0xffff, 37, 23, 0] {
            let bytes = with(|b| b[2..4].copy_from_slice(&u16::to_be_bytes(total_len)));
            assert_eq!(
                Ipv4Packet::new_checked(&bytes[..]),
                Err(Ipv4Error::BadTotalLength),
                "{total_len}"
            );
        }
    }

    /// The first buffer of a multi-buffer frame: lengths are judged on the wire, headers on the buffer.
    #[test]
    fn lengths_on_the_wire() {
        let bytes = with(|b| b[2..4].copy_from_slice(&9000u16.to_be_bytes()));
        let ip = Ipv4Packet::new_unchecked(&bytes[..]);
        assert_eq!(ip.check_len_on_wire(9000), Ok(()));
        assert_eq!(ip.check_len_on_wire(8999), Err(Ipv4Error::BadTotalLength));
        assert_eq!(ip.payload(), &bytes[ip.header_len()..], "the payload bytes at hand");
        let header_cut = Ipv4Packet::new_unchecked(&bytes[..22]);
        assert_eq!(header_cut.check_len_on_wire(9000), Err(Ipv4Error::BadHeaderLength));
    }
}
