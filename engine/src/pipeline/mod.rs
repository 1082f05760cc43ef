//! The per-frame pipeline: pure, backend-independent, one counted verdict per frame.
//!
//! ```text
//! steer (shared with XDP) ─► ingress MTU ─► ARP ─────────────────────────────────► local? ─► deliver
//!                                        └► IPv4/IPv6 header checks ─► local? ─► fragments ─► transport
//!                                              ─► service demultiplexing ─► isolation policy ─► verdict
//! ```
//!
//! A [`Pipeline`] is one worker's state: the compiled [`HostTables`], the fragment cache and the counters.
//! [`Pipeline::process`] takes a frame and the time (`now` is an argument: nothing here reads a clock), and
//! returns the frame's [`Outcome`] after counting it. Nothing on this path allocates, locks, makes a system
//! call or panics, whatever the bytes; the same code runs behind AF_XDP rings, capture replay and benches.

mod fragments;
mod prefetch;
mod service;
mod steering;
mod tables;
mod verdict;

use std::sync::Arc;

use vmknet_common::classify::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use vmknet_common::{DropReason, FrameBytes, Steer, classify};

pub use fragments::{
    DEFAULT_FRAGMENT_CAPACITY, DEFAULT_FRAGMENT_TIMEOUT_NS, FragmentCache, FragmentKey, FragmentStats,
};
pub use service::{Listener, PortClass, PortTable, Requirement, Service, Transport};
pub use steering::SteeringMaps;
pub use tables::{HostTables, NetstackAddresses, ServiceSet, VmkRecord};
pub use verdict::{Outcome, Verdict};

use crate::model::{HostModel, VmkId};
use crate::stats::Counters;
use crate::wire::{
    ArpPacket, Icmpv4Packet, Icmpv6Packet, Ipv4Error, Ipv4Packet, Ipv6Error, Ipv6Packet, TcpPacket, UdpPacket,
    ip_proto, udp,
};

/// How many frames ahead [`Pipeline::process_batch`] prefetches headers.
pub const PREFETCH_DISTANCE: usize = 8;

/// ICMPv6 types of neighbour discovery (RFC 4861): router solicitation to redirect.
const ND_TYPES: std::ops::RangeInclusive<u8> = 133..=137;

/// One worker's pipeline.
#[derive(Debug)]
pub struct Pipeline {
    tables: Arc<HostTables>,
    fragments: FragmentCache,
    counters: Counters,
}

impl Pipeline {
    /// A pipeline for `model` with default fragment-cache bounds.
    pub fn new(model: Arc<HostModel>) -> Self {
        Self::with_tables(Arc::new(HostTables::compile(model)))
    }

    /// A pipeline over already compiled tables (workers of one host share them).
    pub fn with_tables(tables: Arc<HostTables>) -> Self {
        let counters = Counters::new(tables.vmks.len());
        Self {
            tables,
            fragments: FragmentCache::default(),
            counters,
        }
    }

