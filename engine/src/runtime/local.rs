//! The host's own traffic in a running engine: packets a vmk sends (vmkping), the echo replies that come
//! back for them, and the neighbour tables as `show neighbors` reads them.
//!
//! # Who sends
//! One worker per netstack owns its egress: the netstack's dedicated worker if it has one, else the first
//! queue's worker. It holds the netstack's routing table, sends through its pipeline's neighbour cache, takes
//! its frames from the first queue's [`EgressPool`] and puts them on that queue's socket of the netstack.
//!
//! # How the owner learns what other workers see
//! An ARP reply or neighbour advertisement lands on whichever rx queue the sender's NIC hashed it to, and so
//! in another worker's pipeline. Steering all ARP/ND of a netstack to one queue is not possible: an XDP
//! program can only redirect to a socket bound to the queue the frame arrived on (AF_XDP queue locality).
//! So every worker keeps a journal on the caches of the netstacks it does not own
//! ([`crate::netstack::NeighborCache::keep_journal`]) and, after each round, pushes its events into the
//! owner's bounded lock-free queue ([`ArrayQueue`]); the owner replays them into its cache between rounds
//! (a full queue drops and counts). Then it sends every packet the resolution released.
//!
//! # The control thread's side
//! [`LocalPort`] (from [`super::Engine::local_port`]) submits packets in buffers that circulate between it
//! and the owners through lock-free queues, allocated once at start: a worker never allocates or frees one.
//! A packet waiting for its next hop stays in its buffer, parked in the owner's slot table; the neighbour
//! cache queues the slot's index as the handle. Every buffer comes back with its [`Fate`]. Echo replies
//! addressed to the identifier the port listens for are copied, whole (a jumbo reply's every buffer), into
//! fixed-size slots by the worker that received them; no free slot, and the reply is counted and dropped.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use xsk_rs::FrameDesc;

use crate::io::xsk::{BUFFER_LEN, EgressPool, MAX_FRAME_LEN, NetstackSocket};
use crate::model::{HostModel, NetstackId, VmkId};
use crate::netstack::view::NeighborSnapshot;
use crate::netstack::{
    Egress, EgressError, Enqueue, LearnEvent, MAX_REQUEST_LEN, NeighborCache, NeighborEntry, Origin, Outcome,
    RouteTable,
};
use crate::wire::{EthernetFrame, Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, icmpv4, icmpv6, ip_proto};

/// The longest packet a vmk may submit (an IPv4 datagram's limit; fragmented on the way out).
pub const MAX_PACKET: usize = 65535;
/// Packet buffers in circulation.
const PACKETS: usize = 16;
/// Echo-reply slots.
const REPLY_SLOTS: usize = 32;
/// Bytes of an echo-reply slot: an IP packet of the largest vmk MTU.
pub const REPLY_LEN: usize = 9216;
/// Learn events queued for an owner.
const LEARN_QUEUE: usize = 1024;
/// Learn events a cache journals between two rounds (a round judges at most [`super::BATCH`] frames a ring).
pub(super) const JOURNAL: usize = 256;
/// Buffers of one frame on the tx ring: [`MAX_FRAME_LEN`] in [`BUFFER_LEN`] chunks.
const MAX_CHAIN: usize = MAX_FRAME_LEN.div_ceil(BUFFER_LEN as usize);
/// The `XDP_PKT_CONTD` option of a buffer that a frame continues after.
const XDP_PKT_CONTD: u32 = 1;

/// What became of a submitted packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Put on the tx ring as `frames` frames (fragments), after resolution if it had to wait.
    Sent {
        /// Frames written.
        frames: u16,
    },
    /// Refused by the egress path (no route, `Message too long`, ...).
    Refused(EgressError),
    /// Dropped: its next hop never answered, it was the oldest of too many waiting, or no tx room.
    Dropped,
}

