//! A worker thread: serves a set of (queue, netstack) rings round by round, runs the pipeline on each batch
//! in place in the UMEM, puts the replies on the tx ring of the socket their request came in on, and gives
//! every other frame back.
//!
//! By default a worker serves every netstack ring of one rx queue and owns that queue's fill ring; a netstack
//! with a worker of its own (`--netstack-cpu`) is served by that worker on every queue, and the frames it is
//! done with go back to each queue's fill-ring owner through a lock-free [`ReturnQueue`], which the owner
//! drains into the fill ring every round along with the completion ring (an idle owner is woken by the
//! queue's doorbell).
//!
//! A worker may also own netstacks' egress ([`OwnedEgress`], see [`super::local`]): every round it replays
//! what the other workers learnt, sends what the host submitted or what resolution released, and copies
//! echo replies for the host into their slots; the caches of netstacks it does not own keep a journal that
//! it hands to their owners after each round.
//!
//! With processing off ([`Processing::Off`], the benchmark's bare AF_XDP receive) a worker receives and
//! gathers exactly the same way, counts each frame and its bytes, and gives every buffer straight back: no
//! pipeline, no verdict, no reply. With the latency probe on, it times the stamped frames of each batch
//! ([`LatencyProbe`]): the delivered ones, or with processing off all of them.
//!
//! Per round and ring, a [`Gather`] takes buffers until [`BATCH`] frames are whole (a jumbo frame is a chain
//! of buffers; the budget counts frames) or the ring is empty, so a flooded netstack cannot starve the others.
//!
//! The loop allocates nothing, takes no lock and makes no system call per frame: its arrays are on the stack
//! or allocated before it starts (the probe's histogram too; its clock is read from the vDSO once per batch
//! and ring), the pipeline is pure, and the only system calls are `poll()` when there is
//! nothing to do (or, spinning with `--busy-poll`, a fill-ring wakeup when the kernel asks for one) and at
//! most one tx kick per ring and round.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use xsk_rs::FrameDesc;

use super::Processing;
use super::gather::Gather;
use super::latency::{LatencyProbe, monotonic_ns};
use super::local::{OwnedEgress, Shared};
use crate::io::xsk::{FillRing, NetstackSocket, ReturnQueue};
use crate::model::{HostModel, NetstackId};
use crate::pipeline::{Outcome, Pipeline, Service, Verdict};

/// Frames a ring may yield per round.
pub const BATCH: usize = 64;

/// How long an idle worker sleeps in `poll()` before it looks at the stop flag again.
const POLL_TIMEOUT_MS: i32 = 100;

/// Live counts of one (queue, netstack) ring: written by the worker serving it once per batch, read by the
/// control thread. Each cell has a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(super) struct LiveCell {
    rx: AtomicU64,
    rx_bytes: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    replied: AtomicU64,
    tx_dropped: AtomicU64,
}

/// A reading of the live counts of a (queue, netstack) ring, or a sum of such readings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Frames received from the netstack's rings.
    pub rx: u64,
    /// Their bytes on the wire (every buffer of a multi-buffer frame).
    pub rx_bytes: u64,
    /// Frames delivered to a service.
    pub delivered: u64,
    /// Frames dropped.
    pub dropped: u64,
    /// Frames answered (ARP, ND, ICMP echo): the reply was put on the tx ring, or counted in `tx_dropped`.
    pub replied: u64,
    /// Replies that could not be queued (tx ring full); their frames went back to the fill ring.
    pub tx_dropped: u64,
}

impl LiveCounts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &LiveCounts) {
        self.rx += other.rx;
        self.rx_bytes += other.rx_bytes;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
        self.replied += other.replied;
        self.tx_dropped += other.tx_dropped;
    }
}

impl LiveCell {
    /// The counts so far.
    pub(super) fn read(&self) -> LiveCounts {
        LiveCounts {
            rx: self.rx.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            replied: self.replied.load(Ordering::Relaxed),
            tx_dropped: self.tx_dropped.load(Ordering::Relaxed),
        }
    }

    /// Counts a batch of `frames` frames with `bytes` on the wire. The worker serving the ring is the only
    /// writer of a cell, so a load and a store suffice.
    #[inline]
    fn record_rx(&self, frames: usize, bytes: u64) {
        bump(&self.rx, frames as u64);
        bump(&self.rx_bytes, bytes);
    }