    /// The tables in use.
    pub fn tables(&self) -> &Arc<HostTables> {
        &self.tables
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Fragment-cache evictions and expiries so far.
    pub fn fragment_stats(&self) -> FragmentStats {
        self.fragments.stats()
    }

    /// Runs one frame received at `now_ns` (any monotonic nanosecond clock) and counts its outcome.
    #[inline]
    pub fn process(&mut self, frame: &[u8], now_ns: u64) -> Outcome {
        self.counters.count_in(1, frame.len() as u64);
        let outcome = self.decide(frame, now_ns);
        self.counters.record(outcome, frame.len());
        outcome
    }

    /// Runs a batch of frames received at `now_ns`, writing each outcome to `outcomes`. Processes
    /// `min(frames.len(), outcomes.len())` frames and returns that count.
    ///
    /// While one frame is judged, the headers of a frame [`PREFETCH_DISTANCE`] ahead are fetched into the
    /// cache, as DPDK and VPP do: frames arrive in buffers the CPU has not touched yet, and the pipeline's
    /// cost is dominated by those first misses.
    pub fn process_batch(&mut self, frames: &[&[u8]], now_ns: u64, outcomes: &mut [Outcome]) -> usize {
        let n = frames.len().min(outcomes.len());
        for (i, (frame, slot)) in frames.iter().zip(outcomes.iter_mut()).enumerate().take(n) {
            if let Some(ahead) = frames.get(i + PREFETCH_DISTANCE) {
                prefetch::headers(ahead);
            }
            *slot = self.process(frame, now_ns);
        }
        n
    }

    fn decide(&mut self, frame: &[u8], now_ns: u64) -> Outcome {
        let Self { tables, fragments, .. } = self;
        let tables: &HostTables = tables;
        let (target, ethertype_offset) = match classify(frame, &tables.steering) {
            Steer::Steered {
                target,
                ethertype_offset,
                ..
            } => (target, usize::from(ethertype_offset)),
            Steer::Pass(_) => {
                return Outcome {
                    vmk: None,
                    verdict: Verdict::Passed,
                };
            }
            Steer::Drop(reason) => {
                return Outcome {
                    vmk: None,
                    verdict: Verdict::drop(reason),
                };
            }
        };
        let vmk_id = VmkId(target.vmk);
        let Some(vmk) = tables.vmk(vmk_id) else {
            // Steering entries and records are compiled from one snapshot, so this cannot happen; should it,
            // the frame is not ours to judge.
            return Outcome {
                vmk: None,
                verdict: Verdict::Passed,
            };
        };
        let payload = frame.get(ethertype_offset + 2..).unwrap_or_default();
        let verdict = if payload.len() > usize::from(vmk.mtu) {
            Verdict::drop(DropReason::MtuExceeded)
        } else {
            let ethertype = frame.read_u16(ethertype_offset).unwrap_or_default();
            let ingress = Ingress {
                tables,
                vmk,
                fragments,
                now_ns,
            };
            match ethertype {
                ETHERTYPE_ARP => ingress.arp(payload),
                ETHERTYPE_IPV4 => ingress.ipv4(payload),
                ETHERTYPE_IPV6 => ingress.ipv6(payload),
                _ => Verdict::drop(DropReason::UnsupportedEthertype),
            }
        };
        Outcome {
            vmk: Some(vmk_id),
            verdict,
        }
    }
}

/// One steered frame's way through the checks, with what they need.
struct Ingress<'a> {
    tables: &'a HostTables,
    vmk: &'a VmkRecord,
    fragments: &'a mut FragmentCache,
    now_ns: u64,
}

impl Ingress<'_> {
    fn addresses(&self) -> &NetstackAddresses {
        &self.tables.netstacks[self.vmk.netstack.index()]
    }

    fn arp(&self, payload: &[u8]) -> Verdict {
        let Ok(arp) = ArpPacket::new_checked(payload) else {
            return Verdict::drop(DropReason::MalformedArp);
        };
        if !self.addresses().ipv4.contains(&u32::from(arp.target_proto_addr())) {
            return Verdict::drop(DropReason::NotLocal);
        }
        Verdict::Delivered(Service::Arp)
    }

    fn is_local_v4(&self, dst: u32) -> bool {
        self.vmk.ipv4 == Some(dst)
            || dst == u32::MAX
            || dst >> 28 == 0xe
            || self.vmk.ipv4_broadcast == Some(dst)
            || self.addresses().ipv4.contains(&dst)
    }

    fn is_local_v6(&self, dst: u128) -> bool {
        dst >> 120 == 0xff || self.addresses().ipv6.contains(&dst)
    }

    fn ipv4(mut self, payload: &[u8]) -> Verdict {
        let ip = match Ipv4Packet::new_checked(payload) {
            Ok(ip) => ip,
            Err(Ipv4Error::BadVersion) => return Verdict::drop(DropReason::IpBadVersion),
            Err(Ipv4Error::Truncated | Ipv4Error::BadHeaderLength) => {
                return Verdict::drop(DropReason::Ipv4BadHeaderLength);
            }
            Err(Ipv4Error::BadTotalLength) => return Verdict::drop(DropReason::Ipv4BadTotalLength),
        };
        if !ip.verify_checksum() {
            return Verdict::drop(DropReason::Ipv4BadChecksum);
        }
        if !self.is_local_v4(u32::from(ip.dst_addr())) {
            return Verdict::drop(DropReason::NotLocal);
        }
        let key = || FragmentKey {
            src: u128::from(ip.src_addr().to_ipv6_mapped()),
            dst: u128::from(ip.dst_addr().to_ipv6_mapped()),
            id: u32::from(ip.ident()),
            protocol: ip.protocol(),
        };
        if ip.frag_offset() > 0 {
            return self.later_fragment(&key());
        }
        let class = match ip.protocol() {
            ip_proto::ICMP => match Icmpv4Packet::new_checked(ip.payload()) {
                Ok(_) => PortClass::Service(Service::Icmp),
                Err(_) => return Verdict::drop(DropReason::L4Malformed),
            },
            protocol => match transport_class(&self.tables.ports, protocol, ip.payload(), ip.more_frags()) {
                Some(class) => class,
                None => return Verdict::drop(DropReason::L4Malformed),
            },
        };
        self.police_first_fragment(class, ip.more_frags().then(key))
    }

    fn ipv6(mut self, payload: &[u8]) -> Verdict {
        let ip = match Ipv6Packet::new_checked(payload) {
            Ok(ip) => ip,
            Err(Ipv6Error::BadVersion) => return Verdict::drop(DropReason::IpBadVersion),
            Err(Ipv6Error::Truncated | Ipv6Error::BadPayloadLength) => {
                return Verdict::drop(DropReason::Ipv6BadPayloadLength);
            }
            Err(Ipv6Error::BadExtensionHeader | Ipv6Error::ExtensionChainTooLong) => {
                return Verdict::drop(DropReason::Ipv6BadExtensionHeader);
            }
        };
        if !self.is_local_v6(u128::from(ip.dst_addr())) {
            return Verdict::drop(DropReason::NotLocal);
        }
        let Ok(upper) = ip.upper_layer() else {
            return Verdict::drop(DropReason::Ipv6BadExtensionHeader);
        };
        // IPv6 fragments are identified by source, destination and identification alone (RFC 8200 §4.5).
        let key = upper.fragment.map(|f| FragmentKey {
            src: u128::from(ip.src_addr()),
            dst: u128::from(ip.dst_addr()),
            id: f.ident,
            protocol: 0,
        });
        if let (Some(key), Some(fragment)) = (&key, upper.fragment)
            && fragment.offset > 0
        {
            return self.later_fragment(key);
        }
        let class = match upper.protocol {
            ip_proto::ICMPV6 => match Icmpv6Packet::new_checked(upper.payload) {
                Ok(icmp) if ND_TYPES.contains(&icmp.msg_type()) => PortClass::Service(Service::NeighborDiscovery),
                Ok(_) => PortClass::Service(Service::Icmp),
                Err(_) => return Verdict::drop(DropReason::L4Malformed),
            },
            protocol => match transport_class(&self.tables.ports, protocol, upper.payload, upper.fragment.is_some()) {
                Some(class) => class,
                None => return Verdict::drop(DropReason::L4Malformed),
            },
        };
        let more = upper.fragment.is_some_and(|f| f.more_fragments);
        self.police_first_fragment(class, key.filter(|_| more))
    }

    /// A non-first fragment follows its first fragment's service.
    fn later_fragment(&mut self, key: &FragmentKey) -> Verdict {
        match self.fragments.lookup(key, self.now_ns) {
            Some(service) => police(self.vmk, PortClass::Service(service)),
            None => Verdict::drop(DropReason::FragmentOrphan),
        }
    }

    /// Polices a datagram's first (or only) fragment, remembering its service when more fragments follow.
    fn police_first_fragment(&mut self, class: PortClass, more_fragments: Option<FragmentKey>) -> Verdict {
        let verdict = police(self.vmk, class);
        if let (Some(key), Some(service)) = (more_fragments, verdict.service()) {
            self.fragments.insert(key, service, self.now_ns);
        }
        verdict
    }
}