/// A packet buffer and what the control thread asked of it.
#[derive(Debug)]
pub(super) struct Packet {
    from: VmkId,
    tag: u64,
    len: usize,
    bytes: Box<[u8]>,
    fate: Fate,
}

/// Egress outcomes of one netstack, written by its owner (load + store), read by anyone.
#[derive(Debug, Default)]
#[repr(align(64))]
struct EgressCell {
    sent: AtomicU64,
    frames: AtomicU64,
    fragments: AtomicU64,
    requests: AtomicU64,
    waiting: AtomicU64,
    dropped_oldest: AtomicU64,
    rejected: AtomicU64,
    expired: AtomicU64,
    refused: AtomicU64,
    tx_dropped: AtomicU64,
}

/// A reading of a netstack's egress counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressCounts {
    /// Packets put on the tx ring.
    pub sent: u64,
    /// Their frames.
    pub frames: u64,
    /// Frames beyond the first of fragmented packets.
    pub fragments: u64,
    /// ARP requests and neighbour solicitations sent.
    pub requests: u64,
    /// Packets that waited for their next hop.
    pub waiting: u64,
    /// Waiting packets dropped for newer ones (the cache's drop-oldest ring).
    pub dropped_oldest: u64,
    /// Packets the neighbour cache could not queue (no entry to wait on: rate-limited, table full).
    pub rejected: u64,
    /// Waiting packets dropped when their next hop never answered.
    pub expired: u64,
    /// Packets refused by the egress path (no route, too big, ...).
    pub refused: u64,
    /// Frames not sent for want of tx-ring room or egress frames.
    pub tx_dropped: u64,
}

impl EgressCell {
    fn read(&self) -> EgressCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EgressCounts {
            sent: get(&self.sent),
            frames: get(&self.frames),
            fragments: get(&self.fragments),
            requests: get(&self.requests),
            waiting: get(&self.waiting),
            dropped_oldest: get(&self.dropped_oldest),
            rejected: get(&self.rejected),
            expired: get(&self.expired),
            refused: get(&self.refused),
            tx_dropped: get(&self.tx_dropped),
        }
    }
}

/// Adds `n` to a counter only its owner writes.
#[inline]
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// An eventfd that wakes an owner sleeping in `poll()` when work arrives for it.
#[derive(Debug)]
pub(super) struct Bell(OwnedFd);

impl Bell {
    fn new() -> io::Result<Self> {
        // Safety: plain eventfd(2); the descriptor is owned at once.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `fd` was just created and is owned by nothing else.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    fn ring(&self) {
        let one: u64 = 1;
        // Safety: an 8-byte write from a valid u64 to the eventfd this bell owns. A failure (a counter at its
        // maximum) means it is rung already.
        unsafe { libc::write(self.0.as_raw_fd(), (&raw const one).cast(), size_of::<u64>()) };
    }

    /// Silences the bell after `poll()` reported it readable.
    pub(super) fn silence(&self) {
        let mut count: u64 = 0;
        // Safety: an 8-byte read into a valid u64 from the eventfd this bell owns (non-blocking).
        unsafe { libc::read(self.0.as_raw_fd(), (&raw mut count).cast(), size_of::<u64>()) };
    }

