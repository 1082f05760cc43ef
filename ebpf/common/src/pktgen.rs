//! The packet generator's interface and per-frame rewrite, shared by its XDP program (`ebpf/pktgen`) and
//! userspace (`bench`, `vmknet-pktgen`).
//!
//! The generator runs its XDP program with `BPF_PROG_TEST_RUN` in live-frame mode: the kernel copies one
//! template frame into each page of a page pool once, runs the program on every frame and transmits what it
//! redirects. Pages are recycled *without* copying the template again, so a frame reaching the program holds
//! whatever the program wrote into that page last time. [`rewrite_flow`] therefore sets each varied field to
//! an absolute value and patches the checksums by the difference from what the frame holds now (RFC 1624),
//! which is correct whatever the page held before.
//!
//! Flows are an odometer over four ranges (destination port fastest, then source port, destination address,
//! source address): [`FlowCursor::advance`] visits every combination once per cycle, with no division in the
//! kernel. Each CPU has its own cursor, so threads need no shared state.
//!
//! With a [`StampSite`], [`write_stamp`] also writes the send time ([`crate::stamp`]) into each frame's L4
//! payload and patches the L4 checksum by the same difference rule.
//!
//! Everything here is loop-free and reads or writes a fixed set of fields, so the verifier accepts it.

use crate::classify::{ETH_HEADER_LEN, FrameBytes, VLAN_TAG_LEN};
use crate::stamp::{STAMP_LEN, stamp_bytes};

/// The largest template the replay program copies into a frame, more than the live-frame mode accepts
/// (`BPF_PROG_TEST_RUN` keeps live frames in a single page, headroom and tailroom included). One less than a
/// power of two, so the program bounds a length for the verifier with a mask.
pub const MAX_TEMPLATE_LEN: usize = 4095;

/// [`StampSite::flags`] bit: the checksum is UDP's, where a computed 0 is sent as 0xffff (RFC 768).
pub const STAMP_UDP: u32 = 1;
/// [`StampSite::flags`] bit: a checksum of 0 means "none" and stays 0 (UDP over IPv4).
pub const STAMP_CHECKSUM_OPTIONAL: u32 = 2;
/// The largest stamp or checksum offset [`write_stamp`] takes: it bounds offsets with this mask.
pub const MAX_STAMP_OFFSET: usize = MAX_TEMPLATE_LEN;

/// [`GenConfig::layout`] bit: the frame carries one 802.1Q tag.
pub const LAYOUT_VLAN: u32 = 1;
/// [`GenConfig::layout`] bit: the frame is IPv6 (IPv4 otherwise).
pub const LAYOUT_IPV6: u32 = 2;

const IPV4_CHECKSUM: usize = 10;
const IPV4_SRC: usize = 12;
const IPV4_DST: usize = 16;
const IPV4_HEADER_LEN: usize = 20;
/// The low 32 bits of the IPv6 source and destination addresses: the part a range varies.
const IPV6_SRC_LOW: usize = 8 + 12;
const IPV6_DST_LOW: usize = 24 + 12;
const IPV6_HEADER_LEN: usize = 40;
const UDP_SRC_PORT: usize = 0;
const UDP_DST_PORT: usize = 2;
const UDP_CHECKSUM: usize = 6;
const UDP_HEADER_LEN: usize = 8;

/// Write access to a frame's bytes, beside [`FrameBytes`]' read access.
pub trait FrameBytesMut: FrameBytes {
    /// Writes `bytes` at `offset`, or returns `None` (writing nothing) when they do not all fit in the frame.
    fn write<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) -> Option<()>;
}

impl FrameBytesMut for [u8] {
    fn write<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) -> Option<()> {
        let end = offset.checked_add(N)?;
        self.get_mut(offset..end)?.copy_from_slice(&bytes);
        Some(())
    }
}

/// A range of values: `first`, `first + 1`, … `first + count - 1` (wrapping). `count` 0 counts as 1.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldRange {
    /// The first value (an IPv4 address or the low 32 bits of an IPv6 address, or a port), host order.
    pub first: u32,
    /// How many values.
    pub count: u32,
}

