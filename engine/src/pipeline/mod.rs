//! The per-frame pipeline: pure, backend-independent, one counted verdict per frame.
//!
//! ```text
//! steer (shared with XDP) ─► ingress MTU ─► ARP ─► local? ─► learn sender ─► reply (request for the vmk) / deliver
//!                                        └► IPv4/IPv6 header checks ─► local? ─► fragments ─► transport
//!                                              ─► service demultiplexing ─► isolation policy ─► verdict
//!                                              (echo requests and neighbour solicitations for the vmk: reply)
//! ```
//!
//! A [`Pipeline`] is one worker's state: the compiled [`HostTables`], the fragment cache, a neighbour cache
//! per netstack (learnt from ARP and neighbour discovery) and the counters. [`Pipeline::process`] takes a
//! frame and the time (`now` is an argument: nothing here reads a clock), and returns the frame's [`Outcome`]
//! after counting it. Nothing on this path allocates, locks, makes a system call or panics, whatever the
//! bytes; the same code runs behind AF_XDP rings, capture replay and benches.
//!
//! Judging only reads the frame. A frame judged [`Verdict::Replied`] is turned into its reply afterwards, in
//! place, by [`Pipeline::build_reply`] (see [`respond`]): the backend that owns the buffer decides when (the
//! AF_XDP worker before putting it on the TX ring; replay never does, its captures stay as they are).
//!
//! A frame may be judged from its first bytes only ([`Pipeline::process_batch_segmented`]): multi-buffer
//! AF_XDP delivers a jumbo frame as a chain of buffers, and every header is in the first. Lengths are then
//! checked against the frame's length on the wire, headers against the bytes at hand.

mod fragments;
mod policy;
mod prefetch;
pub mod respond;
mod service;
mod steering;
mod tables;
mod verdict;

use std::ops::ControlFlow;
use std::sync::Arc;

use vmknet_common::classify::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use vmknet_common::{DropReason, Steer, classify};

pub use fragments::{
    DEFAULT_FRAGMENT_CAPACITY, DEFAULT_FRAGMENT_TIMEOUT_NS, FragmentCache, FragmentKey, FragmentStats,
};
pub use policy::Policy;
pub use service::{Listener, PortClass, PortTable, Requirement, Service, Transport};
pub use steering::SteeringMaps;
pub use tables::{HostTables, NetstackAddresses, ServiceSet, VmkRecord};
pub use verdict::{Outcome, Verdict};