    /// The descriptor, for the owner's `poll()` set.
    pub(super) fn fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// A netstack's queues between the control thread, the workers and its owner.
#[derive(Debug)]
struct NetstackPort {
    /// Rung when a packet, learn events or a snapshot request arrive.
    bell: Bell,
    submitted: ArrayQueue<Packet>,
    learned: ArrayQueue<LearnEvent>,
    snapshot_asked: ArrayQueue<Vec<NeighborEntry>>,
    snapshot_done: ArrayQueue<Vec<NeighborEntry>>,
    counts: EgressCell,
}

/// An echo reply's IP packet in a fixed-size slot.
#[derive(Debug)]
struct ReplySlot {
    len: usize,
    bytes: Box<[u8]>,
}

/// What the control thread and the workers share.
#[derive(Debug)]
pub(super) struct Shared {
    netstacks: Box<[NetstackPort]>,
    /// Packet buffers back to the control thread, with their fate.
    done: ArrayQueue<Packet>,
    /// The echo identifier listened for, plus 1 << 16; 0 when none.
    echo_ident: AtomicU32,
    replies: ArrayQueue<ReplySlot>,
    free_replies: ArrayQueue<ReplySlot>,
    replies_dropped: AtomicU64,
    learn_dropped: AtomicU64,
}

impl Shared {
    /// The queues of a host with `netstacks` netstacks; allocates every buffer that will ever circulate.
    ///
    /// # Errors
    /// The errno of `eventfd(2)`.
    pub(super) fn new(netstacks: usize) -> io::Result<(Arc<Self>, Vec<Packet>)> {
        let free_replies = ArrayQueue::new(REPLY_SLOTS);
        for _ in 0..REPLY_SLOTS {
            let _ = free_replies.push(ReplySlot {
                len: 0,
                bytes: vec![0; REPLY_LEN].into_boxed_slice(),
            });
        }
        let shared = Self {
            netstacks: (0..netstacks)
                .map(|_| {
                    Ok(NetstackPort {
                        bell: Bell::new()?,
                        submitted: ArrayQueue::new(PACKETS),
                        learned: ArrayQueue::new(LEARN_QUEUE),
                        snapshot_asked: ArrayQueue::new(1),
                        snapshot_done: ArrayQueue::new(1),
                        counts: EgressCell::default(),
                    })
                })
                .collect::<io::Result<_>>()?,
            done: ArrayQueue::new(PACKETS),
            echo_ident: AtomicU32::new(0),
            replies: ArrayQueue::new(REPLY_SLOTS),
            free_replies,
            replies_dropped: AtomicU64::new(0),
            learn_dropped: AtomicU64::new(0),
        };
        let packets = (0..PACKETS)
            .map(|_| Packet {
                from: VmkId(0),
                tag: 0,
                len: 0,
                bytes: vec![0; MAX_PACKET].into_boxed_slice(),
                fate: Fate::Dropped,
            })
            .collect();
        Ok((Arc::new(shared), packets))
    }

    /// The bell of `netstack`'s owner.
    pub(super) fn bell(&self, netstack: NetstackId) -> Option<&Bell> {
        self.netstacks.get(netstack.index()).map(|n| &n.bell)
    }

    /// Learn events dropped because an owner's queue was full.
    pub(super) fn learn_dropped(&self) -> u64 {
        self.learn_dropped.load(Ordering::Relaxed)
    }

    /// The egress counters of every netstack, in netstack order.
    pub(super) fn egress_counts(&self) -> Vec<EgressCounts> {
        self.netstacks.iter().map(|n| n.counts.read()).collect()
    }

    /// Hands the journal of `netstack`'s cache in a worker that does not own it to the owner.
    pub(super) fn forward_journal(&self, netstack: NetstackId, cache: &mut NeighborCache) {
        let Some(port) = self.netstacks.get(netstack.index()) else {
            return;
        };
        let mut forwarded = false;
        cache.take_journal(|event| {
            forwarded = true;
            self.push_learned(port, event);
        });
        // Once per round with events, never per frame.
        if forwarded {
            port.bell.ring();
        }
    }

    /// Hands a neighbour's announcement to `netstack`'s owner (from the learner, see `learn.rs`).
    pub(super) fn announce(&self, netstack: NetstackId, event: LearnEvent) {
        if let Some(port) = self.netstacks.get(netstack.index()) {
            self.push_learned(port, event);
            port.bell.ring();
        }
    }

    /// Queues `event` for `port`'s owner, or counts it dropped when the queue is full.
    fn push_learned(&self, port: &NetstackPort, event: LearnEvent) {
        if port.learned.push(event).is_err() {
            bump(&self.learn_dropped, 1);
        }
    }

