//! IPv6 fixed headers (RFC 8200) and the walk of their extension-header chain.
//!
//! [`Ipv6Packet::upper_layer`] skips Hop-by-Hop (first only), Routing, Destination Options and Fragment
//! headers to find the upper-layer protocol, in at most [`MAX_EXTENSION_HEADERS`] steps and without
//! allocating, so a hostile chain costs a bounded amount of work. Every other Next Header value (including
//! AH, ESP and No Next Header) ends the walk and is returned as the upper layer for the caller to judge.

use std::net::Ipv6Addr;

use super::{ip_proto, read, read_u8, read_u16, read_u32, slice, write};

mod field {
    pub(super) const VER_TC_FLOW: usize = 0;
    pub(super) const PAYLOAD_LEN: usize = 4;
    pub(super) const NEXT_HEADER: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC_ADDR: usize = 8;
    pub(super) const DST_ADDR: usize = 24;
    pub(super) const PAYLOAD: usize = 40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = field::PAYLOAD;

/// The most extension headers [`Ipv6Packet::upper_layer`] walks before giving up.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Every extension header is a multiple of 8 bytes; the first 8 hold what the walk reads.
const EXT_UNIT: usize = 8;

/// Why a buffer is not a well-formed IPv6 packet, or its extension chain cannot be walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Ipv6Error {
    /// Shorter than the fixed header.
    #[error("truncated IPv6 header")]
    Truncated,
    /// The version field is not 6.
    #[error("IP version is not 6")]
    BadVersion,
    /// Payload length larger than the buffer.
    #[error("IPv6 payload length beyond the frame")]
    BadPayloadLength,
    /// An extension header that does not fit in the payload, or a Hop-by-Hop header that is not first.
    #[error("bad IPv6 extension header")]
    BadExtensionHeader,
    /// More than [`MAX_EXTENSION_HEADERS`] extension headers.
    #[error("IPv6 extension header chain too long")]
    ExtensionChainTooLong,
}

/// The Fragment header of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    /// Offset of this fragment's data in the original packet, in bytes.
    pub offset: u16,
    /// M flag: more fragments follow.
    pub more_fragments: bool,
    /// Identification, shared by the fragments of one packet.
    pub ident: u32,
}

/// Where the extension-header chain of a packet ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6UpperLayer<'a> {
    /// The upper-layer protocol (see [`ip_proto`]).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// The Fragment header, if the packet is a fragment. For a non-first fragment (`offset != 0`) the walk
    /// stops at it: `protocol` is its Next Header and `payload` is fragment data, not a header.
    pub fragment: Option<Ipv6Fragment>,
    /// The upper-layer packet, up to the end of the IPv6 payload.
    pub payload: &'a [u8],
}

