//! ARP (RFC 826) for IPv4 over Ethernet, the only kind a VMkernel port resolves.
//!
//! Other hardware or protocol types are recognised ([`WireError::Unsupported`]) rather than parsed: their
//! address fields have other lengths and nothing in vmknet answers them. The ARP responder rewrites a
//! request into its reply in place ([`ArpPacket::make_reply_in_place`]), so the frame buffer is reused.

use std::net::Ipv4Addr;

use super::{WireError, read, read_u8, read_u16, write};

mod field {
    pub(super) const HTYPE: usize = 0;
    pub(super) const PTYPE: usize = 2;
    pub(super) const HLEN: usize = 4;
    pub(super) const PLEN: usize = 5;
    pub(super) const OPER: usize = 6;
    pub(super) const SHA: usize = 8;
    pub(super) const SPA: usize = 14;
    pub(super) const THA: usize = 18;
    pub(super) const TPA: usize = 24;
}

/// Length of the fixed part shared by every ARP packet (types, lengths and operation).
const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Operation: request.
pub const OP_REQUEST: u16 = 1;
/// Operation: reply.
pub const OP_REPLY: u16 = 2;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer` without validation: accessors never panic but read zeros past its end.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after checking it is a whole Ethernet/IPv4 ARP packet.
    ///
    /// # Errors
    /// [`WireError::Truncated`] when shorter than the fixed part or than 28 bytes, [`WireError::Unsupported`]
    /// for any hardware/protocol pair other than Ethernet/IPv4 with 6/4-byte addresses.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the packet is a whole Ethernet/IPv4 ARP packet.
    ///
    /// # Errors
    /// As [`new_checked`](Self::new_checked).
    #[inline]
    pub fn check_len(&self) -> Result<(), WireError> {
        let buf = self.buffer.as_ref();
        if buf.len() < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        let ethernet_ipv4 = read_u16(buf, field::HTYPE) == HTYPE_ETHERNET
            && read_u16(buf, field::PTYPE) == super::ethernet::ETHERTYPE_IPV4
            && read_u8(buf, field::HLEN) == 6
            && read_u8(buf, field::PLEN) == 4;
        if !ethernet_ipv4 {
            return Err(WireError::Unsupported);
        }
        if buf.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }

    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Operation ([`OP_REQUEST`], [`OP_REPLY`], or another value to ignore).
    #[inline]
    pub fn operation(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::OPER)
    }

    /// Sender hardware (MAC) address.
    #[inline]
    pub fn sender_hw_addr(&self) -> [u8; 6] {
        read(self.buffer.as_ref(), field::SHA)
    }

    /// Sender protocol (IPv4) address.
    #[inline]
    pub fn sender_proto_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read::<4>(self.buffer.as_ref(), field::SPA))
    }

    /// Target hardware (MAC) address.
    #[inline]
    pub fn target_hw_addr(&self) -> [u8; 6] {
        read(self.buffer.as_ref(), field::THA)
    }

    /// Target protocol (IPv4) address.
    #[inline]
    pub fn target_proto_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read::<4>(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// Writes a whole Ethernet/IPv4 request: who has `target`? Tell `sender` at `sender_hw` (the target
    /// hardware address is zero, RFC 826). Returns the packet length, or `None` when the buffer is shorter
    /// than 28 bytes (nothing is written then).
    #[inline]
    pub fn emit_request(&mut self, sender_hw: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Option<usize> {
        let buf = self.buffer.as_mut();
        if buf.len() < PACKET_LEN {
            return None;
        }
        write(buf, field::HTYPE, HTYPE_ETHERNET.to_be_bytes());
        write(buf, field::PTYPE, super::ethernet::ETHERTYPE_IPV4.to_be_bytes());
        write(buf, field::HLEN, [6, 4]);
        write(buf, field::OPER, OP_REQUEST.to_be_bytes());
        write(buf, field::SHA, sender_hw);
        write(buf, field::SPA, sender.octets());
        write(buf, field::THA, [0; 6]);
        write(buf, field::TPA, target.octets());
        Some(PACKET_LEN)
    }

    /// Turns a request into the reply of the host owning its target address, whose MAC is `our_mac`: the
    /// sender becomes the target and `our_mac` with the requested address becomes the sender.
    ///
    /// Only the ARP packet changes; the caller readdresses the Ethernet header (destination: the requester,
    /// source: `our_mac`).
    #[inline]
    pub fn make_reply_in_place(&mut self, our_mac: [u8; 6]) {
        let (requester_hw, requester_proto) = (self.sender_hw_addr(), self.sender_proto_addr());
        let requested = self.target_proto_addr();
        let buf = self.buffer.as_mut();
        write(buf, field::OPER, OP_REPLY.to_be_bytes());
        write(buf, field::SHA, our_mac);
        write(buf, field::SPA, requested.octets());
        write(buf, field::THA, requester_hw);
        write(buf, field::TPA, requester_proto.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who has 10.10.10.11? Tell 10.10.10.1 (02:00:00:00:00:01).
    static REQUEST_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, // Ethernet/IPv4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 10, 10, 1, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 10, 10, 11, // target
    ];

    /// 10.10.10.11 is at 00:50:56:6a:10:00.
    static REPLY_BYTES: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, // Ethernet/IPv4, reply
        0x00, 0x50, 0x56, 0x6a, 0x10, 0x00, 10, 10, 10, 11, // sender
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 10, 10, 1, // target
    ];

    const OUR_MAC: [u8; 6] = [0x00, 0x50, 0x56, 0x6a, 0x10, 0x00];

    #[test]
    fn deconstruct() {
        let arp = ArpPacket::new_checked(&REQUEST_BYTES[..]).unwrap();
        assert_eq!(arp.operation(), OP_REQUEST);
        assert_eq!(arp.sender_hw_addr(), [0x02, 0, 0, 0, 0, 1]);
        assert_eq!(arp.sender_proto_addr(), Ipv4Addr::new(10, 10, 10, 1));
        assert_eq!(arp.target_hw_addr(), [0; 6]);
        assert_eq!(arp.target_proto_addr(), Ipv4Addr::new(10, 10, 10, 11));
    }

    #[test]
    fn construct_request() {
        let mut bytes = [0xffu8; 28];
        let mut arp = ArpPacket::new_unchecked(&mut bytes[..]);
        let sender = [0x02, 0, 0, 0, 0, 1];
        let (spa, tpa) = (Ipv4Addr::new(10, 10, 10, 1), Ipv4Addr::new(10, 10, 10, 11));
        assert_eq!(arp.emit_request(sender, spa, tpa), Some(28));
        assert_eq!(bytes, REQUEST_BYTES);
        let mut short = [0u8; 27];
        assert_eq!(
            ArpPacket::new_unchecked(&mut short[..]).emit_request(sender, spa, tpa),
            None
        );
    }

    #[test]
    fn construct_reply_in_place() {
        let mut bytes = REQUEST_BYTES;
        ArpPacket::new_checked(&mut bytes[..])
            .unwrap()
            .make_reply_in_place(OUR_MAC);
        assert_eq!(bytes, REPLY_BYTES);
    }

    #[test]
    fn every_prefix_is_an_error_or_a_view() {
        for len in 0..REQUEST_BYTES.len() {
            assert_eq!(
                ArpPacket::new_checked(&REQUEST_BYTES[..len]),
                Err(WireError::Truncated),
                "len {len}"
            );
        }
        // Trailing Ethernet padding is fine.
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&REQUEST_BYTES);
        assert!(ArpPacket::new_checked(&padded[..]).is_ok());
    }

    #[test]
    fn other_address_types_are_unsupported() {
        for (at, value) in [(1, 0x06), (2, 0x86), (4, 8), (5, 16)] {
            let mut bytes = REQUEST_BYTES;
            bytes[at] = value;
            assert_eq!(
                ArpPacket::new_checked(&bytes[..]),
                Err(WireError::Unsupported),
                "byte {at}"
            );
        }
    }
}