use crate::model::{HostModel, MacAddr, NetstackId, VmkId};
use crate::netstack::NeighborCache;
use crate::stats::Counters;
use crate::wire::{
    ArpPacket, Icmpv4Packet, Icmpv6Packet, Ipv4Error, Ipv4Packet, Ipv6Error, Ipv6Packet, NeighborKind, NeighborMessage,
    TcpPacket, UdpPacket, arp, icmpv4, icmpv6, ip_proto, udp,
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
    /// One per netstack, indexed by [`NetstackId::index`].
    neighbors: Box<[NeighborCache]>,
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
        let neighbors = tables.netstacks.iter().map(|_| NeighborCache::default()).collect();
        Self {
            tables,
            fragments: FragmentCache::default(),
            neighbors,
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

    /// The neighbour cache of `netstack`, as ARP and neighbour discovery on its adapters filled it.
    pub fn neighbors(&self, netstack: NetstackId) -> Option<&NeighborCache> {
        self.neighbors.get(netstack.index())
    }

    /// The neighbour cache of `netstack`, for the egress path that resolves through it.
    pub fn neighbors_mut(&mut self, netstack: NetstackId) -> Option<&mut NeighborCache> {
        self.neighbors.get_mut(netstack.index())
    }

    /// Fragment-cache evictions and expiries so far.
    pub fn fragment_stats(&self) -> FragmentStats {
        self.fragments.stats()
    }

    /// Runs one frame received at `now_ns` (any monotonic nanosecond clock) and counts its outcome.
    #[inline]
    pub fn process(&mut self, frame: &[u8], now_ns: u64) -> Outcome {
        self.process_segmented(frame, frame.len(), now_ns)
    }

    /// Runs one frame of which `head` holds the first bytes (all its headers) and the wire `wire_len`.
    #[inline]
    fn process_segmented(&mut self, head: &[u8], wire_len: usize, now_ns: u64) -> Outcome {
        let wire_len = wire_len.max(head.len());
        self.counters.count_in(1, wire_len as u64);
        let outcome = self.decide(head, wire_len, now_ns);
        self.counters.record(outcome, wire_len);
        outcome
    }

    /// Runs a batch of whole frames received at `now_ns`, writing each outcome to `outcomes`. Processes
    /// `min(frames.len(), outcomes.len())` frames and returns that count.
    ///
    /// While one frame is judged, the headers of a frame [`PREFETCH_DISTANCE`] ahead are fetched into the
    /// cache, as DPDK and VPP do: frames arrive in buffers the CPU has not touched yet, and the pipeline's
    /// cost is dominated by those first misses.
    pub fn process_batch(&mut self, frames: &[&[u8]], now_ns: u64, outcomes: &mut [Outcome]) -> usize {
        self.run_batch(frames, |frame, _| frame.len(), now_ns, outcomes)
    }

    /// As [`process_batch`](Self::process_batch) for frames of which only the first bytes are at hand:
    /// `heads[i]` holds frame i's headers (the first buffer of a multi-buffer frame), `wire_lens[i]` is its
    /// whole length on the wire (a missing or smaller length counts as the head's). MTU, IP and UDP lengths
    /// are judged on the wire length; frames are counted with it.
    pub fn process_batch_segmented(
        &mut self,
        heads: &[&[u8]],
        wire_lens: &[u32],
        now_ns: u64,
        outcomes: &mut [Outcome],
    ) -> usize {
        let wire_len = |head: &[u8], i: usize| wire_lens.get(i).map_or(head.len(), |&len| len as usize);
        self.run_batch(heads, wire_len, now_ns, outcomes)
    }

    #[inline]
    fn run_batch(
        &mut self,
        heads: &[&[u8]],
        wire_len: impl Fn(&[u8], usize) -> usize,
        now_ns: u64,
        outcomes: &mut [Outcome],
    ) -> usize {
        let n = heads.len().min(outcomes.len());
        for (i, (head, slot)) in heads.iter().zip(outcomes.iter_mut()).enumerate() {
            if let Some(ahead) = heads.get(i + PREFETCH_DISTANCE) {
                prefetch::headers(ahead);
            }
            *slot = self.process_segmented(head, wire_len(head, i), now_ns);
        }
        n
    }

    /// Turns a frame judged [`Verdict::Replied`] by this pipeline into its reply, in place; see
    /// [`respond::build_reply`].
    pub fn build_reply(&self, outcome: &Outcome, buf: &mut [u8], head_len: usize) -> Option<usize> {
        let vmk = self.tables.vmk(outcome.vmk?)?;
        respond::build_reply(outcome.verdict, vmk, buf, head_len)
    }

    /// Judges a frame whose head is `frame` and whose length on the wire, `wire_len`, is at least the head's.
    fn decide(&mut self, frame: &[u8], wire_len: usize, now_ns: u64) -> Outcome {
        let Self {
            tables,
            fragments,
            neighbors,
            ..
        } = self;
        let tables: &HostTables = tables;
        let (target, ethertype, ethertype_offset) = match classify(frame, &tables.steering) {
            Steer::Steered {
                target,
                ethertype,
                ethertype_offset,
                ..
            } => (target, ethertype, usize::from(ethertype_offset)),
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
        // The caller makes `wire_len` at least the head's length.
        let payload_wire_len = wire_len.saturating_sub(ethertype_offset + 2);
        let verdict = if payload_wire_len > usize::from(vmk.mtu) {
            Verdict::drop(DropReason::MtuExceeded)
        } else {
            // Built in each arm, so that the IPv4 one stays in registers.
            let ingress = |fragments, neighbors| Ingress {
                tables,
                vmk,
                fragments,
                neighbors,
                now_ns,
            };
            match ethertype {
                ETHERTYPE_ARP => ingress(fragments, neighbors).arp(payload),
                ETHERTYPE_IPV4 => ingress(fragments, neighbors).ipv4(payload, payload_wire_len),
                ETHERTYPE_IPV6 => ingress(fragments, neighbors).ipv6(payload, payload_wire_len),
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
    /// Per netstack: only ARP and neighbour discovery look up (and feed) the vmk's.
    neighbors: &'a mut [NeighborCache],
    now_ns: u64,
}

impl Ingress<'_> {
    fn addresses(&self) -> &NetstackAddresses {
        &self.tables.netstacks[self.vmk.netstack.index()]
    }

    /// ARP for an address of the netstack: the sender is learnt (RFC 826's merge rule: created when the
    /// request is for us, updated otherwise), a reply confirms the entry, a request for the vmk's own address
    /// is answered; a gratuitous announcement (sender and target address the same) only updates an entry.
    fn arp(self, payload: &[u8]) -> Verdict {
        let Ok(packet) = ArpPacket::new_checked(payload) else {
            return Verdict::drop(DropReason::MalformedArp);
        };
        let target = u32::from(packet.target_proto_addr());
        if !self.addresses().ipv4.contains(&target) {
            return Verdict::drop(DropReason::NotLocal);
        }
        let sender = packet.sender_proto_addr();
        let sender_mac = MacAddr(packet.sender_hw_addr());
        let learnable = !sender.is_unspecified() && !sender_mac.is_multicast();
        let neighbors = self.neighbors.get_mut(self.vmk.netstack.index()).filter(|_| learnable);
        if u32::from(sender) == target {
            // Gratuitous ARP (an announcement, either operation): merged into an existing entry only.
            if let Some(neighbors) = neighbors {
                neighbors.update_from_gratuitous(sender.into(), sender_mac, self.now_ns);
            }
            return Verdict::Delivered(Service::Arp);
        }
        match (packet.operation(), neighbors) {
            (arp::OP_REQUEST, neighbors) => {
                if let Some(neighbors) = neighbors {
                    neighbors.learn_from_request(sender.into(), sender_mac, self.now_ns);
                }
                if self.vmk.ipv4 == Some(target) {
                    return Verdict::Replied(Service::Arp);
                }
            }
            (arp::OP_REPLY, Some(neighbors)) => {
                neighbors.update_from_reply(sender.into(), sender_mac, self.now_ns);
            }
            _ => {}
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

    /// `payload` holds the IPv4 packet's first bytes, `wire_len` the bytes from its header to the end of the
    /// frame on the wire.
    fn ipv4(mut self, payload: &[u8], wire_len: usize) -> Verdict {
        let ip = Ipv4Packet::new_unchecked(payload);
        match ip.check_len_on_wire(wire_len) {
            Ok(()) => {}
            Err(Ipv4Error::BadVersion) => return Verdict::drop(DropReason::IpBadVersion),
            Err(Ipv4Error::Truncated | Ipv4Error::BadHeaderLength) => {
                return Verdict::drop(DropReason::Ipv4BadHeaderLength);
            }
            Err(Ipv4Error::BadTotalLength) => return Verdict::drop(DropReason::Ipv4BadTotalLength),
        }
        if !ip.verify_checksum() {
            return Verdict::drop(DropReason::Ipv4BadChecksum);
        }
        let dst = u32::from(ip.dst_addr());
        if !self.is_local_v4(dst) {
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
        // Bytes of the IP packet beyond `payload` (the other buffers of a multi-buffer frame).
        let missing = usize::from(ip.total_len()).saturating_sub(payload.len());
        let class = match ip.protocol() {
            ip_proto::ICMP => match self.icmpv4(&ip, dst, missing) {
                ControlFlow::Continue(class) => class,
                ControlFlow::Break(verdict) => return verdict,
            },
            protocol => match transport_class(&self.tables.ports, protocol, ip.payload(), missing, ip.more_frags()) {
                Some(class) => class,
                None => return Verdict::drop(DropReason::L4Malformed),
            },
        };
        self.police_first_fragment(class, ip.more_frags().then(key))
    }

    /// The class of an ICMP message to police, or its verdict: an echo request from a unicast address to one
    /// of the stack's (never to a broadcast) is answered. Not inlined: a rare path that would crowd the
    /// per-frame one.
    #[inline(never)]
    fn icmpv4(&self, ip: &Ipv4Packet<&[u8]>, dst: u32, missing: usize) -> ControlFlow<Verdict, PortClass> {
        let Ok(icmp) = Icmpv4Packet::new_checked(ip.payload()) else {
            return ControlFlow::Break(Verdict::drop(DropReason::L4Malformed));
        };
        let class = PortClass::service(Service::Icmp);
        if icmp.msg_type() != icmpv4::ECHO_REQUEST || ip.more_frags() {
            return ControlFlow::Continue(class);
        }
        let src = ip.src_addr();
        let unicast_src = !(src.is_broadcast() || src.is_multicast() || src.is_unspecified());
        if !unicast_src || !self.addresses().ipv4.contains(&dst) {
            ControlFlow::Continue(class)
        } else if missing == 0 && !icmp.verify_checksum() {
            ControlFlow::Break(Verdict::drop(DropReason::IcmpBadChecksum))
        } else {
            ControlFlow::Break(answer(self.vmk.policy.verdict(class)))
        }
    }

    /// As [`ipv4`](Self::ipv4) for IPv6.
    fn ipv6(mut self, payload: &[u8], wire_len: usize) -> Verdict {
        let ip = Ipv6Packet::new_unchecked(payload);
        match ip.check_len_on_wire(wire_len) {
            Ok(()) => {}
            Err(Ipv6Error::BadVersion) => return Verdict::drop(DropReason::IpBadVersion),
            Err(Ipv6Error::Truncated | Ipv6Error::BadPayloadLength) => {
                return Verdict::drop(DropReason::Ipv6BadPayloadLength);
            }
            Err(Ipv6Error::BadExtensionHeader | Ipv6Error::ExtensionChainTooLong) => {
                return Verdict::drop(DropReason::Ipv6BadExtensionHeader);
            }
        }
        let dst = u128::from(ip.dst_addr());
        if !self.is_local_v6(dst) {
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
        let missing = (usize::from(ip.payload_len()) + crate::wire::ipv6::HEADER_LEN).saturating_sub(payload.len());
        let class = match upper.protocol {
            ip_proto::ICMPV6 => match Icmpv6Packet::new_checked(upper.payload) {
                Ok(icmp) if ND_TYPES.contains(&icmp.msg_type()) => return self.neighbor_discovery(&ip, upper.payload),
                // Answered when from a unicast address to one of the stack's, without extension headers (the
                // reply is the request turned around in place).
                Ok(icmp)
                    if icmp.msg_type() == icmpv6::ECHO_REQUEST
                        && ip.next_header() == ip_proto::ICMPV6
                        && !(ip.src_addr().is_multicast() || ip.src_addr().is_unspecified())
                        && self.addresses().ipv6.contains(&dst) =>
                {
                    if missing == 0 && !icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()) {
                        return Verdict::drop(DropReason::IcmpBadChecksum);
                    }
                    return answer(self.vmk.policy.verdict(PortClass::service(Service::Icmp)));
                }
                Ok(_) => PortClass::service(Service::Icmp),
                Err(_) => return Verdict::drop(DropReason::L4Malformed),
            },
            protocol => match transport_class(
                &self.tables.ports,
                protocol,
                upper.payload,
                missing,
                upper.fragment.is_some(),
            ) {
                Some(class) => class,
                None => return Verdict::drop(DropReason::L4Malformed),
            },
        };
        let more = upper.fragment.is_some_and(|f| f.more_fragments);
        self.police_first_fragment(class, key.filter(|_| more))
    }

    /// Neighbour discovery (RFC 4861 §7): a solicitation for one of the vmk's addresses is answered and its
    /// sender learnt; an advertisement updates the cache (solicited: confirms; unsolicited: merges). Only
    /// messages with hop limit 255 and no extension headers count: anything else did not come from the link.
    fn neighbor_discovery(self, ip: &Ipv6Packet<&[u8]>, message: &[u8]) -> Verdict {
        let delivered = Verdict::Delivered(Service::NeighborDiscovery);
        let Ok(neighbor) = NeighborMessage::new_checked(message) else {
            // Router solicitations and advertisements, redirects: counted, left to the stack's sink.
            return if message
                .first()
                .is_some_and(|&t| t == icmpv6::NEIGHBOR_SOLICITATION || t == icmpv6::NEIGHBOR_ADVERTISEMENT)
            {
                Verdict::drop(DropReason::L4Malformed)
            } else {
                delivered
            };
        };
        if ip.hop_limit() != 255 || ip.next_header() != ip_proto::ICMPV6 {
            return Verdict::drop(DropReason::L4Malformed);
        }
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if !Icmpv6Packet::new_unchecked(message).verify_checksum(&src, &dst) {
            return Verdict::drop(DropReason::IcmpBadChecksum);
        }
        let target = neighbor.target_addr();
        let neighbors = self.neighbors.get_mut(self.vmk.netstack.index());
        match neighbor.kind() {
            NeighborKind::Solicitation => {
                // Duplicate address detection (unspecified source) must go to a solicited-node group.
                if src.is_unspecified() && !dst.is_multicast() {
                    return Verdict::drop(DropReason::L4Malformed);
                }
                if let (Some(mac), Some(neighbors)) = (neighbor.source_link_addr(), neighbors)
                    && !src.is_unspecified()
                {
                    neighbors.learn_from_request(src.into(), MacAddr(mac), self.now_ns);
                }
                if self.vmk.ipv6.contains(&u128::from(target)) {
                    return Verdict::Replied(Service::NeighborDiscovery);
                }
            }
            NeighborKind::Advertisement => {
                if let (Some(mac), Some(neighbors)) = (neighbor.target_link_addr(), neighbors) {
                    let mac = MacAddr(mac);
                    if neighbor.solicited_flag() {
                        neighbors.update_from_reply(target.into(), mac, self.now_ns);
                    } else {
                        neighbors.update_from_gratuitous(target.into(), mac, self.now_ns);
                    }
                }
            }
        }
        delivered
    }

    /// A non-first fragment follows its first fragment's service.
    fn later_fragment(&mut self, key: &FragmentKey) -> Verdict {
        match self.fragments.lookup(key, self.now_ns) {
            Some(service) => self.vmk.policy.verdict(PortClass::service(service)),
            None => Verdict::drop(DropReason::FragmentOrphan),
        }
    }

    /// Polices a datagram's first (or only) fragment, remembering its service when more fragments follow.
    // Always inlined, as `transport_class` is: both are on the per-frame path, where the size heuristics
    // would otherwise leave calls (19 and 12 more instructions per frame on the vSphere mix).
    #[inline(always)]
    fn police_first_fragment(&mut self, class: PortClass, more_fragments: Option<FragmentKey>) -> Verdict {
        let verdict = self.vmk.policy.verdict(class);
        if let Some(key) = more_fragments
            && let Some(service) = verdict.service()
        {
            self.fragments.insert(key, service, self.now_ns);
        }
        verdict
    }
}

/// The port class of a TCP or UDP segment, `PortClass::UNKNOWN` for other protocols, `None` when the
/// transport header is malformed. `segment` is the part at hand, `missing` the bytes of it still in other
/// buffers. In the first fragment of a datagram the UDP length field covers the whole datagram, not the
/// fragment, so only the header itself is checked there.
#[inline(always)]
fn transport_class(
    ports: &PortTable,
    protocol: u8,
    segment: &[u8],
    missing: usize,
    first_fragment: bool,
) -> Option<PortClass> {
    match protocol {
        ip_proto::TCP => {
            let tcp = TcpPacket::new_checked(segment).ok()?;
            Some(ports.classify(Transport::Tcp, tcp.src_port(), tcp.dst_port()))
        }
        ip_proto::UDP => {
            let udp = UdpPacket::new_unchecked(segment);
            let len = usize::from(udp.len());
            let fits = first_fragment || len <= segment.len() + missing;
            (segment.len() >= udp::HEADER_LEN && len >= udp::HEADER_LEN && fits).then_some(())?;
            Some(ports.classify(Transport::Udp, udp.src_port(), udp.dst_port()))
        }
        _ => Some(PortClass::UNKNOWN),
    }
}

/// A request the policy lets through is answered; a refused one stays dropped.
#[inline]
fn answer(verdict: Verdict) -> Verdict {
    match verdict {
        Verdict::Delivered(service) => Verdict::Replied(service),
        other => other,
    }
}

#[cfg(test)]
mod tests;
