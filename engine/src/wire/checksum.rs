//! The Internet checksum (RFC 1071) and the IPv4/IPv6 pseudo-header sums TCP, UDP and ICMPv6 cover.
//!
//! As in smoltcp, the functions return the *folded one's-complement sum*, not its complement: sums of parts
//! are [`combine`]d, a received header is valid when the sum over it (checksum field included) is `0xffff`,
//! and the value to store is `!sum` computed with the checksum field zeroed.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The folded one's-complement sum of `bytes` as big-endian 16-bit words (an odd last byte is padded with a
/// zero byte, so only the last part of a [`combine`]d sum may have an odd length).
#[inline]
pub fn data(bytes: &[u8]) -> u16 {
    network_order(sum(bytes))
}

/// The folded one's-complement sum of partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().fold(0u64, |acc, &s| acc.wrapping_add(u64::from(s))))
}

/// The checksum field after one 16-bit word it covers changed from `old` to `new` (RFC 1624, eqn. 3): how a
/// reply built in place keeps a checksum over bytes it never reads (the payload of a multi-buffer frame).
#[inline]
pub fn adjust(checksum: u16, old: u16, new: u16) -> u16 {
    !combine(&[!checksum, !old, new])
}

/// The sum of the IPv4 pseudo-header (RFC 793 / RFC 768) for an upper-layer packet of `length` bytes.
#[inline]
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: usize) -> u16 {
    let addrs = u64::from(data(&src.octets())) + u64::from(data(&dst.octets()));
    fold(addrs + u64::from(protocol) + length as u64)
}

/// The sum of the IPv6 pseudo-header (RFC 8200 §8.1) for an upper-layer packet of `length` bytes.
#[inline]
pub fn pseudo_header_v6(src: &Ipv6Addr, dst: &Ipv6Addr, next_header: u8, length: usize) -> u16 {
    let addrs = u64::from(data(&src.octets())) + u64::from(data(&dst.octets()));
    fold(addrs + u64::from(next_header) + length as u64)
}

/// The addresses of the IP packet carrying a TCP or UDP segment, for its pseudo-header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PseudoHeader {
    /// Carried by IPv4.
    V4 {
        /// Source address.
        src: Ipv4Addr,
        /// Destination address.
        dst: Ipv4Addr,
    },
    /// Carried by IPv6.
    V6 {
        /// Source address.
        src: Ipv6Addr,
        /// Destination address.
        dst: Ipv6Addr,
    },
}

impl PseudoHeader {
    /// The pseudo-header sum for an upper-layer packet of `protocol` and `length` bytes.
    #[inline]
    pub fn sum(&self, protocol: u8, length: usize) -> u16 {
        match self {
            Self::V4 { src, dst } => pseudo_header_v4(*src, *dst, protocol, length),
            Self::V6 { src, dst } => pseudo_header_v6(src, dst, protocol, length),
        }
    }

    /// Whether the checksummed `segment` (checksum field included) sums to `0xffff` with this pseudo-header.
    #[inline]
    pub(super) fn verify(&self, protocol: u8, segment: &[u8]) -> bool {
        combine(&[self.sum(protocol, segment.len()), data(segment)]) == 0xffff
    }
}

/// The sum of `bytes` as 64-bit words in the machine's byte order (the last one padded with zeros), reduced
/// to 64 bits.
///
/// Summing 64-bit words gives the same folded result as summing 16-bit words, and so does adding the carries
/// out of 64 bits back in, since 2^16 ≡ 1 (mod 2^16 - 1); and one's-complement addition commutes with
/// swapping bytes (RFC 1071 §2 B): so no word is byte-swapped here, only the folded result, once, by
/// [`network_order`]. The loop is a load and an add with carry per 8 bytes.
#[inline]
fn sum(bytes: &[u8]) -> u64 {
    let (words, rest) = bytes.as_chunks::<8>();
    let mut last = [0u8; 8];
    for (byte, &rest) in last.iter_mut().zip(rest) {
        *byte = rest;
    }
    let wide: u128 = words
        .iter()
        .chain([&last])
        .map(|w| u128::from(u64::from_ne_bytes(*w)))
        .sum();
    // The high half is the count of carries, far below 2^64, so adding it back in overflows at most once,
    // into a low half that is then below it.
    let (low, carry) = (wide as u64).overflowing_add((wide >> 64) as u64);
    low + u64::from(carry)
}

/// The folded sum, as a big-endian 16-bit value, of a [`sum`] taken in the machine's byte order.
#[inline]
fn network_order(sum: u64) -> u16 {
    u16::from_be_bytes(fold(sum).to_ne_bytes())
}