/// A view of an IPv6 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking the fixed header, version and payload length. The extension chain is
    /// checked by [`upper_layer`](Ipv6Packet::upper_layer).
    ///
    /// # Errors
    /// [`Ipv6Error::Truncated`], [`Ipv6Error::BadVersion`] or [`Ipv6Error::BadPayloadLength`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, Ipv6Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the fixed header, version and payload length against the buffer.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), Ipv6Error> {
        self.check_len_on_wire(self.buffer.as_ref().len())
    }

    /// As [`check_len`](Self::check_len) for a buffer holding only the first bytes of a packet whose bytes on
    /// the wire, from the IPv6 header on, number `wire_len` (the first buffer of a multi-buffer frame): the
    /// fixed header must be in the buffer, the payload length within `wire_len`. Accessors then see the
    /// buffer's part of the payload.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len_on_wire(&self, wire_len: usize) -> Result<(), Ipv6Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Ipv6Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Ipv6Error::BadVersion);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > wire_len.max(len) {
            return Err(Ipv6Error::BadPayloadLength);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (6 on a checked packet).
    #[inline]
    pub fn version(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::VER_TC_FLOW) >> 4
    }

    /// Traffic class (DSCP and ECN).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) >> 20) as u8
    }

    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW) & 0x000f_ffff
    }

    /// Length of the payload (extension headers included) in bytes.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Next Header of the fixed header: the first extension header or the upper layer.
    #[inline]
    pub fn next_header(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::NEXT_HEADER)
    }

    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        read_u8(self.buffer.as_ref(), field::HOP_LIMIT)
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), field::SRC_ADDR))
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(read::<16>(self.buffer.as_ref(), field::DST_ADDR))
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv6Packet<&'a T> {
    /// The payload after the fixed header, up to the payload length (Ethernet padding excluded).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buffer = self.buffer.as_ref();
        slice(
            buffer,
            field::PAYLOAD,
            (HEADER_LEN + usize::from(self.payload_len())).min(buffer.len()),
        )
    }

    /// Walks the extension headers to the upper-layer protocol.
    ///
    /// # Errors
    /// [`Ipv6Error::BadExtensionHeader`] for a header that does not fit in the payload or a Hop-by-Hop
    /// header past the first position, [`Ipv6Error::ExtensionChainTooLong`] past
    /// [`MAX_EXTENSION_HEADERS`] headers.
    pub fn upper_layer(&self) -> Result<Ipv6UpperLayer<'a>, Ipv6Error> {
        let payload = self.payload();
        let mut rest = payload;
        let mut protocol = self.next_header();
        let mut fragment = None;
        let mut steps = 0;
        while is_extension(protocol) {
            if steps == MAX_EXTENSION_HEADERS {
                return Err(Ipv6Error::ExtensionChainTooLong);
            }
            if protocol == ip_proto::HOP_BY_HOP && steps != 0 {
                return Err(Ipv6Error::BadExtensionHeader);
            }
            let Some(&[next, ext_len, off_hi, off_lo, id0, id1, id2, id3]) = rest.first_chunk::<EXT_UNIT>() else {
                return Err(Ipv6Error::BadExtensionHeader);
            };
            let len = if protocol == ip_proto::FRAGMENT {
                EXT_UNIT
            } else {
                (usize::from(ext_len) + 1) * EXT_UNIT
            };
            let Some((_, tail)) = rest.split_at_checked(len) else {
                return Err(Ipv6Error::BadExtensionHeader);
            };
            let header = protocol;
            (protocol, rest, steps) = (next, tail, steps + 1);
            if header == ip_proto::FRAGMENT {
                let offset_flags = u16::from_be_bytes([off_hi, off_lo]);
                let frag = Ipv6Fragment {
                    offset: offset_flags & 0xfff8,
                    more_fragments: offset_flags & 1 != 0,
                    ident: u32::from_be_bytes([id0, id1, id2, id3]),
                };
                fragment = Some(frag);
                if frag.offset != 0 {
                    break;
                }
            }
        }
        Ok(Ipv6UpperLayer {
            protocol,
            // `rest` is a suffix of `payload`, which is at most 65535 bytes.
            offset: HEADER_LEN + (payload.len() - rest.len()),
            fragment,
            payload: rest,
        })
    }
}