    /// Whether an echo reply with this identifier is awaited.
    #[inline]
    fn listens(&self, ident: u16) -> bool {
        self.echo_ident.load(Ordering::Relaxed) == (1 << 16) | u32::from(ident)
    }

    /// Takes a received frame of `wire_len` bytes, its first buffer `head` and the others `parts`, if it is
    /// an echo reply for the listened identifier: copies its IP packet into a reply slot. Returns whether it
    /// did.
    pub(super) fn take_echo_reply<'b>(
        &self,
        head: &'b [u8],
        wire_len: usize,
        parts: impl Iterator<Item = &'b [u8]>,
    ) -> bool {
        if self.echo_ident.load(Ordering::Relaxed) == 0 {
            return false;
        }
        let Ok(frame) = EthernetFrame::new_checked(head) else {
            return false;
        };
        let ip = frame.payload();
        let ip_wire_len = wire_len.saturating_sub(frame.header_len());
        let echo = match ip.first().map(|b| b >> 4) {
            Some(4) => Some(Ipv4Packet::new_unchecked(ip)).and_then(|p| {
                (p.check_len_on_wire(ip_wire_len).is_ok() && p.protocol() == ip_proto::ICMP && p.frag_offset() == 0)
                    .then(|| Icmpv4Packet::new_checked(p.payload()).ok())
                    .flatten()
                    .filter(|i| i.msg_type() == icmpv4::ECHO_REPLY)
                    .map(|i| i.echo_ident())
            }),
            Some(6) => Some(Ipv6Packet::new_unchecked(ip)).and_then(|p| {
                (p.check_len_on_wire(ip_wire_len).is_ok() && p.next_header() == ip_proto::ICMPV6)
                    .then(|| Icmpv6Packet::new_checked(p.payload()).ok())
                    .flatten()
                    .filter(|i| i.msg_type() == icmpv6::ECHO_REPLY)
                    .map(|i| i.echo_ident())
            }),
            _ => None,
        };
        if !echo.is_some_and(|ident| self.listens(ident)) {
            return false;
        }
        let Some(mut slot) = self.free_replies.pop() else {
            bump(&self.replies_dropped, 1);
            return true;
        };
        // The IP packet: the head after its link header, then the other buffers whole.
        let skip = frame.header_len();
        let mut len = 0;
        for (i, part) in std::iter::once(head).chain(parts).enumerate() {
            let part = if i == 0 {
                part.get(skip..).unwrap_or_default()
            } else {
                part
            };
            let n = part.len().min(slot.bytes.len() - len);
            slot.bytes[len..len + n].copy_from_slice(&part[..n]);
            len += n;
        }
        slot.len = len;
        // Cannot fail: replies and free slots together hold REPLY_SLOTS slots.
        let _ = self.replies.push(slot);
        true
    }
}

/// The control thread's handle on the host's own traffic (see the module doc).
#[derive(Debug)]
pub struct LocalPort {
    shared: Arc<Shared>,
    model: Arc<HostModel>,
    /// The engine's route tables, in netstack order: what a neighbour snapshot names its adapters by.
    routes: Vec<RouteTable>,
    free: Vec<Packet>,
}

/// Why a packet cannot be submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The host has no such adapter.
    #[error("no adapter with id {0:?}")]
    UnknownAdapter(VmkId),
    /// Longer than [`MAX_PACKET`].
    #[error("packet of {0} bytes: at most {MAX_PACKET}")]
    TooLong(usize),
    /// Every packet buffer is in flight: collect fates with [`LocalPort::collect`] first.
    #[error("every packet buffer is in flight")]
    Busy,
}

impl LocalPort {
    pub(super) fn new(shared: Arc<Shared>, model: Arc<HostModel>, routes: Vec<RouteTable>, free: Vec<Packet>) -> Self {
        Self {
            shared,
            model,
            routes,
            free,
        }
    }

