//! Ethernet II frames with at most one 802.1Q tag.
//!
//! A VMkernel port is a VST access port: it sees untagged frames or frames with a single customer tag.
//! Stacked tags (802.1Q in 802.1Q, or an 802.1ad service tag, even alone) are rejected by
//! [`EthernetFrame::new_checked`] with their own error, as the steering code in `vmknet_common::classify`
//! does, so the pipeline can count them apart from runts. The EtherType and length constants are that
//! crate's, so the two parsers cannot disagree.

pub use vmknet_common::classify::{
    ETH_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, VLAN_TAG_LEN,
};

use super::{read, read_u16, slice, write};

mod field {
    pub(super) const DST_ADDR: usize = 0;
    pub(super) const SRC_ADDR: usize = 6;
    pub(super) const ETHERTYPE: usize = 12;
    pub(super) const TCI: usize = 14;
    pub(super) const INNER_ETHERTYPE: usize = 16;
}

/// Length of an Ethernet header with one 802.1Q tag.
const TAGGED_HEADER_LEN: usize = ETH_HEADER_LEN + VLAN_TAG_LEN;

/// Why a buffer is not an Ethernet frame a VMkernel port accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum EthernetError {
    /// Shorter than the Ethernet header or its 802.1Q tag.
    #[error("frame shorter than its Ethernet header")]
    Truncated,
    /// Stacked tags or an 802.1ad service tag: never valid on a VMkernel port.
    #[error("stacked 802.1Q/802.1ad tags")]
    QinQ,
}