impl FieldRange {
    /// A range of `count` values from `first`.
    pub const fn new(first: u32, count: u32) -> Self {
        Self { first, count }
    }

    /// How many values (at least 1).
    pub const fn values(&self) -> u64 {
        if self.count == 0 { 1 } else { self.count as u64 }
    }

    /// The value at `index` of the range.
    pub const fn at(&self, index: u32) -> u32 {
        self.first.wrapping_add(index)
    }
}

/// The generator program's configuration, the single element of its config array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GenConfig {
    /// Where frames are redirected (`bpf_redirect(ifindex, 0)`).
    pub ifindex: u32,
    /// [`LAYOUT_VLAN`] | [`LAYOUT_IPV6`].
    pub layout: u32,
    /// Source addresses (IPv4, or the low 32 bits of IPv6).
    pub src_ip: FieldRange,
    /// Destination addresses.
    pub dst_ip: FieldRange,
    /// UDP source ports.
    pub src_port: FieldRange,
    /// UDP destination ports.
    pub dst_port: FieldRange,
    /// Templates in the replay program's template array.
    pub n_templates: u32,
    /// Where the flow program stamps each frame with its send time ([`StampSite::NONE`]: it does not).
    pub stamp: StampSite,
}

/// Where a frame gets its send-time stamp ([`crate::stamp`]) and which checksum covers it: the L4 payload
/// offset and the offset of the UDP or TCP checksum field. Userspace finds the site once per template; the
/// programs write the stamp at it for every frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct StampSite {
    /// Offset of the stamp (the L4 payload) from the Ethernet header; 0: no stamp.
    pub at: u32,
    /// Offset of the L4 checksum field.
    pub checksum: u32,
    /// [`STAMP_UDP`] | [`STAMP_CHECKSUM_OPTIONAL`].
    pub flags: u32,
}

impl StampSite {
    /// No stamp.
    pub const NONE: Self = Self {
        at: 0,
        checksum: 0,
        flags: 0,
    };

    /// Whether frames get a stamp.
    pub const fn is_some(&self) -> bool {
        self.at != 0
    }

    /// The site of a UDP frame laid out as `layout` says ([`LAYOUT_VLAN`] | [`LAYOUT_IPV6`]): the flow
    /// program's frames. The caller checks that the frame holds [`STAMP_LEN`] payload bytes.
    pub const fn udp(layout: u32) -> Self {
        let l3 = if layout & LAYOUT_VLAN != 0 {
            ETH_HEADER_LEN + VLAN_TAG_LEN
        } else {
            ETH_HEADER_LEN
        };
        let (udp, flags) = if layout & LAYOUT_IPV6 != 0 {
            (l3 + IPV6_HEADER_LEN, STAMP_UDP)
        } else {
            (l3 + IPV4_HEADER_LEN, STAMP_UDP | STAMP_CHECKSUM_OPTIONAL)
        };
        Self {
            at: (udp + UDP_HEADER_LEN) as u32,
            checksum: (udp + UDP_CHECKSUM) as u32,
            flags,
        }
    }
}

impl GenConfig {
    /// Whether the ranges make more than one flow (cheaper than [`flows`](Self::flows) in the kernel, which
    /// has no 128-bit multiply for the saturation check).
    pub const fn varies(&self) -> bool {
        self.src_ip.count > 1 || self.dst_ip.count > 1 || self.src_port.count > 1 || self.dst_port.count > 1
    }

    /// The number of distinct flows the ranges make (saturating).
    pub const fn flows(&self) -> u64 {
        self.src_ip
            .values()
            .saturating_mul(self.dst_ip.values())
            .saturating_mul(self.src_port.values())
            .saturating_mul(self.dst_port.values())
    }
}

/// A CPU's position in the flow odometer and in the template array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FlowCursor {
    /// Index into [`GenConfig::src_ip`].
    pub src_ip: u32,
    /// Index into [`GenConfig::dst_ip`].
    pub dst_ip: u32,
    /// Index into [`GenConfig::src_port`].
    pub src_port: u32,
    /// Index into [`GenConfig::dst_port`].
    pub dst_port: u32,
    /// Index of the next template to play.
    pub template: u32,
}

