//! IPv4 fragmentation at egress (RFC 791 §3.2, RFC 1122 §3.3.5): a packet longer than the egress adapter's
//! MTU, with DF clear, leaves as fragments that each fit the MTU.
//!
//! Every fragment carries the original header with its own total length, flags, offset and checksum. The
//! offset counts 8-byte units, so every fragment but the last carries a multiple of 8 data bytes. The first
//! fragment keeps all the options; the later ones only those whose "copied" flag is set (RFC 791: security,
//! source routes), padded to a 4-byte boundary. A packet that is itself a fragment (being forwarded) is split
//! at offsets relative to its own offset, and its MF flag stays on its last piece.
//!
//! [`Fragmenter`] writes one fragment at a time into a buffer the caller provides: no allocation, no
//! panic on any input. A DF packet is refused ([`FragmentError::DontFragment`]): the caller answers with
//! an ICMP "fragmentation needed" ([`super::icmp_error`]) or a local "Message too long".

use crate::wire::Ipv4Packet;
use crate::wire::ipv4::MIN_HEADER_LEN;
use crate::wire::{Ipv4Error, ipv4};

/// Why a packet cannot be fragmented, or a fragment not written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FragmentError {
    /// Not a well-formed IPv4 packet.
    #[error("not an IPv4 packet: {0}")]
    Malformed(#[from] Ipv4Error),
    /// DF is set: the packet may not be fragmented.
    #[error("the packet has DF set and is longer than the MTU {mtu}")]
    DontFragment {
        /// The MTU it exceeds.
        mtu: u16,
    },
    /// The MTU leaves no room for 8 data bytes after a fragment's header.
    #[error("MTU {mtu} is too small to fragment a packet with a {header_len}-byte header")]
    MtuTooSmall {
        /// The MTU.
        mtu: u16,
        /// The largest fragment header.
        header_len: usize,
    },
    /// The output buffer cannot hold the next fragment.
    #[error("buffer of {len} bytes cannot hold a {needed}-byte fragment")]
    BufferTooSmall {
        /// Bytes the fragment needs.
        needed: usize,
        /// Bytes the buffer has.
        len: usize,
    },
}

/// Splits one IPv4 packet into fragments that fit an MTU (see the module doc).
#[derive(Clone, Debug)]
pub struct Fragmenter<'p> {
    packet: &'p [u8],
    first_header_len: usize,
    /// Length of the later fragments' options: the copied ones, padded to 4 bytes (written when needed
    /// rather than kept, so the fragmenter stays small enough to pass around cheaply).
    later_options_len: usize,
    /// The packet's payload (what is split).
    payload: &'p [u8],
    /// Payload bytes already written.
    done: usize,
    /// The packet's own fragment offset in bytes, and whether more fragments follow it.
    base_offset: usize,
    base_more: bool,
    mtu: usize,
    /// Every fragment has been written.
    finished: bool,
}

impl<'p> Fragmenter<'p> {
    /// Prepares to split `packet` (one IPv4 packet, header checksum not checked) for `mtu`. A packet that
    /// fits needs no fragmentation and comes out as one "fragment" equal to itself.
    ///
    /// # Errors
    /// [`FragmentError::Malformed`], [`FragmentError::DontFragment`] for a DF packet longer than `mtu`,
    /// [`FragmentError::MtuTooSmall`] when a fragment could not carry 8 data bytes.
    pub fn new(packet: &'p [u8], mtu: u16) -> Result<Self, FragmentError> {
        let ip = Ipv4Packet::new_checked(packet)?;
        let total_len = usize::from(ip.total_len());
        let packet = packet.get(..total_len).unwrap_or(packet);
        if total_len > usize::from(mtu) && ip.dont_frag() {
            return Err(FragmentError::DontFragment { mtu });
        }
        let first_header_len = ip.header_len();
        let later_options_len = copied_options(ip.options(), |_| {}).next_multiple_of(4);
        let later_header_len = MIN_HEADER_LEN + later_options_len;
        let largest_header = first_header_len.max(later_header_len);
        if total_len > usize::from(mtu) && usize::from(mtu) < largest_header + 8 {
            return Err(FragmentError::MtuTooSmall {
                mtu,
                header_len: largest_header,
            });
        }
        Ok(Self {
            packet,
            first_header_len,
            later_options_len,
            payload: ip.payload(),
            done: 0,
            base_offset: usize::from(ip.frag_offset()),
            base_more: ip.more_frags(),
            mtu: usize::from(mtu),
            finished: false,
        })
    }

    /// Whether the packet fits the MTU as it is.
    pub fn fits(&self) -> bool {
        self.packet.len() <= self.mtu
    }