    /// Submits `packet` (an IP packet) as sent by `from`, to its netstack's owner; `tag` comes back with its
    /// [`Fate`] from [`LocalPort::collect`].
    ///
    /// # Errors
    /// [`SubmitError`].
    pub fn submit(&mut self, from: VmkId, tag: u64, packet: &[u8]) -> Result<(), SubmitError> {
        let netstack = self
            .model
            .vmks
            .get(from.index())
            .ok_or(SubmitError::UnknownAdapter(from))?
            .netstack;
        if packet.len() > MAX_PACKET {
            return Err(SubmitError::TooLong(packet.len()));
        }
        let mut buffer = self.free.pop().ok_or(SubmitError::Busy)?;
        buffer.bytes[..packet.len()].copy_from_slice(packet);
        buffer.len = packet.len();
        buffer.from = from;
        buffer.tag = tag;
        buffer.fate = Fate::Dropped;
        let port = &self.shared.netstacks[netstack.index()];
        // Cannot fail: the queue holds every buffer.
        let _ = port.submitted.push(buffer);
        port.bell.ring();
        Ok(())
    }

    /// Hands the fate of each packet the owners are done with to `f` (with its tag).
    pub fn collect(&mut self, mut f: impl FnMut(u64, Fate)) {
        while let Some(packet) = self.shared.done.pop() {
            f(packet.tag, packet.fate);
            self.free.push(packet);
        }
    }

    /// Echo replies with identifier `ident` are kept for [`LocalPort::next_echo_reply`] from now on (one
    /// identifier at a time).
    pub fn listen_echo(&self, ident: u16) {
        self.shared
            .echo_ident
            .store((1 << 16) | u32::from(ident), Ordering::Relaxed);
    }

    /// Hands the IP packet of the oldest kept echo reply to `f`; false when none waits.
    pub fn next_echo_reply(&self, f: impl FnOnce(&[u8])) -> bool {
        let Some(slot) = self.shared.replies.pop() else {
            return false;
        };
        f(&slot.bytes[..slot.len]);
        let _ = self.shared.free_replies.push(slot);
        true
    }

    /// Echo replies dropped for want of a free slot.
    pub fn replies_dropped(&self) -> u64 {
        self.shared.replies_dropped.load(Ordering::Relaxed)
    }

    /// The neighbour caches of every netstack's owner, as `show neighbors` prints them; waits up to
    /// `timeout` for each owner to copy its cache between two rounds. The buffers are allocated here.
    ///
    /// # Errors
    /// The netstack whose owner did not answer in time (a stopped worker).
    pub fn neighbors(&self, timeout: Duration) -> Result<NeighborSnapshot, NetstackId> {
        let mut stacks = Vec::with_capacity(self.routes.len());
        for routes in &self.routes {
            let netstack = routes.netstack();
            let port = &self.shared.netstacks[netstack.index()];
            let _ = port
                .snapshot_asked
                .push(Vec::with_capacity(crate::netstack::NeighborConfig::default().capacity));
            port.bell.ring();
            let deadline = Instant::now() + timeout;
            let entries = loop {
                if let Some(entries) = port.snapshot_done.pop() {
                    break entries;
                }
                if Instant::now() >= deadline {
                    // Withdrawn so that a late owner finds nothing to fill.
                    let _ = port.snapshot_asked.pop();
                    return Err(netstack);
                }
                std::thread::sleep(Duration::from_millis(1));
            };
            stacks.push((routes, entries));
        }
        Ok(NeighborSnapshot::from_entries(
            &self.model,
            stacks
                .iter()
                .map(|(routes, entries)| (*routes, entries.iter().copied())),
        ))
    }
}