/// Steps `index` within a range of `count` values; returns whether it wrapped (the carry).
const fn step(index: &mut u32, count: u32) -> bool {
    *index += 1;
    if *index >= count {
        *index = 0;
        return true;
    }
    false
}

impl FlowCursor {
    /// Moves to the next flow: destination port fastest, source address slowest.
    pub const fn advance(&mut self, config: &GenConfig) {
        if step(&mut self.dst_port, config.dst_port.count)
            && step(&mut self.src_port, config.src_port.count)
            && step(&mut self.dst_ip, config.dst_ip.count)
        {
            step(&mut self.src_ip, config.src_ip.count);
        }
    }

    /// Moves to the next template.
    pub const fn advance_template(&mut self, config: &GenConfig) {
        step(&mut self.template, config.n_templates);
    }
}

/// Per-CPU counters of the generator and sink programs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GenCounters {
    /// Frames handled: redirected by a generator program, seen by the sink.
    pub frames: u64,
    /// Their bytes (Ethernet header to the end of the payload, every fragment of a multi-buffer frame, no
    /// FCS).
    pub bytes: u64,
}

/// A frame the replay program plays, an element of its template array.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Template {
    /// Bytes used of `bytes`.
    pub len: u32,
    /// The frame, from its Ethernet header, zero after `len`.
    pub bytes: [u8; MAX_TEMPLATE_LEN + 1],
    /// Where the replay program stamps this frame ([`StampSite::NONE`]: it does not).
    pub stamp: StampSite,
}

impl Template {
    /// A template holding `frame`, stamped at `stamp`, or `None` when it is longer than [`MAX_TEMPLATE_LEN`].
    pub fn new(frame: &[u8], stamp: StampSite) -> Option<Self> {
        if frame.len() > MAX_TEMPLATE_LEN {
            return None;
        }
        let mut bytes = [0; MAX_TEMPLATE_LEN + 1];
        bytes[..frame.len()].copy_from_slice(frame);
        Some(Self {
            len: frame.len() as u32,
            bytes,
            stamp,
        })
    }
}

/// The sink program's configuration: what to do with each counted frame.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SinkConfig {
    /// The XDP action returned for every frame (`XDP_DROP` 1 or `XDP_PASS` 2).
    pub action: u32,
}

/// The one's-complement difference that replacing the 16-bit word `old` by `new` makes to a checksum.
const fn diff16(old: u16, new: u16) -> u32 {
    !old as u32 + new as u32
}

/// As [`diff16`] for a 32-bit field (two words).
const fn diff32(old: u32, new: u32) -> u32 {
    diff16((old >> 16) as u16, (new >> 16) as u16) + diff16(old as u16, new as u16)
}