/// A view of an Ethernet II frame with at most one 802.1Q tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EthernetFrame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking it holds the whole header and at most one tag.
    ///
    /// # Errors
    /// [`EthernetError::Truncated`] when the header or tag does not fit, [`EthernetError::QinQ`] for an
    /// 802.1ad outer tag or an 802.1Q tag followed by another tag.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, EthernetError> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks the header and tag fit and that there is at most one 802.1Q tag.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), EthernetError> {
        let buf = self.buffer.as_ref();
        if buf.len() < ETH_HEADER_LEN {
            return Err(EthernetError::Truncated);
        }
        match read_u16(buf, field::ETHERTYPE) {
            ETHERTYPE_QINQ => Err(EthernetError::QinQ),
            ETHERTYPE_VLAN if buf.len() < TAGGED_HEADER_LEN => Err(EthernetError::Truncated),
            ETHERTYPE_VLAN => match read_u16(buf, field::INNER_ETHERTYPE) {
                ETHERTYPE_VLAN | ETHERTYPE_QINQ => Err(EthernetError::QinQ),
                _ => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 6] {
        read(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 6] {
        read(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Whether the frame carries an 802.1Q tag (including a priority tag, VID 0).
    #[inline]
    pub fn is_tagged(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::ETHERTYPE) == ETHERTYPE_VLAN
    }

    /// The tag control information, or 0 when untagged.
    #[inline]
    fn tci(&self) -> u16 {
        if self.is_tagged() {
            read_u16(self.buffer.as_ref(), field::TCI)
        } else {
            0
        }
    }

    /// VLAN id: 0 when untagged or priority-tagged, as in the steering keys. VID 4095 is reported as is.
    #[inline]
    pub fn vlan_id(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// 802.1p priority code point (0 when untagged).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// The EtherType of the payload: the one after the tag when tagged.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        let at = if self.is_tagged() {
            field::INNER_ETHERTYPE
        } else {
            field::ETHERTYPE
        };
        read_u16(self.buffer.as_ref(), at)
    }

    /// Length of the header including the tag: 14 or 18.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            TAGGED_HEADER_LEN
        } else {
            ETH_HEADER_LEN
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> EthernetFrame<&'a T> {
    /// The payload after the header and tag (including any padding up to the minimum frame size).
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let buf = self.buffer.as_ref();
        slice(buf, self.header_len(), buf.len())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: [u8; 6]) {
        write(self.buffer.as_mut(), field::DST_ADDR, addr);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: [u8; 6]) {
        write(self.buffer.as_mut(), field::SRC_ADDR, addr);
    }

    /// Writes a whole header: addresses, an 802.1Q tag carrying `vlan` (PCP 0) unless `vlan` is 0 (a VLAN 0
    /// port sends untagged, fact sheet §2.2), and `ethertype`. Returns the header length (14 or 18), or `None`
    /// when the buffer is too short for it (nothing is written then).
    #[inline]
    pub fn emit_header(&mut self, dst: [u8; 6], src: [u8; 6], vlan: u16, ethertype: u16) -> Option<usize> {
        let header_len = if vlan == 0 { ETH_HEADER_LEN } else { TAGGED_HEADER_LEN };
        let buf = self.buffer.as_mut();
        if buf.len() < header_len {
            return None;
        }
        write(buf, field::DST_ADDR, dst);
        write(buf, field::SRC_ADDR, src);
        if vlan == 0 {
            write(buf, field::ETHERTYPE, ethertype.to_be_bytes());
        } else {
            write(buf, field::ETHERTYPE, ETHERTYPE_VLAN.to_be_bytes());
            write(buf, field::TCI, (vlan & 0x0fff).to_be_bytes());
            write(buf, field::INNER_ETHERTYPE, ethertype.to_be_bytes());
        }
        Some(header_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tagged frame (VLAN 10, PCP 5) carrying 4 bytes of IPv4-typed payload.
    static TAGGED_BYTES: [u8; 22] = [
        0x00, 0x50, 0x56, 0x6a, 0x10, 0x00, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x81, 0x00, 0xa0, 0x0a, // 802.1Q, PCP 5, VID 10
        0x08, 0x00, // IPv4
        0xde, 0xad, 0xbe, 0xef,
    ];

    #[test]
    fn deconstruct_tagged() {
        let frame = EthernetFrame::new_checked(&TAGGED_BYTES[..]).unwrap();
        assert_eq!(frame.dst_addr(), [0x00, 0x50, 0x56, 0x6a, 0x10, 0x00]);
        assert_eq!(frame.src_addr(), [0x02, 0, 0, 0, 0, 1]);
        assert!(frame.is_tagged());
        assert_eq!(frame.vlan_id(), 10);
        assert_eq!(frame.pcp(), 5);
        assert_eq!(frame.ethertype(), ETHERTYPE_IPV4);
        assert_eq!(frame.header_len(), 18);
        assert_eq!(frame.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn deconstruct_untagged() {
        let mut bytes = TAGGED_BYTES;
        bytes[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        let frame = EthernetFrame::new_checked(&bytes[..]).unwrap();
        assert!(!frame.is_tagged());
        assert_eq!((frame.vlan_id(), frame.pcp()), (0, 0));
        assert_eq!(frame.ethertype(), ETHERTYPE_ARP);
        assert_eq!(frame.header_len(), 14);
        assert_eq!(frame.payload(), &bytes[14..]);
    }

    #[test]
    fn construct_addresses() {
        let mut bytes = TAGGED_BYTES;
        let mut frame = EthernetFrame::new_checked(&mut bytes[..]).unwrap();
        frame.set_dst_addr([1, 2, 3, 4, 5, 6]);
        frame.set_src_addr([7, 8, 9, 10, 11, 12]);
        assert_eq!(&bytes[..12], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(&bytes[12..], &TAGGED_BYTES[12..]);
    }

    #[test]
    fn construct_headers() {
        let mut bytes = [0xeeu8; 22];
        let mut frame = EthernetFrame::new_unchecked(&mut bytes[..]);
        let dst = [0x00, 0x50, 0x56, 0x6a, 0x10, 0x00];
        assert_eq!(frame.emit_header(dst, [2, 0, 0, 0, 0, 1], 10, ETHERTYPE_IPV4), Some(18));
        let mut expected = TAGGED_BYTES;
        expected[14] = 0x00; // PCP 0
        assert_eq!(&bytes[..18], &expected[..18]);
        let mut untagged = [0u8; 14];
        let mut frame = EthernetFrame::new_unchecked(&mut untagged[..]);
        assert_eq!(frame.emit_header(dst, [2, 0, 0, 0, 0, 1], 0, ETHERTYPE_ARP), Some(14));
        let frame = EthernetFrame::new_checked(&untagged[..]).unwrap();
        assert!(!frame.is_tagged());
        assert_eq!((frame.dst_addr(), frame.ethertype()), (dst, ETHERTYPE_ARP));
        // Too short: nothing written.
        let mut short = [0u8; 17];
        assert_eq!(
            EthernetFrame::new_unchecked(&mut short[..]).emit_header(dst, dst, 10, ETHERTYPE_IPV4),
            None
        );
        assert_eq!(short, [0; 17]);
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..=TAGGED_BYTES.len() {
            let result = EthernetFrame::new_checked(&TAGGED_BYTES[..len]);
            assert_eq!(result.is_ok(), len >= 18, "len {len}");
            if len < 18 {
                assert_eq!(result, Err(EthernetError::Truncated));
            }
        }
    }

    #[test]
    fn stacked_tags_are_qinq() {
        let mut bytes = TAGGED_BYTES;
        for inner in [ETHERTYPE_VLAN, ETHERTYPE_QINQ] {
            bytes[16..18].copy_from_slice(&inner.to_be_bytes());
            assert_eq!(EthernetFrame::new_checked(&bytes[..]), Err(EthernetError::QinQ));
        }
        // A lone 802.1ad tag is refused too, even when too short for its tag.
        bytes[12..14].copy_from_slice(&ETHERTYPE_QINQ.to_be_bytes());
        assert_eq!(EthernetFrame::new_checked(&bytes[..14]), Err(EthernetError::QinQ));
    }

    #[test]
    fn reserved_vid_is_reported_not_rejected() {
        let mut bytes = TAGGED_BYTES;
        bytes[14..16].copy_from_slice(&0x0fffu16.to_be_bytes());
        assert_eq!(EthernetFrame::new_checked(&bytes[..]).unwrap().vlan_id(), 4095);
    }

    #[test]
    fn unchecked_short_views_read_zeros() {
        let frame = EthernetFrame::new_unchecked(&TAGGED_BYTES[..15]);
        assert!(frame.is_tagged());
        assert_eq!(frame.ethertype(), 0);
        assert_eq!(frame.payload(), &[] as &[u8]);
    }
}