/// A netstack's egress, on the worker that owns it.
#[derive(Debug)]
pub(super) struct OwnedEgress {
    netstack: NetstackId,
    routes: RouteTable,
    /// Index of the worker's ring (the first queue's socket of the netstack) it sends on.
    pub(super) ring: usize,
    pool: Arc<EgressPool>,
    /// Packets waiting for their next hop: the neighbour cache's handles are indices here.
    parked: Box<[Option<(Packet, IpAddr)>]>,
    /// One frame being written.
    frame: Box<[u8]>,
    request: [u8; MAX_REQUEST_LEN],
    last_expiry_ns: u64,
}

/// How often an owner ages its cache.
const EXPIRY_INTERVAL_NS: u64 = 100_000_000;

impl OwnedEgress {
    /// The egress of `netstack`, sending on ring `ring` with frames of `pool`. Allocates everything it uses.
    pub(super) fn new(netstack: NetstackId, routes: RouteTable, ring: usize, pool: Arc<EgressPool>) -> Self {
        Self {
            netstack,
            routes,
            ring,
            pool,
            parked: (0..PACKETS).map(|_| None).collect(),
            frame: vec![0; MAX_FRAME_LEN].into_boxed_slice(),
            request: [0; MAX_REQUEST_LEN],
            last_expiry_ns: 0,
        }
    }

    /// The netstack.
    pub(super) fn netstack(&self) -> NetstackId {
        self.netstack
    }

    /// One round: replays what other workers learnt, ages the cache, sends what resolution released and
    /// what was submitted, answers a snapshot request. Returns the packets handled.
    pub(super) fn serve(
        &mut self,
        shared: &Shared,
        model: &HostModel,
        cache: &mut NeighborCache,
        socket: &mut NetstackSocket,
        now_ns: u64,
    ) -> usize {
        let port = &shared.netstacks[self.netstack.index()];
        let mut work = 0;
        while let Some(event) = port.learned.pop() {
            cache.apply(event, now_ns);
            work += 1;
        }
        if now_ns.saturating_sub(self.last_expiry_ns) >= EXPIRY_INTERVAL_NS {
            self.last_expiry_ns = now_ns;
            let parked = &mut self.parked;
            cache.expire_with(now_ns, |handle| {
                if let Some((mut packet, _)) = parked.get_mut(handle as usize).and_then(Option::take) {
                    bump(&port.counts.expired, 1);
                    packet.fate = Fate::Dropped;
                    let _ = shared.done.push(packet);
                }
            });
        }
        // Parked packets whose next hop is now resolved go out again, oldest handles first.
        for slot in 0..self.parked.len() {
            let Some((_, next_hop)) = &self.parked[slot] else {
                continue;
            };
            let next_hop = *next_hop;
            let mut released = [u32::MAX; PACKETS];
            let mut n = 0;
            Egress::new(model, &self.routes, cache).release(next_hop, now_ns, |h| {
                if let Some(r) = released.get_mut(n) {
                    *r = h;
                    n += 1;
                }
            });
            for &handle in &released[..n] {
                if let Some((packet, _)) = self.parked.get_mut(handle as usize).and_then(Option::take) {
                    self.send(shared, model, cache, socket, packet, now_ns);
                    work += 1;
                }
            }
        }
        while let Some(packet) = port.submitted.pop() {
            self.send(shared, model, cache, socket, packet, now_ns);
            work += 1;
        }
        if let Some(mut entries) = port.snapshot_asked.pop() {
            entries.clear();
            let room = entries.capacity();
            entries.extend(cache.entries(now_ns).take(room));
            let _ = port.snapshot_done.push(entries);
        }
        work
    }