    /// Header length of the next fragment.
    fn header_len(&self) -> usize {
        if self.done == 0 {
            self.first_header_len
        } else {
            MIN_HEADER_LEN + self.later_options_len
        }
    }

    /// Data bytes of the next fragment: all that is left if it fits, else the most a multiple of 8 allows.
    fn data_len(&self) -> usize {
        let left = self.payload.len() - self.done;
        let room = self.mtu.saturating_sub(self.header_len());
        if left <= room { left } else { room & !7 }
    }

    /// Length of the next fragment, or `None` when all were written.
    pub fn next_len(&self) -> Option<usize> {
        if self.is_done() {
            return None;
        }
        if self.fits() {
            return Some(self.packet.len());
        }
        Some(self.header_len() + self.data_len())
    }

    /// Whether every fragment has been written.
    pub const fn is_done(&self) -> bool {
        self.finished
    }

    /// How many fragments remain to be written.
    pub fn remaining(&self) -> usize {
        if self.is_done() {
            return 0;
        }
        if self.fits() {
            return 1;
        }
        let rest = self.payload.len() - self.done - self.data_len();
        // A later fragment carries `room` bytes if it is the last, else `room` rounded down to 8 (at least 8:
        // `new` refused an MTU that leaves less after a later fragment's header).
        let room = self.mtu.saturating_sub(MIN_HEADER_LEN + self.later_options_len);
        let full = (room & !7).max(8);
        1 + if rest == 0 {
            0
        } else {
            1 + rest.saturating_sub(room).div_ceil(full)
        }
    }

    /// Writes the next fragment into `out` and returns its length, or `None` when all were written.
    ///
    /// # Errors
    /// [`FragmentError::BufferTooSmall`] (nothing is consumed then: retry with a larger buffer).
    pub fn write_next(&mut self, out: &mut [u8]) -> Result<Option<usize>, FragmentError> {
        let Some(needed) = self.next_len() else {
            return Ok(None);
        };
        let Some(out) = out.get_mut(..needed) else {
            return Err(FragmentError::BufferTooSmall { needed, len: out.len() });
        };
        if self.fits() {
            out.copy_from_slice(self.packet);
            self.finished = true;
            return Ok(Some(needed));
        }
        let header_len = self.header_len();
        let data_len = self.data_len();
        let (header, data) = out.split_at_mut(header_len);
        if self.done == 0 {
            header.copy_from_slice(self.packet.get(..header_len).unwrap_or_default());
        } else {
            let fixed = self.packet.get(..MIN_HEADER_LEN).unwrap_or_default();
            let (head, options) = header.split_at_mut(MIN_HEADER_LEN);
            head.copy_from_slice(fixed);
            let original = Ipv4Packet::new_unchecked(self.packet).options();
            let mut at = 0;
            copied_options(original, |option| {
                if let Some(dst) = options.get_mut(at..at + option.len()) {
                    dst.copy_from_slice(option);
                }
                at += option.len();
            });
            options.get_mut(at..).unwrap_or_default().fill(ipv4::OPTION_END);
        }
        data.copy_from_slice(self.payload.get(self.done..self.done + data_len).unwrap_or_default());
        let last = self.done + data_len == self.payload.len();
        let offset = self.base_offset + self.done;
        let mut ip = Ipv4Packet::new_unchecked(&mut out[..]);
        ip.set_version_and_header_len(header_len);
        // A fragment's total length and offset fit 16 bits: they are bounded by the original's.
        ip.set_total_len(needed as u16);
        ip.set_flags_and_frag_offset(false, !last || self.base_more, offset as u16);
        ip.fill_checksum();
        self.done += data_len;
        self.finished = last;
        Ok(Some(needed))
    }
}