/// The port class of a TCP or UDP segment, `PortClass::Unknown` for other protocols, `None` when the
/// transport header is malformed. In the first fragment of a datagram the UDP length field covers the whole
/// datagram, not the fragment, so only the header itself is checked there.
#[inline]
fn transport_class(ports: &PortTable, protocol: u8, segment: &[u8], first_fragment: bool) -> Option<PortClass> {
    match protocol {
        ip_proto::TCP => {
            let tcp = TcpPacket::new_checked(segment).ok()?;
            Some(ports.classify(Transport::Tcp, tcp.src_port(), tcp.dst_port()))
        }
        ip_proto::UDP => {
            let udp = if first_fragment {
                let udp = UdpPacket::new_unchecked(segment);
                (segment.len() >= udp::HEADER_LEN && usize::from(udp.len()) >= udp::HEADER_LEN).then_some(udp)?
            } else {
                UdpPacket::new_checked(segment).ok()?
            };
            Some(ports.classify(Transport::Udp, udp.src_port(), udp.dst_port()))
        }
        _ => Some(PortClass::Unknown),
    }
}

/// The isolation policy: the first candidate service the adapter carries is delivered; otherwise the frame is
/// dropped, as moved to its own stack when the adapter is tagged for a service that has moved.
#[inline]
fn police(vmk: &VmkRecord, class: PortClass) -> Verdict {
    let candidates = class.candidates();
    if let Some(&service) = candidates.iter().find(|s| vmk.allowed.contains(**s)) {
        return Verdict::Delivered(service);
    }
    if let Some(&service) = candidates.iter().find(|s| vmk.moved.contains(**s)) {
        return Verdict::Dropped {
            reason: DropReason::ServiceMovedToOwnStack,
            service: Some(service),
        };
    }
    let refused = candidates.last().copied();
    Verdict::Dropped {
        reason: DropReason::ServiceDisabled,
        service: refused,
    }
}

#[cfg(test)]
mod tests;