    /// Counts the verdicts of a batch, `outcomes`, with `tx_dropped` replies not queued.
    #[inline]
    fn record_verdicts(&self, outcomes: &[Outcome], tx_dropped: u64) {
        let (mut delivered, mut dropped, mut replied) = (0, 0, 0);
        for outcome in outcomes {
            match outcome.verdict {
                Verdict::Delivered(_) => delivered += 1,
                Verdict::Dropped { .. } => dropped += 1,
                Verdict::Replied(_) => replied += 1,
                Verdict::Forwarded(_) | Verdict::Passed => {}
            }
        }
        bump(&self.delivered, delivered);
        bump(&self.dropped, dropped);
        bump(&self.replied, replied);
        bump(&self.tx_dropped, tx_dropped);
    }
}

/// Adds `n` to a live counter that only the calling worker writes.
#[inline]
fn bump(cell: &AtomicU64, n: u64) {
    cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed);
}

/// Where a ring's frames go when the worker is done with them.
#[derive(Debug)]
pub(super) enum Release {
    /// Straight into the fill ring this worker owns (`fills[i]`).
    Fill(usize),
    /// To the queue's fill-ring owner, another worker.
    Return(Arc<ReturnQueue>),
}

/// A fill ring a worker owns, and the frames other workers return to it.
#[derive(Debug)]
pub(super) struct OwnedFill {
    pub(super) fill: FillRing,
    pub(super) returns: Option<Arc<ReturnQueue>>,
}

/// A (queue, netstack) ring a worker serves.
#[derive(Debug)]
pub(super) struct ServedRing {
    pub(super) socket: NetstackSocket,
    pub(super) gather: Gather<FrameDesc>,
    pub(super) live: Arc<[LiveCell]>,
    pub(super) release: Release,
}

impl ServedRing {
    /// A ring whose counts go to `live[socket.netstack()]`.
    pub(super) fn new(socket: NetstackSocket, live: Arc<[LiveCell]>, release: Release) -> Self {
        Self {
            socket,
            gather: Gather::new(),
            live,
            release,
        }
    }

    /// Buffers held in an unfinished chain.
    pub(super) fn held(&self) -> usize {
        self.gather.held()
    }
}

/// What a worker needs; it owns its rings and its pipeline for the run and gives them back at the end.
#[derive(Debug)]
pub(super) struct Worker {
    pub(super) name: String,
    pub(super) fills: Vec<OwnedFill>,
    pub(super) rings: Vec<ServedRing>,
    pub(super) pipeline: Pipeline,
    /// Whether the pipeline runs on the frames received.
    pub(super) processing: Processing,
    /// The latency probe, when on.
    pub(super) latency: Option<LatencyProbe>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) busy_poll: bool,
    pub(super) cpu: usize,
    pub(super) epoch: Instant,
    pub(super) model: Arc<HostModel>,
    pub(super) local: Arc<Shared>,
    /// The netstacks whose egress this worker owns.
    pub(super) egress: Vec<OwnedEgress>,
}

/// A worker's rings and pipeline back from its thread, with why it stopped if not asked to.
#[derive(Debug)]
pub(super) struct WorkerOutput {
    pub(super) fills: Vec<OwnedFill>,
    pub(super) rings: Vec<ServedRing>,
    pub(super) pipeline: Pipeline,
    pub(super) latency: Option<LatencyProbe>,
    pub(super) error: Option<io::Error>,
}

impl Worker {
    /// Pins the thread, then serves the rings until the stop flag is raised or a system call fails.
    pub(super) fn run(mut self) -> WorkerOutput {
        let error = match super::cpus::pin_current_thread(self.cpu) {
            Ok(()) => self.serve().err(),
            Err(err) => Some(io::Error::new(
                err.kind(),
                format!("pinning the worker {} to CPU {}: {err}", self.name, self.cpu),
            )),
        };
        WorkerOutput {
            fills: self.fills,
            rings: self.rings,
            pipeline: self.pipeline,
            latency: self.latency,
            error,
        }
    }