    /// Sends one packet: frames on the tx ring, parked to wait for its next hop, or back with its fate.
    fn send(
        &mut self,
        shared: &Shared,
        model: &HostModel,
        cache: &mut NeighborCache,
        socket: &mut NetstackSocket,
        mut packet: Packet,
        now_ns: u64,
    ) {
        let counts = &shared.netstacks[self.netstack.index()].counts;
        let Some(handle) = self.parked.iter().position(Option::is_none) else {
            // Cannot happen: there are as many slots as packet buffers.
            packet.fate = Fate::Dropped;
            let _ = shared.done.push(packet);
            return;
        };
        let Self {
            routes,
            pool,
            frame,
            request,
            parked,
            ..
        } = self;
        let mut egress = Egress::new(model, routes, cache);
        let bytes = &packet.bytes[..packet.len];
        let fate = match egress.send(bytes, Some(packet.from), Origin::Local, handle as u32, now_ns, request) {
            Err(err) => {
                bump(&counts.refused, 1);
                Fate::Refused(err)
            }
            // Only local packets are sent here: never answered as too big.
            Ok(Outcome::TooBig(_)) => {
                bump(&counts.refused, 1);
                Fate::Dropped
            }
            Ok(Outcome::Send(mut frames)) => {
                let total = frames.remaining();
                let mut sent = 0u16;
                while let Ok(Some(len)) = frames.write_next(frame) {
                    if transmit(socket, pool, &frame[..len]) {
                        sent += 1;
                    } else {
                        bump(&counts.tx_dropped, 1);
                    }
                }
                bump(&counts.frames, u64::from(sent));
                bump(&counts.fragments, total.saturating_sub(1) as u64);
                if usize::from(sent) == total {
                    bump(&counts.sent, 1);
                    Fate::Sent { frames: sent }
                } else {
                    Fate::Dropped
                }
            }
            Ok(Outcome::Unresolved(unresolved)) => {
                if let Some(len) = unresolved.request_len {
                    if transmit(socket, pool, &request[..len]) {
                        bump(&counts.requests, 1);
                    } else {
                        bump(&counts.tx_dropped, 1);
                    }
                }
                match unresolved.queued {
                    Enqueue::Queued => {
                        bump(&counts.waiting, 1);
                        parked[handle] = Some((packet, unresolved.next_hop));
                        return;
                    }
                    Enqueue::DroppedOldest(oldest) => {
                        bump(&counts.waiting, 1);
                        bump(&counts.dropped_oldest, 1);
                        if let Some((mut dropped, _)) = parked.get_mut(oldest as usize).and_then(Option::take) {
                            dropped.fate = Fate::Dropped;
                            let _ = shared.done.push(dropped);
                        }
                        parked[handle] = Some((packet, unresolved.next_hop));
                        return;
                    }
                    Enqueue::Rejected(_) => {
                        bump(&counts.rejected, 1);
                        Fate::Dropped
                    }
                }
            }
        };
        packet.fate = fate;
        // Cannot fail: the queue holds every buffer.
        let _ = shared.done.push(packet);
    }
}

/// Puts `frame` on `socket`'s tx ring in frames of `pool`, chained when longer than one buffer. Returns
/// false, with every frame back in the pool, when the pool or the ring has no room.
fn transmit(socket: &mut NetstackSocket, pool: &EgressPool, frame: &[u8]) -> bool {
    let mut chain = [FrameDesc::default(); MAX_CHAIN];
    let parts = frame.chunks(BUFFER_LEN as usize);
    let n = parts.len();
    if n > MAX_CHAIN {
        return false;
    }
    for (i, part) in parts.enumerate() {
        let Some(mut desc) = pool.take() else {
            chain[..i].iter().for_each(|d| pool.give_back(*d));
            return false;
        };
        // Safety: a free frame of the pool, this socket's UMEM (the pool is its queue's); nobody else has it.
        unsafe { socket.write(&mut desc, part) };
        desc.set_options(if i + 1 < n { XDP_PKT_CONTD } else { 0 });
        chain[i] = desc;
    }
    if socket.transmit(&chain[..n]) {
        return true;
    }
    chain[..n].iter().for_each(|d| pool.give_back(*d));
    false
}