/// Hands each option with the "copied" flag set (RFC 791: type bit 7) to `copy`, in order, and returns their
/// total length (at most the 40 bytes of `options`). A malformed option ends the walk: what follows is not
/// copied.
fn copied_options<'o>(options: &'o [u8], mut copy: impl FnMut(&'o [u8])) -> usize {
    let mut len = 0;
    let mut rest = options;
    while let Some(&kind) = rest.first() {
        let option_len = match kind {
            ipv4::OPTION_END => break,
            ipv4::OPTION_NOP => 1,
            _ => match rest.get(1) {
                Some(&l) if l >= 2 && usize::from(l) <= rest.len() => usize::from(l),
                _ => break,
            },
        };
        let (option, tail) = rest.split_at(option_len);
        if kind & ipv4::OPTION_COPIED != 0 {
            copy(option);
            len += option_len;
        }
        rest = tail;
    }
    len
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use etherparse::defrag::IpDefragPool;
    use proptest::prelude::*;

    use super::*;

    /// Protocol 253 (RFC 3692, experimentation): opaque to etherparse, so it reassembles any payload.
    const EXPERIMENTAL: u8 = 253;

    /// An IPv4 packet 10.10.10.11 → 10.99.0.1, ident 0x4242, protocol 253, with `options` (a multiple of 4 bytes) and
    /// `payload_len` bytes of counting payload.
    fn packet(options: &[u8], payload_len: usize, dont_frag: bool) -> Vec<u8> {
        let header_len = MIN_HEADER_LEN + options.len();
        let mut bytes = vec![0u8; header_len + payload_len];
        bytes[MIN_HEADER_LEN..header_len].copy_from_slice(options);
        for (i, b) in bytes[header_len..].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let mut ip = Ipv4Packet::new_unchecked(&mut bytes[..]);
        ip.set_version_and_header_len(header_len);
        ip.set_total_len((header_len + payload_len) as u16);
        ip.set_ident(0x4242);
        ip.set_flags_and_frag_offset(dont_frag, false, 0);
        ip.set_ttl(64);
        ip.set_protocol(EXPERIMENTAL);
        ip.set_src_addr(Ipv4Addr::new(10, 10, 10, 11));
        ip.set_dst_addr(Ipv4Addr::new(10, 99, 0, 1));
        ip.fill_checksum();
        bytes
    }

    fn fragments(packet: &[u8], mtu: u16) -> Vec<Vec<u8>> {
        let mut fragmenter = Fragmenter::new(packet, mtu).unwrap();
        let expected = fragmenter.remaining();
        let mut out = Vec::new();
        let mut buf = vec![0u8; usize::from(mtu).max(packet.len())];
        while let Some(len) = fragmenter.write_next(&mut buf).unwrap() {
            out.push(buf[..len].to_vec());
            assert_eq!(
                fragmenter.remaining(),
                expected.saturating_sub(out.len()),
                "remaining() counts down"
            );
        }
        assert_eq!(out.len(), expected, "remaining() announced the fragment count");
        assert!(fragmenter.is_done() && fragmenter.remaining() == 0);
        out
    }

    /// Checks every fragment's invariants against `original` and returns the reassembled payload.
    fn reassemble(original: &[u8], fragments: &[Vec<u8>], mtu: u16) -> Vec<u8> {
        let orig = Ipv4Packet::new_checked(original).unwrap();
        let mut payload = Vec::new();
        for (i, bytes) in fragments.iter().enumerate() {
            let last = i + 1 == fragments.len();
            let ip = Ipv4Packet::new_checked(&bytes[..]).unwrap();
            assert!(ip.verify_checksum(), "fragment {i} checksum");
            let parsed = etherparse::Ipv4HeaderSlice::from_slice(bytes).unwrap().to_header();
            assert_eq!(
                parsed.header_checksum,
                parsed.calc_header_checksum(),
                "etherparse agrees"
            );
            assert_eq!(usize::from(ip.total_len()), bytes.len());
            if fragments.len() > 1 {
                assert!(bytes.len() <= usize::from(mtu), "fragment {i} fits the MTU");
                assert!(!ip.dont_frag());
            }
            assert_eq!(ip.more_frags(), !last, "MF on all but the last");
            assert_eq!(usize::from(ip.frag_offset()), payload.len(), "contiguous offsets");
            if !last {
                assert_eq!(ip.payload().len() % 8, 0, "offsets in 8-byte units");
            }
            let same = (ip.ident(), ip.ttl(), ip.protocol(), ip.src_addr(), ip.dst_addr());
            assert_eq!(
                same,
                (
                    orig.ident(),
                    orig.ttl(),
                    orig.protocol(),
                    orig.src_addr(),
                    orig.dst_addr()
                )
            );
            payload.extend_from_slice(ip.payload());
        }
        payload
    }

    /// 3980 bytes of payload at MTU 1500: 1480 + 1480 + 1020, offsets 0, 185 and 370 units.
    #[test]
    fn vector_4000_bytes_at_mtu_1500() {
        let original = packet(&[], 3980, false);
        let frags = fragments(&original, 1500);
        let fields: Vec<(usize, [u8; 2])> = frags.iter().map(|f| (f.len(), [f[6], f[7]])).collect();
        assert_eq!(fields, [(1500, [0x20, 0]), (1500, [0x20, 185]), (1040, [0x01, 0x72])]);
        assert_eq!(reassemble(&original, &frags, 1500), original[20..]);
    }

    #[test]
    fn a_packet_that_fits_is_one_unchanged_fragment() {
        for dont_frag in [false, true] {
            let original = packet(&[], 1480, dont_frag);
            assert_eq!(fragments(&original, 1500), vec![original]);
        }
        // Ethernet padding after the total length is not sent.
        let mut padded = packet(&[], 10, false);
        let unpadded = padded.clone();
        padded.extend_from_slice(&[0; 16]);
        assert_eq!(fragments(&padded, 1500), [unpadded]);
    }

    #[test]
    fn dont_fragment_is_honoured() {
        let original = packet(&[], 1481, true);
        assert_eq!(
            Fragmenter::new(&original, 1500).unwrap_err(),
            FragmentError::DontFragment { mtu: 1500 }
        );
    }

    #[test]
    fn only_copied_options_reach_later_fragments() {
        // Record route (7, not copied, 7 bytes), NOP, then a copied option (0x94 router alert, 4 bytes).
        let options = [7, 7, 4, 0, 0, 0, 0, 1, 0x94, 4, 0, 0];
        let original = packet(&options, 3000, false);
        let frags = fragments(&original, 1500);
        assert_eq!(&frags[0][20..32], &options, "the first fragment keeps them all");
        for later in &frags[1..] {
            let ip = Ipv4Packet::new_checked(&later[..]).unwrap();
            assert_eq!(ip.options(), &[0x94, 4, 0, 0]);
        }
        assert_eq!(reassemble(&original, &frags, 1500), original[32..]);
        // A copied 11-byte loose source route after a record route: padded with End of Options List.
        let options = [7, 7, 4, 0, 0, 0, 0, 0x83, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2, 0, 0];
        let frags = fragments(&packet(&options, 3000, false), 1500);
        for later in &frags[1..] {
            let ip = Ipv4Packet::new_checked(&later[..]).unwrap();
            assert_eq!(ip.options(), &[0x83, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2, 0]);
        }
    }

    #[test]
    fn a_fragment_is_refragmented_at_its_own_offset() {
        let mut original = packet(&[], 2000, false);
        let mut ip = Ipv4Packet::new_unchecked(&mut original[..]);
        ip.set_flags_and_frag_offset(false, true, 8000);
        ip.fill_checksum();
        let frags = fragments(&original, 1280);
        let offsets: Vec<(u16, bool)> = frags
            .iter()
            .map(|f| {
                let ip = Ipv4Packet::new_checked(&f[..]).unwrap();
                (ip.frag_offset(), ip.more_frags())
            })
            .collect();
        assert_eq!(offsets, [(8000, true), (9256, true)]);
    }

    #[test]
    fn errors_are_reported_and_consume_nothing() {
        assert!(matches!(
            Fragmenter::new(&[0x45, 0], 1500),
            Err(FragmentError::Malformed(_))
        ));
        let original = packet(&[0; 40], 100, false);
        assert_eq!(
            Fragmenter::new(&original, 67).unwrap_err(),
            FragmentError::MtuTooSmall {
                mtu: 67,
                header_len: 60
            }
        );
        let original = packet(&[], 3000, false);
        let mut fragmenter = Fragmenter::new(&original, 1500).unwrap();
        let mut small = [0u8; 100];
        assert_eq!(
            fragmenter.write_next(&mut small),
            Err(FragmentError::BufferTooSmall { needed: 1500, len: 100 })
        );
        assert_eq!(fragmenter.remaining(), 3);
    }

    fn options() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(vec![]),
            Just(vec![1, 1, 1, 0]),
            Just(vec![0x94, 4, 0, 0]),
            Just(vec![7, 7, 4, 0, 0, 0, 0, 1, 0x94, 4, 0, 0]),
            Just(vec![0x83, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2, 0]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Over sizes and MTUs: every fragment fits, offsets are contiguous 8-byte multiples, checksums hold,
        /// and both our reassembly and etherparse's give back the original payload.
        #[test]
        fn reassembly_gives_back_the_input(payload_len in 0usize..12_000, mtu in 68u16..=9000, options in options()) {
            let original = packet(&options, payload_len, false);
            let frags = fragments(&original, mtu);
            let header_len = MIN_HEADER_LEN + options.len();
            prop_assert_eq!(reassemble(&original, &frags, mtu), &original[header_len..]);
            let mut pool = IpDefragPool::<(), ()>::new();
            let mut whole = None;
            for f in &frags {
                let sliced = etherparse::SlicedPacket::from_ip(f).unwrap();
                if let Some(done) = pool.process_sliced_packet(&sliced, (), ()).unwrap() {
                    whole = Some(done.payload);
                }
            }
            if frags.len() > 1 {
                prop_assert_eq!(whole.as_deref(), Some(&original[header_len..]));
            }
        }
    }
}