    fn serve(&mut self) -> io::Result<()> {
        // The rings, then the doorbells of the return queues of the fill rings this worker owns.
        let pollin = |fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut pollfds: Vec<libc::pollfd> = self.rings.iter().map(|ring| pollin(ring.socket.raw_fd())).collect();
        let bells = pollfds.len();
        pollfds.extend(
            self.fills
                .iter()
                .filter_map(|f| f.returns.as_ref())
                .map(|r| pollin(r.bell())),
        );
        let owner_bells = pollfds.len();
        pollfds.extend(
            self.egress
                .iter()
                .filter_map(|e| self.local.bell(e.netstack()))
                .map(|b| pollin(b.fd())),
        );
        let netstacks = self.pipeline.tables().netstacks.len();
        let mut outcomes = [Outcome {
            vmk: None,
            verdict: Verdict::Passed,
        }; BATCH];
        while !self.stop.load(Ordering::Relaxed) {
            let now_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let mut work = 0;
            for owned in &mut self.fills {
                work += owned.fill.drain_completions();
                if let Some(returns) = &owned.returns {
                    work += owned.fill.drain_returns(returns);
                }
            }
            for owned in &mut self.egress {
                let (Some(ring), Some(cache)) = (
                    self.rings.get_mut(owned.ring),
                    self.pipeline.neighbors_mut(owned.netstack()),
                ) else {
                    continue;
                };
                work += owned.serve(&self.local, &self.model, cache, &mut ring.socket, now_ns);
            }
            let mut tx_pending = false;
            for ring in &mut self.rings {
                let stage = match self.processing {
                    Processing::Pipeline => Stage::Judge(Judge {
                        pipeline: &mut self.pipeline,
                        local: &self.local,
                        now_ns,
                        outcomes: &mut outcomes,
                    }),
                    Processing::Off => Stage::Release,
                };
                work += serve_ring(ring, stage, self.latency.as_mut(), &mut self.fills);
                ring.socket.kick()?;
                tx_pending |= ring.socket.tx_pending();
            }
            for netstack in (0..netstacks).map(|i| NetstackId(i as u32)) {
                if let Some(cache) = self.pipeline.neighbors_mut(netstack) {
                    self.local.forward_journal(netstack, cache);
                }
            }
            if work == 0 && !tx_pending && !self.busy_poll {
                self.sleep(&mut pollfds[..], bells, owner_bells)?;
            } else if let Some(fd) = self
                .fills
                .iter()
                .find(|f| f.fill.needs_wakeup())
                .map(|f| f.fill.wake_fd())
            {
                wake(fd)?;
            } else if work == 0 {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }
}

impl Worker {
    /// Sleeps in `poll()` until a ring has frames, a returning worker rings a bell or the timeout passes;
    /// `pollfds[bells..]` are the doorbells of this worker's return queues, in order. Does not sleep when
    /// returned frames wait. Sleeping in poll() also wakes the driver up when the fill ring asks for it.
    /// `pollfds[owner_bells..]` are the bells of the netstacks whose egress it owns, silenced here.
    fn sleep(&self, pollfds: &mut [libc::pollfd], bells: usize, owner_bells: usize) -> io::Result<()> {
        let returns = || self.fills.iter().filter_map(|f| f.returns.as_deref());
        // Every queue is told, so that each rings if it gets frames; sleeping only if none has any yet.
        let mut may_sleep = true;
        for queue in returns() {
            may_sleep &= queue.prepare_sleep();
        }
        if may_sleep {
            poll(pollfds, POLL_TIMEOUT_MS)?;
        }
        for (queue, pollfd) in returns().zip(&pollfds[bells..]) {
            queue.woke(may_sleep && pollfd.revents & libc::POLLIN != 0);
        }
        let owned = self.egress.iter().filter_map(|e| self.local.bell(e.netstack()));
        for (bell, pollfd) in owned.zip(&pollfds[owner_bells..]) {
            if may_sleep && pollfd.revents & libc::POLLIN != 0 {
                bell.silence();
            }
        }
        Ok(())
    }
}

/// What a worker does with a batch once gathered.
enum Stage<'a> {
    /// Judge it with the pipeline, put the replies on the tx ring and give the rest back.
    Judge(Judge<'a>),
    /// Give every frame straight back (processing off).
    Release,
}

/// The pipeline's part of a batch, with what it needs.
struct Judge<'a> {
    pipeline: &'a mut Pipeline,
    local: &'a Shared,
    now_ns: u64,
    outcomes: &'a mut [Outcome; BATCH],
}

/// One batch of one ring: gather, then judge, reply and give back, or with processing off give every frame
/// straight back; the probe, if any, times the batch's stamped frames on the way. Returns the buffers taken
/// from the ring.
#[inline]
fn serve_ring(
    ring: &mut ServedRing,
    stage: Stage<'_>,
    latency: Option<&mut LatencyProbe>,
    fills: &mut [OwnedFill],
) -> usize {
    let ServedRing {
        socket,
        gather,
        live,
        release,
    } = ring;
    let taken = gather.fill(|bufs| socket.receive(bufs));
    let n = gather.frames();
    if n == 0 {
        return taken;
    }
    let mut wire_lens = [0u32; BATCH];
    for (i, len) in wire_lens[..n].iter_mut().enumerate() {
        *len = gather.wire_len(i);
    }
    let cell = live.get(socket.netstack());
    match stage {
        Stage::Judge(mut judge) => {
            let tx_dropped = judge.batch(socket, gather, release, &wire_lens[..n], latency, fills);
            if let Some(cell) = cell {
                cell.record_verdicts(&judge.outcomes[..n], tx_dropped);
            }
        }
        Stage::Release => {
            if let Some(probe) = latency {
                time_batch(probe, socket, gather, |_| true);
            }
            give_back(fills, release, gather.buffers());
        }
    }
    gather.next_batch();
    if let Some(cell) = cell {
        cell.record_rx(n, wire_lens[..n].iter().map(|&l| u64::from(l)).sum());
    }
    taken
}

impl Judge<'_> {
    /// Runs the pipeline on the gathered batch (frames of `wire_lens` bytes on the wire), times its delivered
    /// stamped frames, hands echo replies for the host over, puts the replies on the tx ring and gives every
    /// other buffer back. Returns the replies that could not be queued (their buffers are given back too).
    #[inline]
    fn batch(
        &mut self,
        socket: &mut NetstackSocket,
        gather: &mut Gather<FrameDesc>,
        release: &Release,
        wire_lens: &[u32],
        latency: Option<&mut LatencyProbe>,
        fills: &mut [OwnedFill],
    ) -> u64 {
        let n = wire_lens.len();
        let outcomes = &mut self.outcomes[..n];
        {
            let mut heads: [&[u8]; BATCH] = [&[]; BATCH];
            let bufs = gather.buffers();
            for (i, head) in heads[..n].iter_mut().enumerate() {
                // Safety: the buffers are this socket's, held by the gather until given back below, after the
                // heads are gone.
                *head = unsafe { socket.bytes(&bufs[gather.chain(i).start]) };
            }
            self.pipeline
                .process_batch_segmented(&heads[..n], wire_lens, self.now_ns, outcomes);
        }
        if let Some(probe) = latency {
            time_batch(probe, socket, gather, |i| {
                matches!(outcomes[i].verdict, Verdict::Delivered(_))
            });
        }
        for (i, outcome) in outcomes.iter().enumerate() {
            if outcome.verdict == Verdict::Delivered(Service::Icmp) {
                let chain = gather.chain(i);
                let bufs = &gather.buffers()[chain];
                // Safety: the buffers are this socket's, held by the gather until given back below; only read.
                let head = unsafe { socket.bytes(&bufs[0]) };
                let rest = bufs[1..].iter().map(|d| unsafe { socket.bytes(d) });
                self.local.take_echo_reply(head, gather.wire_len(i) as usize, rest);
            }
        }
        let mut tx_dropped = 0;
        let mut released_to = 0;
        for (i, outcome) in outcomes.iter().enumerate() {
            if !matches!(outcome.verdict, Verdict::Replied(_)) {
                continue;
            }
            let chain = gather.chain(i);
            give_back(fills, release, &gather.buffers()[released_to..chain.start]);
            released_to = chain.end;
            let bufs = gather.buffers_mut();
            // Safety: the head is this socket's, held by the gather; no slice of it lives any more.
            let built = unsafe {
                socket.rewrite(&mut bufs[chain.start], |buf, len| {
                    self.pipeline.build_reply(outcome, buf, len)
                })
            };
            if !(built && socket.transmit(&bufs[chain.clone()])) {
                tx_dropped += 1;
                give_back(fills, release, &bufs[chain]);
            }
        }
        give_back(fills, release, &gather.buffers()[released_to..]);
        tx_dropped
    }
}

