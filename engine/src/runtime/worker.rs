//! The worker of one rx queue: serves every netstack ring of the queue round by round, runs the pipeline on
//! each batch in place in the UMEM and hands the frames back to the queue's fill ring.
//!
//! The loop allocates nothing, takes no lock and makes no system call per frame: its arrays are on the stack,
//! the pipeline is pure, and the only system calls are `poll()` when every ring is empty (or, spinning with
//! `--busy-poll`, a wakeup when the kernel asks for one). A netstack takes at most [`BATCH`] frames per round,
//! so a flooded netstack cannot starve the others on the queue.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use xsk_rs::FrameDesc;

use crate::io::xsk::QueueSockets;
use crate::pipeline::{Outcome, Pipeline, Verdict};

/// Frames a netstack may take per round.
pub const BATCH: usize = 64;

/// How long an idle worker sleeps in `poll()` before it looks at the stop flag again.
const POLL_TIMEOUT_MS: i32 = 100;

/// Live per-netstack counts of one worker: written by the worker once per batch, read by the control thread.
/// Each netstack's cell has a cache line of its own.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(super) struct LiveCell {
    rx: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

/// A reading of [`LiveCell`]s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LiveCounts {
    /// Frames received from the netstack's rings.
    pub rx: u64,
    /// Frames delivered to a service.
    pub delivered: u64,
    /// Frames dropped.
    pub dropped: u64,
}

impl LiveCounts {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &LiveCounts) {
        self.rx += other.rx;
        self.delivered += other.delivered;
        self.dropped += other.dropped;
    }
}

impl LiveCell {
    /// The counts so far.
    pub(super) fn read(&self) -> LiveCounts {
        LiveCounts {
            rx: self.rx.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// Counts a batch with `outcomes`. The worker is the only writer, so a load and a store suffice.
    #[inline]
    fn record(&self, outcomes: &[Outcome]) {
        let (mut delivered, mut dropped) = (0, 0);
        for outcome in outcomes {
            match outcome.verdict {
                Verdict::Delivered(_) => delivered += 1,
                Verdict::Dropped { .. } => dropped += 1,
                Verdict::Replied(_) | Verdict::Forwarded(_) | Verdict::Passed => {}
            }
        }
        let bump = |cell: &AtomicU64, n: u64| cell.store(cell.load(Ordering::Relaxed) + n, Ordering::Relaxed);
        bump(&self.rx, outcomes.len() as u64);
        bump(&self.delivered, delivered);
        bump(&self.dropped, dropped);
    }
}

/// What a worker needs; it owns the queue's sockets and its pipeline for the run and gives them back at the end.
#[derive(Debug)]
pub(crate) struct Worker {
    pub(crate) sockets: QueueSockets,
    pub(crate) pipeline: Pipeline,
    pub(crate) live: Arc<[LiveCell]>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) busy_poll: bool,
    pub(crate) cpu: usize,
    pub(crate) epoch: Instant,
}

/// A worker's sockets and pipeline back from its thread, with why it stopped if not asked to.
#[derive(Debug)]
pub(crate) struct WorkerOutput {
    pub(crate) sockets: QueueSockets,
    pub(crate) pipeline: Pipeline,
    pub(crate) error: Option<io::Error>,
}

impl Worker {
    /// Pins the thread, then serves the queue until the stop flag is raised or `poll()` fails.
    pub(crate) fn run(mut self) -> WorkerOutput {
        let error = match super::cpus::pin_current_thread(self.cpu) {
            Ok(()) => self.serve().err(),
            Err(err) => Some(io::Error::new(
                err.kind(),
                format!(
                    "pinning the worker of queue {} to CPU {}: {err}",
                    self.sockets.queue(),
                    self.cpu
                ),
            )),
        };
        WorkerOutput {
            sockets: self.sockets,
            pipeline: self.pipeline,
            error,
        }
    }

    fn serve(&mut self) -> io::Result<()> {
        let mut pollfds: Vec<libc::pollfd> = self
            .sockets
            .raw_fds()
            .map(|fd| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let n_rings = self.sockets.n_rings().min(self.live.len());
        let mut descs = [FrameDesc::default(); BATCH];
        let mut outcomes = [Outcome {
            vmk: None,
            verdict: Verdict::Passed,
        }; BATCH];
        while !self.stop.load(Ordering::Relaxed) {
            let now_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
            let mut received = 0;
            for ring in 0..n_rings {
                let n = self.sockets.receive(ring, &mut descs);
                if n == 0 {
                    continue;
                }
                received += n;
                let mut frames: [&[u8]; BATCH] = [&[]; BATCH];
                self.sockets.frames(&descs[..n], &mut frames[..n]);
                self.pipeline.process_batch(&frames[..n], now_ns, &mut outcomes[..n]);
                self.sockets.recycle(&descs[..n]);
                self.live[ring].record(&outcomes[..n]);
            }
            if received == 0 && !self.busy_poll {
                // Sleeping in poll() also wakes the driver up when the fill ring asks for it.
                poll(&mut pollfds, POLL_TIMEOUT_MS)?;
            } else if self.sockets.fill_needs_wakeup() {
                let first = pollfds.len().min(1);
                poll(&mut pollfds[..first], 0)?;
            } else if received == 0 {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }
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