/// Whether `next_header` is an extension header the walk skips.
#[inline]
fn is_extension(next_header: u8) -> bool {
    matches!(
        next_header,
        ip_proto::HOP_BY_HOP | ip_proto::ROUTING | ip_proto::FRAGMENT | ip_proto::DESTINATION_OPTIONS
    )
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Readdresses the packet back to its sender, from the address it was sent to, with a fresh `hop_limit`:
    /// the IP half of answering a request in place (upper-layer checksums over the pseudo-header do not
    /// change, the sum of the two addresses being the same).
    #[inline]
    pub fn turn_around(&mut self, hop_limit: u8) {
        let (src, dst) = (self.src_addr(), self.dst_addr());
        let buf = self.buffer.as_mut();
        write(buf, field::SRC_ADDR, dst.octets());
        write(buf, field::DST_ADDR, src.octets());
        write(buf, field::HOP_LIMIT, [hop_limit]);
    }

    /// Writes a fixed header without traffic class or flow label: `payload_len` bytes of `next_header` from
    /// `src` to `dst`.
    #[inline]
    pub fn emit_header(&mut self, payload_len: u16, next_header: u8, hop_limit: u8, src: Ipv6Addr, dst: Ipv6Addr) {
        let buf = self.buffer.as_mut();
        write(buf, field::VER_TC_FLOW, [0x60, 0, 0, 0]);
        write(buf, field::PAYLOAD_LEN, payload_len.to_be_bytes());
        write(buf, field::NEXT_HEADER, [next_header]);
        write(buf, field::HOP_LIMIT, [hop_limit]);
        write(buf, field::SRC_ADDR, src.octets());
        write(buf, field::DST_ADDR, dst.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// fd00::1 → fd00::11, traffic class 0xb8, flow 0x12345, hop limit 64: Hop-by-Hop (PadN), then a first
    /// fragment (M set, id 0xdeadbeef), then 12 bytes of UDP.
    static PACKET_BYTES: [u8; 68] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x1c, 0x00, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x11, 0x2c, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x01, 0xde, 0xad,
        0xbe, 0xef, 0xc0, 0x00, 0x12, 0xb5, 0x00, 0x0c, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef,
    ];

    /// A packet whose payload is `headers` (each `(kind, next, len in bytes)`, filled with zeros) then
    /// `upper` bytes of upper-layer data.
    fn chain(first: u8, headers: &[(u8, usize)], upper: usize) -> Vec<u8> {
        let mut bytes = PACKET_BYTES[..40].to_vec();
        bytes[6] = first;
        for &(next, len) in headers {
            let start = bytes.len();
            bytes.resize(start + len, 0);
            bytes[start] = next;
            bytes[start + 1] = (len / 8).saturating_sub(1) as u8;
        }
        bytes.resize(bytes.len() + upper, 0xaa);
        let payload_len = (bytes.len() - 40) as u16;
        bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
        bytes
    }

    #[test]
    fn deconstruct() {
        let ip = Ipv6Packet::new_checked(&PACKET_BYTES[..]).unwrap();
        assert_eq!((ip.version(), ip.traffic_class(), ip.flow_label()), (6, 0xb8, 0x12345));
        assert_eq!(
            (ip.payload_len(), ip.next_header(), ip.hop_limit()),
            (28, ip_proto::HOP_BY_HOP, 64)
        );
        assert_eq!(ip.src_addr(), "fd00::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(ip.dst_addr(), "fd00::11".parse::<Ipv6Addr>().unwrap());
        assert_eq!(ip.payload(), &PACKET_BYTES[40..]);
        let upper = ip.upper_layer().unwrap();
        assert_eq!(
            upper,
            Ipv6UpperLayer {
                protocol: ip_proto::UDP,
                offset: 56,
                fragment: Some(Ipv6Fragment {
                    offset: 0,
                    more_fragments: true,
                    ident: 0xdead_beef
                }),
                payload: &PACKET_BYTES[56..],
            }
        );
    }

    #[test]
    fn no_extension_headers() {
        let bytes = chain(ip_proto::TCP, &[], 20);
        let upper = Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer().unwrap();
        assert_eq!(
            (upper.protocol, upper.offset, upper.fragment),
            (ip_proto::TCP, 40, None)
        );
        assert_eq!(upper.payload.len(), 20);
    }

    #[test]
    fn routing_and_destination_options_are_skipped() {
        let headers = [(ip_proto::DESTINATION_OPTIONS, 24), (ip_proto::ICMPV6, 16)];
        let bytes = chain(ip_proto::ROUTING, &headers, 8);
        let upper = Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer().unwrap();
        assert_eq!(
            (upper.protocol, upper.offset, upper.payload.len()),
            (ip_proto::ICMPV6, 80, 8)
        );
    }

    #[test]
    fn non_first_fragment_stops_the_walk() {
        let mut bytes = chain(ip_proto::FRAGMENT, &[(ip_proto::DESTINATION_OPTIONS, 8)], 16);
        bytes[42..44].copy_from_slice(&1480u16.to_be_bytes());
        let upper = Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer().unwrap();
        assert_eq!((upper.protocol, upper.offset), (ip_proto::DESTINATION_OPTIONS, 48));
        assert_eq!(
            upper.fragment,
            Some(Ipv6Fragment {
                offset: 1480,
                more_fragments: false,
                ident: 0
            })
        );
        assert_eq!(upper.payload.len(), 16);
    }

    #[test]
    fn padding_is_not_payload() {
        let mut padded = PACKET_BYTES.to_vec();
        padded.extend_from_slice(&[0; 10]);
        let ip = Ipv6Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(ip.payload(), &PACKET_BYTES[40..]);
        assert_eq!(ip.upper_layer().unwrap().payload, &PACKET_BYTES[56..]);
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..PACKET_BYTES.len() {
            let expected = if len < 40 {
                Ipv6Error::Truncated
            } else {
                Ipv6Error::BadPayloadLength
            };
            assert_eq!(
                Ipv6Packet::new_checked(&PACKET_BYTES[..len]),
                Err(expected),
                "len {len}"
            );
        }
    }

    #[test]
    fn every_shortened_payload_walks_or_fails() {
        // Shrinking the payload length cuts the chain anywhere: inside a header is an error, after it not.
        for payload_len in 0..=28u16 {
            let mut bytes = PACKET_BYTES;
            bytes[4..6].copy_from_slice(&payload_len.to_be_bytes());
            let result = Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer();
            match payload_len {
                0..16 => assert_eq!(result, Err(Ipv6Error::BadExtensionHeader), "{payload_len}"),
                _ => assert_eq!(result.unwrap().payload.len(), usize::from(payload_len) - 16),
            }
        }
    }

    #[test]
    fn bad_version() {
        let mut bytes = PACKET_BYTES;
        bytes[0] = 0x4b;
        assert_eq!(Ipv6Packet::new_checked(&bytes[..]), Err(Ipv6Error::BadVersion));
    }

    #[test]
    fn payload_len_beyond_buffer() {
        let mut bytes = PACKET_BYTES;
        bytes[4..6].copy_from_slice(&0xffffu16.to_be_bytes());
        assert_eq!(Ipv6Packet::new_checked(&bytes[..]), Err(Ipv6Error::BadPayloadLength));
        let ip = Ipv6Packet::new_unchecked(&bytes[..]);
        assert_eq!(ip.payload(), &bytes[HEADER_LEN..], "the bytes at hand");
    }

    /// The first buffer of a multi-buffer frame: lengths are judged on the wire, headers on the buffer.
    #[test]
    fn lengths_on_the_wire() {
        let mut bytes = PACKET_BYTES;
        bytes[4..6].copy_from_slice(&9000u16.to_be_bytes());
        let ip = Ipv6Packet::new_unchecked(&bytes[..]);
        assert_eq!(ip.check_len_on_wire(HEADER_LEN + 9000), Ok(()));
        assert_eq!(
            ip.check_len_on_wire(HEADER_LEN + 8999),
            Err(Ipv6Error::BadPayloadLength)
        );
        assert_eq!(ip.check_len_on_wire(8), Err(Ipv6Error::BadPayloadLength));
        assert_eq!(
            Ipv6Packet::new_unchecked(&bytes[..39]).check_len_on_wire(9040),
            Err(Ipv6Error::Truncated)
        );
        assert_eq!(ip.payload(), &bytes[HEADER_LEN..]);
    }

    #[test]
    fn extension_length_beyond_payload() {
        let mut bytes = chain(ip_proto::DESTINATION_OPTIONS, &[(ip_proto::UDP, 8)], 8);
        bytes[41] = 255;
        let ip = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(ip.upper_layer(), Err(Ipv6Error::BadExtensionHeader));
    }

    #[test]
    fn chain_of_100_headers_is_too_long() {
        let headers = [(ip_proto::DESTINATION_OPTIONS, 8); 100];
        let bytes = chain(ip_proto::DESTINATION_OPTIONS, &headers, 0);
        let ip = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(ip.upper_layer(), Err(Ipv6Error::ExtensionChainTooLong));
        // Exactly the limit still walks.
        let headers = [
            [(ip_proto::DESTINATION_OPTIONS, 8); 7].as_slice(),
            &[(ip_proto::UDP, 8)],
        ]
        .concat();
        let bytes = chain(ip_proto::DESTINATION_OPTIONS, &headers, 8);
        let upper = Ipv6Packet::new_checked(&bytes[..]).unwrap().upper_layer().unwrap();
        assert_eq!((upper.protocol, upper.offset), (ip_proto::UDP, 40 + 64));
    }

    #[test]
    fn hop_by_hop_loop_is_rejected() {
        let headers = [(ip_proto::HOP_BY_HOP, 8); 100];
        let bytes = chain(ip_proto::HOP_BY_HOP, &headers, 0);
        let ip = Ipv6Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(ip.upper_layer(), Err(Ipv6Error::BadExtensionHeader));
    }
}