/// Folds carries back in until the sum fits 16 bits (0 only for an all-zero input). Four folds always suffice
/// for a `u64` (after the first the sum is below 2^33, after the second below 2^18, after the third at most
/// 0x1_fffe), so there is no loop to mispredict.
#[inline]
fn fold(sum: u64) -> u16 {
    let sum = (sum & 0xffff_ffff) + (sum >> 32);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Whether an IPv4 header without options is intact, its sum (checksum field included) being `0xffff`: the
/// test every IPv4 frame pays for, unrolled (the length is known at compile time) and without folding.
///
/// Folding keeps a sum's value modulo 2^16 - 1 and maps only a zero sum to zero, so a sum folds to `0xffff`
/// exactly when it is a non-zero multiple of `0xffff`, in either byte order.
#[inline]
pub fn is_valid_header_20(bytes: &[u8; 20]) -> bool {
    let (words, _) = bytes.as_chunks::<4>();
    let sum: u64 = words.iter().map(|w| u64::from(u32::from_ne_bytes(*w))).sum();
    sum != 0 && sum.is_multiple_of(0xffff)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of RFC 1071 §3.
    #[test]
    fn rfc1071_example() {
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
    }

    #[test]
    fn header_validity_is_a_folded_sum_of_0xffff() {
        let mut header: [u8; 20] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        assert!(!is_valid_header_20(&header));
        header[10..12].copy_from_slice(&[0, 0]);
        let checksum = !data(&header);
        header[10..12].copy_from_slice(&checksum.to_be_bytes());
        assert!(is_valid_header_20(&header));
        assert!(is_valid_header_20(&[0xff; 20]), "the sum of all ones is 0xffff");
        assert!(!is_valid_header_20(&[0; 20]), "an all-zero sum folds to 0");
    }

    #[test]
    fn odd_lengths_pad_the_last_byte() {
        assert_eq!(data(&[0xab]), 0xab00);
        assert_eq!(data(&[0x01, 0x02, 0x03]), 0x0402);
        assert_eq!(data(&[0x01, 0x02, 0x03, 0x04, 0x05]), 0x0906);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn carries_wrap_around() {
        assert_eq!(data(&[0xff; 64]), 0xffff);
        assert_eq!(data(&[0xff, 0xff, 0x00, 0x01]), 0x0001);
        assert_eq!(combine(&[0xffff, 0x0001]), 0x0001);
        assert_eq!(combine(&[0x8000, 0x8000]), 0x0001);
    }

    #[test]
    fn pseudo_headers_sum_their_fields() {
        let v4 = pseudo_header_v4(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2), 17, 12);
        assert_eq!(v4, data(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 12]));
        let src = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1);
        let dst = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2);
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&src.octets());
        bytes.extend_from_slice(&dst.octets());
        bytes.extend_from_slice(&70_000u32.to_be_bytes());
        bytes.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(pseudo_header_v6(&src, &dst, 58, 70_000), data(&bytes));
        let pseudo = PseudoHeader::V6 { src, dst };
        assert_eq!(pseudo.sum(58, 70_000), data(&bytes));
    }

    /// The sum as RFC 1071 states it: big-endian 16-bit words, an odd last byte padded, carries folded.
    fn reference(bytes: &[u8]) -> u16 {
        let mut sum: u32 = bytes
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    proptest::proptest! {
        /// Whatever the length and alignment, the machine-order sum is the big-endian sum.
        #[test]
        fn data_is_the_rfc1071_sum(bytes in proptest::collection::vec(0u8..=255, 0..200), skip in 0usize..4) {
            let bytes = bytes.get(skip..).unwrap_or_default();
            proptest::prop_assert_eq!(data(bytes), reference(bytes));
        }

        /// The unfolded test of a header agrees with the folded sum, on any header and on a checksummed one.
        #[test]
        fn header_validity_is_the_folded_test(mut header in proptest::array::uniform20(0u8..=255)) {
            proptest::prop_assert_eq!(is_valid_header_20(&header), reference(&header) == 0xffff);
            header[10..12].copy_from_slice(&[0, 0]);
            let checksum = !reference(&header);
            header[10..12].copy_from_slice(&checksum.to_be_bytes());
            proptest::prop_assert!(is_valid_header_20(&header));
        }

        /// Adjusting for one changed word gives the checksum computed afresh.
        #[test]
        fn adjust_matches_recomputing(mut bytes in proptest::collection::vec(0u8..=255, 2..64), word in 0usize..32,
                                      new in 0u16..=u16::MAX) {
            let word = word % (bytes.len() / 2);
            let before = !data(&bytes);
            let old = u16::from_be_bytes([bytes[2 * word], bytes[2 * word + 1]]);
            bytes[2 * word..2 * word + 2].copy_from_slice(&new.to_be_bytes());
            // One's-complement arithmetic has two zeros: compare what a receiver verifies.
            let adjusted = adjust(before, old, new);
            proptest::prop_assert_eq!(combine(&[data(&bytes), adjusted]), 0xffff);
        }
    }
}