/// Records the latency of the batch's stamped frames `i` for which `timed(i)` holds, against one reading of
/// the clock.
#[inline]
fn time_batch(
    probe: &mut LatencyProbe,
    socket: &NetstackSocket,
    gather: &Gather<FrameDesc>,
    timed: impl Fn(usize) -> bool,
) {
    let now_ns = monotonic_ns();
    let bufs = gather.buffers();
    for i in (0..gather.frames()).filter(|&i| timed(i)) {
        // Safety: the buffers are this socket's, held by the gather until given back, after this read.
        probe.record(now_ns, unsafe { socket.bytes(&bufs[gather.chain(i).start]) });
    }
}

/// Gives frames back to the kernel: into this worker's fill ring, or to the queue's fill-ring owner.
#[inline]
fn give_back(fills: &mut [OwnedFill], release: &Release, descs: &[FrameDesc]) {
    if descs.is_empty() {
        return;
    }
    match release {
        Release::Fill(i) => {
            if let Some(owned) = fills.get_mut(*i) {
                owned.fill.recycle(descs);
            }
        }
        Release::Return(returns) => {
            let lost = returns.push_all(descs);
            debug_assert_eq!(lost, 0, "the return queue holds every frame of the UMEM");
        }
    }
}

/// Asks the kernel to look at the fill ring again (`poll()` on a socket of the queue, without waiting).
fn wake(fd: RawFd) -> io::Result<()> {
    let mut pollfd = [libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }];
    poll(&mut pollfd, 0)
}

/// `poll()` on `fds`; an interrupted call is an empty one.
fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<()> {
    // Safety: `fds` is a valid array of `fds.len()` pollfd structures.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    Ok(())
}