/// `check` patched by `diff` (RFC 1624, eqn. 3: `HC' = ~(~HC + ~m + m')`).
const fn patch(check: u16, diff: u32) -> u16 {
    let mut sum = !check as u32 + diff;
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// Writes the 32-bit `value` at `offset`; returns the checksum difference.
fn set32<F: FrameBytesMut + ?Sized>(frame: &mut F, offset: usize, value: u32) -> Option<u32> {
    let old = frame.read::<4>(offset).map(u32::from_be_bytes)?;
    frame.write(offset, value.to_be_bytes())?;
    Some(diff32(old, value))
}

/// Writes the 16-bit `value` at `offset`; returns the checksum difference.
fn set16<F: FrameBytesMut + ?Sized>(frame: &mut F, offset: usize, value: u16) -> Option<u32> {
    let old = frame.read_u16(offset)?;
    frame.write(offset, value.to_be_bytes())?;
    Some(diff16(old, value))
}

/// Writes the flow `cursor` points at into a UDP frame laid out as `config.layout` says, patching the IPv4
/// header checksum and the UDP checksum. Fields whose range has one value are left as they are (the
/// template's). A UDP/IPv4 checksum of 0 (none) stays 0.
///
/// Returns `None`, possibly after writing some fields, when the frame is too short for its layout; the
/// generator only runs on templates it built for that layout.
pub fn rewrite_flow<F: FrameBytesMut + ?Sized>(frame: &mut F, config: &GenConfig, cursor: &FlowCursor) -> Option<()> {
    let l3 = if config.layout & LAYOUT_VLAN != 0 {
        ETH_HEADER_LEN + VLAN_TAG_LEN
    } else {
        ETH_HEADER_LEN
    };
    let ipv6 = config.layout & LAYOUT_IPV6 != 0;
    let (src, dst, udp) = if ipv6 {
        (l3 + IPV6_SRC_LOW, l3 + IPV6_DST_LOW, l3 + IPV6_HEADER_LEN)
    } else {
        (l3 + IPV4_SRC, l3 + IPV4_DST, l3 + IPV4_HEADER_LEN)
    };
    // Only the varied fields are touched: the others hold the template's values, which the checksums cover.
    let mut addresses = 0;
    if config.src_ip.count > 1 {
        addresses += set32(frame, src, config.src_ip.at(cursor.src_ip))?;
    }
    if config.dst_ip.count > 1 {
        addresses += set32(frame, dst, config.dst_ip.at(cursor.dst_ip))?;
    }
    let mut ports = 0;
    if config.src_port.count > 1 {
        ports += set16(frame, udp + UDP_SRC_PORT, config.src_port.at(cursor.src_port) as u16)?;
    }
    if config.dst_port.count > 1 {
        ports += set16(frame, udp + UDP_DST_PORT, config.dst_port.at(cursor.dst_port) as u16)?;
    }
    let udp_check = frame.read_u16(udp + UDP_CHECKSUM)?;
    if !ipv6 && addresses != 0 {
        let ip_check = frame.read_u16(l3 + IPV4_CHECKSUM)?;
        frame.write(l3 + IPV4_CHECKSUM, patch(ip_check, addresses).to_be_bytes())?;
    }
    if ipv6 || udp_check != 0 {
        // 0 means "no checksum" in UDP; a computed 0 is sent as 0xffff (RFC 768).
        let check = match patch(udp_check, addresses + ports) {
            0 => 0xffff,
            check => check,
        };
        frame.write(udp + UDP_CHECKSUM, check.to_be_bytes())?;
    }
    Some(())
}

/// Writes the stamp of the send time `ns` at `site` and patches the L4 checksum by the difference from
/// what the frame holds there now (RFC 1624), so it is right whatever a recycled page held before. A UDP
/// checksum of 0 at a site with [`STAMP_CHECKSUM_OPTIONAL`] stays 0. Nothing is written without a site.
///
/// The stamp starts an even number of bytes after the L4 header, so its words line up with the checksum's.
/// Returns `None`, possibly after writing the stamp, when the site lies beyond the frame. Offsets are taken
/// modulo [`MAX_STAMP_OFFSET`] + 1.
pub fn write_stamp<F: FrameBytesMut + ?Sized>(frame: &mut F, site: &StampSite, ns: u64) -> Option<()> {
    if !site.is_some() {
        return Some(());
    }
    // The masks give the verifier the offsets' bounds (a comparison does not survive LLVM here: it merges the
    // two and drops the masks as redundant). Sites are header offsets, far below the mask.
    let (at, checksum) = (
        site.at as usize & MAX_STAMP_OFFSET,
        site.checksum as usize & MAX_STAMP_OFFSET,
    );
    let old = frame.read::<STAMP_LEN>(at)?;
    let new = stamp_bytes(ns);
    frame.write(at, new)?;
    let word =
        |bytes: &[u8; STAMP_LEN], i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    let diff = diff32(word(&old, 0), word(&new, 0))
        + diff32(word(&old, 4), word(&new, 4))
        + diff32(word(&old, 8), word(&new, 8));
    let check = frame.read_u16(checksum)?;
    if check == 0 && site.flags & STAMP_CHECKSUM_OPTIONAL != 0 {
        return Some(());
    }
    let check = match patch(check, diff) {
        0 if site.flags & STAMP_UDP != 0 => 0xffff,
        check => check,
    };
    frame.write(checksum, check.to_be_bytes())
}

#[cfg(feature = "user")]
mod pod {
    // Safety (all six): `#[repr(C)]` over `u32`/`u64` fields, `FieldRange`s (two `u32`) and a byte array,
    // laid out without padding; every bit pattern is valid.
    unsafe impl aya::Pod for super::GenConfig {}
    unsafe impl aya::Pod for super::FlowCursor {}
    unsafe impl aya::Pod for super::GenCounters {}
    unsafe impl aya::Pod for super::SinkConfig {}
    unsafe impl aya::Pod for super::Template {}
    unsafe impl aya::Pod for super::StampSite {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One's-complement sum of `bytes` as 16-bit big-endian words, folded.
    fn sum(bytes: &[u8], initial: u32) -> u16 {
        let mut acc = initial;
        for pair in bytes.chunks(2) {
            let hi = u32::from(pair[0]) << 8;
            acc += hi | pair.get(1).map_or(0, |&b| u32::from(b));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    const UDP: u8 = 17;
    const TCP: u8 = 6;

    /// A UDP frame with valid checksums, built independently of the rewrite (full checksums).
    fn frame(vlan: bool, ipv6: bool, payload: usize) -> Vec<u8> {
        l4_frame(vlan, ipv6, UDP, payload)
    }

    /// A UDP or TCP (20-byte header) frame with valid checksums.
    fn l4_frame(vlan: bool, ipv6: bool, protocol: u8, payload: usize) -> Vec<u8> {
        let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
        if vlan {
            f.extend([0x81, 0x00, 0x00, 20]);
        }
        let header_len = if protocol == TCP { 20 } else { 8 };
        let l4_len = (header_len + payload) as u16;
        let l3 = f.len() + 2;
        if ipv6 {
            f.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend(l4_len.to_be_bytes());
            f.extend([protocol, 64]);
            f.extend([0xfd, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
            f.extend([0xfd, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        } else {
            f.extend([0x08, 0x00, 0x45, 0]);
            f.extend((20 + l4_len).to_be_bytes());
            f.extend([0, 0, 0, 0, 64, protocol, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
            let check = !sum(&f[l3..l3 + 20], 0);
            f[l3 + 10..l3 + 12].copy_from_slice(&check.to_be_bytes());
        }
        let l4 = f.len();
        f.extend([0x30, 0x39, 0x00, 0x35]);
        let checksum = if protocol == TCP {
            f.extend([0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff]); // seq, ack, offset 5, PSH ACK, window
            l4 + 16
        } else {
            f.extend(l4_len.to_be_bytes());
            l4 + 6
        };
        f.extend([0, 0, 0, 0][..header_len - (f.len() - l4)].iter());
        f.extend((0..payload).map(|i| i as u8));
        let check = !l4_checksum_sum(&f, l3, l4, ipv6, protocol);
        let check = if check == 0 && protocol == UDP { 0xffff } else { check };
        f[checksum..checksum + 2].copy_from_slice(&check.to_be_bytes());
        f
    }

    /// Sum over the pseudo-header and the L4 segment (checksum field included as it stands).
    fn l4_checksum_sum(f: &[u8], l3: usize, l4: usize, ipv6: bool, protocol: u8) -> u16 {
        let pseudo = (f.len() - l4) as u32 + u32::from(protocol);
        let addresses = if ipv6 {
            &f[l3 + 8..l3 + 40]
        } else {
            &f[l3 + 12..l3 + 20]
        };
        let partial = u32::from(sum(addresses, pseudo));
        sum(&f[l4..], partial)
    }

    fn checksums_valid(f: &[u8], vlan: bool, ipv6: bool) -> bool {
        l4_checksums_valid(f, vlan, ipv6, UDP)
    }

    fn l4_checksums_valid(f: &[u8], vlan: bool, ipv6: bool, protocol: u8) -> bool {
        let l3 = if vlan { 18 } else { 14 };
        let l4 = l3 + if ipv6 { 40 } else { 20 };
        let ip_ok = ipv6 || sum(&f[l3..l3 + 20], 0) == 0xffff;
        ip_ok && l4_checksum_sum(f, l3, l4, ipv6, protocol) == 0xffff
    }

    fn config(layout: u32) -> GenConfig {
        GenConfig {
            ifindex: 7,
            layout,
            src_ip: FieldRange::new(0x0a00_0001, 3),
            dst_ip: FieldRange::new(0x0a00_00fe, 4),
            src_port: FieldRange::new(65534, 3),
            dst_port: FieldRange::new(4000, 5),
            n_templates: 0,
            stamp: StampSite::NONE,
        }
    }

    #[test]
    fn templates_hold_up_to_the_maximum() {
        let frame = [7u8; MAX_TEMPLATE_LEN];
        let template = Template::new(&frame, StampSite::NONE).expect("fits");
        assert_eq!(template.len as usize, MAX_TEMPLATE_LEN);
        assert_eq!(&template.bytes[..MAX_TEMPLATE_LEN], &frame[..]);
        assert_eq!(Template::new(&[0; MAX_TEMPLATE_LEN + 1], StampSite::NONE), None);
    }

    #[test]
    fn odometer_visits_every_flow_once_per_cycle() {
        let cfg = config(0);
        let mut cursor = FlowCursor::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..cfg.flows() {
            assert!(seen.insert(cursor), "{cursor:?} twice");
            cursor.advance(&cfg);
        }
        assert_eq!(seen.len(), 180);
        assert_eq!(cursor, FlowCursor::default(), "a cycle ends where it started");
    }

    #[test]
    fn zero_counts_act_as_one_value() {
        let cfg = GenConfig::default();
        assert_eq!(cfg.flows(), 1);
        assert!(!cfg.varies());
        assert!(config(0).varies());
        let mut cursor = FlowCursor::default();
        cursor.advance(&cfg);
        cursor.advance_template(&cfg);
        assert_eq!(cursor, FlowCursor::default());
    }

    #[test]
    fn rewrite_keeps_checksums_valid_in_every_layout_and_over_reused_pages() {
        // Single-valued ranges hold the template's own values, as the generator's templates do.
        let some_fixed = |layout: u32| GenConfig {
            src_ip: FieldRange::new(if layout & LAYOUT_IPV6 != 0 { 1 } else { 0x0a00_0001 }, 1),
            dst_port: FieldRange::new(53, 1),
            ..config(layout)
        };
        for (layout, cfg) in (0..4).flat_map(|layout| [(layout, config(layout)), (layout, some_fixed(layout))]) {
            let (vlan, ipv6) = (layout & LAYOUT_VLAN != 0, layout & LAYOUT_IPV6 != 0);
            for payload in [0, 1, 18, 1000] {
                let template = frame(vlan, ipv6, payload);
                assert!(checksums_valid(&template, vlan, ipv6));
                // One page rewritten again and again, as live frames recycle pages without a fresh copy.
                let mut page = template.clone();
                let mut cursor = FlowCursor::default();
                let mut last = cursor;
                for _ in 0..2 * cfg.flows() {
                    last = cursor;
                    rewrite_flow(page.as_mut_slice(), &cfg, &cursor).expect("long enough");
                    assert!(
                        checksums_valid(&page, vlan, ipv6),
                        "layout {layout} payload {payload} {cursor:?}"
                    );
                    let l3 = if vlan { 18 } else { 14 };
                    let (src, udp) = if ipv6 { (l3 + 20, l3 + 40) } else { (l3 + 12, l3 + 20) };
                    let src_ip = u32::from_be_bytes(page[src..src + 4].try_into().unwrap());
                    assert_eq!(src_ip, cfg.src_ip.at(cursor.src_ip));
                    let dport = u16::from_be_bytes([page[udp + 2], page[udp + 3]]);
                    assert_eq!(u32::from(dport), cfg.dst_port.at(cursor.dst_port));
                    cursor.advance(&cfg);
                }
                // Only the varied fields changed.
                let mut expected = template.clone();
                rewrite_flow(expected.as_mut_slice(), &cfg, &last).expect("long enough");
                assert_eq!(page, expected);
            }
        }
    }

    #[test]
    fn ipv4_without_udp_checksum_keeps_none() {
        let cfg = config(0);
        let mut f = frame(false, false, 10);
        f[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&[0, 0]);
        let mut cursor = FlowCursor::default();
        cursor.advance(&cfg);
        rewrite_flow(f.as_mut_slice(), &cfg, &cursor).expect("long enough");
        assert_eq!(&f[14 + 26..14 + 28], &[0, 0]);
        assert_eq!(sum(&f[14..34], 0), 0xffff);
    }

    #[test]
    fn short_frames_are_refused_not_overrun() {
        for layout in 0..4 {
            let cfg = config(layout);
            let full = frame(layout & LAYOUT_VLAN != 0, layout & LAYOUT_IPV6 != 0, 0);
            for len in 0..full.len() {
                let mut short = full[..len].to_vec();
                assert_eq!(rewrite_flow(short.as_mut_slice(), &cfg, &FlowCursor::default()), None);
            }
        }
    }

    /// The site of a TCP frame from [`l4_frame`]: the payload behind the 20-byte header.
    fn tcp_site(vlan: bool, ipv6: bool) -> StampSite {
        let l4 = if vlan { 18 } else { 14 } + if ipv6 { 40 } else { 20 };
        StampSite {
            at: l4 as u32 + 20,
            checksum: l4 as u32 + 16,
            flags: 0,
        }
    }

    #[test]
    fn stamps_keep_checksums_valid_in_every_layout_and_over_reused_pages() {
        use crate::stamp::{payload_offset, read_stamp};
        // Times whose words carry across the checksum's folds, and the largest.
        let times = [0, 1, 0xffff, 0x0001_0000_ffff_0000, 0x0123_4567_89ab_cdef, u64::MAX];
        for layout in 0..4 {
            let (vlan, ipv6) = (layout & LAYOUT_VLAN != 0, layout & LAYOUT_IPV6 != 0);
            for (protocol, site) in [(UDP, StampSite::udp(layout)), (TCP, tcp_site(vlan, ipv6))] {
                for payload in [STAMP_LEN, STAMP_LEN + 1, 1000] {
                    let template = l4_frame(vlan, ipv6, protocol, payload);
                    assert_eq!(payload_offset(template.as_slice()), Some(site.at as usize));
                    let cfg = config(layout);
                    let mut page = template.clone();
                    let mut cursor = FlowCursor::default();
                    for (i, &ns) in times.iter().cycle().take(3 * times.len()).enumerate() {
                        if protocol == UDP {
                            rewrite_flow(page.as_mut_slice(), &cfg, &cursor).expect("long enough");
                            cursor.advance(&cfg);
                        }
                        write_stamp(page.as_mut_slice(), &site, ns).expect("fits");
                        assert_eq!(read_stamp(page.as_slice()), Some(ns), "layout {layout} frame {i}");
                        assert!(
                            l4_checksums_valid(&page, vlan, ipv6, protocol),
                            "layout {layout} protocol {protocol} payload {payload} time {ns:#x}"
                        );
                    }
                    assert_eq!(
                        page[site.at as usize + STAMP_LEN..],
                        template[site.at as usize + STAMP_LEN..]
                    );
                }
            }
        }
    }

    #[test]
    fn stamps_keep_an_absent_ipv4_udp_checksum_absent() {
        let site = StampSite::udp(0);
        let mut f = frame(false, false, STAMP_LEN);
        f[14 + 26..14 + 28].copy_from_slice(&[0, 0]);
        write_stamp(f.as_mut_slice(), &site, 42).expect("fits");
        assert_eq!(crate::stamp::read_stamp(f.as_slice()), Some(42));
        assert_eq!(&f[14 + 26..14 + 28], &[0, 0]);
    }

    #[test]
    fn stamps_are_refused_where_they_do_not_fit_and_skipped_without_a_site() {
        let full = frame(true, false, STAMP_LEN);
        let site = StampSite::udp(LAYOUT_VLAN);
        for len in 0..full.len() {
            let mut short = full[..len].to_vec();
            assert_eq!(write_stamp(short.as_mut_slice(), &site, 1), None, "length {len}");
        }
        let mut untouched = full.clone();
        write_stamp(untouched.as_mut_slice(), &StampSite::NONE, 1).expect("nothing to do");
        assert_eq!(untouched, full);
    }
}
