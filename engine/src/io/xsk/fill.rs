//! The fill-ring half of a queue: the UMEM's fill and completion rings, owned by one thread.
//!
//! Every frame goes back to the kernel from here: frames received on the queue's sockets (directly from the
//! owning thread, or through a [`ReturnQueue`] from a worker of its own) and frames whose transmission the
//! completion ring reports done. Both rings hold every frame of the UMEM, so a produce never falls short.
//! Completed frames of the queue's [`EgressPool`] go back to the pool, not to the fill ring.

use std::os::fd::RawFd;
use std::sync::Arc;

use xsk_rs::{CompQueue, FillQueue, FrameDesc, Umem};

use super::{DataPath, EgressPool, ReturnQueue};

/// Descriptors taken from the completion ring or a return queue per pass.
const DRAIN: usize = 256;

/// The books of one queue's UMEM, in buffers (chunks): what left the kernel's rings and what went back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UmemAccount {
    /// Frames (chunks) of the UMEM.
    pub frames: u64,
    /// Buffers taken from the rx rings.
    pub received: u64,
    /// Buffers taken back from the completion ring.
    pub completed: u64,
    /// Buffers given back to the fill ring (after the first fill).
    pub recycled: u64,
    /// Buffers put on tx rings.
    pub transmitted: u64,
    /// Buffers in userspace when counted: partial chains and frames on their way back to the fill-ring owner.
    pub held: u64,
}

impl UmemAccount {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &UmemAccount) {
        self.frames += other.frames;
        self.received += other.received;
        self.completed += other.completed;
        self.recycled += other.recycled;
        self.transmitted += other.transmitted;
        self.held += other.held;
    }

    /// Buffers taken from the kernel that were neither given back nor are held: zero unless a frame leaked
    /// (negative if one was given back twice).
    pub fn leaked(&self) -> i128 {
        i128::from(self.received) + i128::from(self.completed)
            - i128::from(self.recycled)
            - i128::from(self.transmitted)
            - i128::from(self.held)
    }

    /// Frames in the kernel's hands (fill, rx, tx and completion rings), by the books.
    pub fn in_kernel(&self) -> i128 {
        i128::from(self.frames) + i128::from(self.recycled) + i128::from(self.transmitted)
            - i128::from(self.received)
            - i128::from(self.completed)
    }
}

/// The fill and completion rings of one queue's UMEM. One thread owns it: the only producer into the fill
/// ring and the only consumer of the completion ring.
#[derive(Debug)]
pub struct FillRing {
    queue: u32,
    fill: FillQueue,
    completion: CompQueue,
    data_path: DataPath,
    /// A socket of the queue, kept open by the fill ring (it is the socket that created it): `poll()` on it
    /// wakes the driver up for the fill ring.
    wake_fd: RawFd,
    /// Scratch for draining the completion ring and return queues.
    scratch: Box<[FrameDesc]>,
    account: UmemAccount,
    /// The queue's egress frames, if it has any.
    egress: Option<Arc<EgressPool>>,
    /// Kept last: the UMEM outlives the rings (the sockets hold clones too).
    _umem: Umem,
}

impl FillRing {
    /// Takes the rings of a freshly bound queue and hands the kernel every frame, `descs`.
    pub(super) fn new(
        queue: u32,
        umem: Umem,
        mut fill: FillQueue,
        completion: CompQueue,
        data_path: DataPath,
        wake_fd: RawFd,
        descs: &[FrameDesc],
    ) -> Self {
        // Safety: `descs` are this UMEM's frames, none of them in use; the ring holds them all (sized so).
        let given = unsafe { fill.produce(descs) };
        debug_assert_eq!(given, descs.len(), "the fill ring holds every frame");
        Self {
            queue,
            fill,
            completion,
            data_path,
            wake_fd,
            scratch: vec![FrameDesc::default(); DRAIN].into_boxed_slice(),
            account: UmemAccount {
                frames: descs.len() as u64,
                ..UmemAccount::default()
            },
            egress: None,
            _umem: umem,
        }
    }

    /// Gives the queue the egress frames of `pool`, which the fill ring never holds: their completions go back
    /// to the pool.
    pub(super) fn with_egress_pool(mut self, pool: Option<Arc<EgressPool>>) -> Self {
        self.egress = pool;
        self
    }

    /// The rx queue.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Copy or zero-copy, as the kernel chose.
    pub fn data_path(&self) -> DataPath {
        self.data_path
    }

    /// Hands frames of this UMEM that a worker is done with back to the kernel.
    #[inline]
    pub fn recycle(&mut self, descs: &[FrameDesc]) {
        // Safety: `descs` are frames of this UMEM taken from its rings, which nobody reads any more.
        let given = unsafe { self.fill.produce(descs) };
        debug_assert_eq!(given, descs.len(), "the fill ring holds every frame");
        self.account.recycled += given as u64;
    }

    /// Moves every frame the completion ring reports sent into the fill ring; returns how many.
    #[inline]
    pub fn drain_completions(&mut self) -> usize {
        let mut total = 0;
        loop {
            // Safety: the completion ring of this UMEM only carries frames of this UMEM.
            let n = unsafe { self.completion.consume(&mut self.scratch) };
            self.account.completed += n as u64;
            let mut kept = n;
            if let Some(pool) = &self.egress {
                // The pool's frames go back to it; the others, moved to the front, to the fill ring.
                kept = 0;
                for i in 0..n {
                    let desc = self.scratch[i];
                    if pool.owns(desc.addr()) {
                        pool.give_back(desc);
                    } else {
                        self.scratch[kept] = desc;
                        kept += 1;
                    }
                }
            }
            self.recycle_scratch(kept);
            total += n;
            if n < self.scratch.len() {
                return total;
            }
        }
    }

    /// Moves the frames waiting in `returns` into the fill ring; returns how many.
    #[inline]
    pub fn drain_returns(&mut self, returns: &ReturnQueue) -> usize {
        let mut total = 0;
        loop {
            let mut n = 0;
            while n < self.scratch.len() {
                match returns.pop() {
                    Some(desc) => self.scratch[n] = desc,
                    None => break,
                }
                n += 1;
            }
            self.recycle_scratch(n);
            total += n;
            if n < self.scratch.len() {
                return total;
            }
        }
    }

    fn recycle_scratch(&mut self, n: usize) {
        if n > 0 {
            // Safety: the scratch holds frames of this UMEM just taken out of its rings.
            let given = unsafe { self.fill.produce(&self.scratch[..n]) };
            debug_assert_eq!(given, n, "the fill ring holds every frame");
            self.account.recycled += given as u64;
        }
    }

    /// Whether the kernel asks for a wakeup to take frames from the fill ring (`XDP_USE_NEED_WAKEUP`).
    #[inline]
    pub fn needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    /// The socket to `poll()` when [`needs_wakeup`](Self::needs_wakeup) says so.
    pub fn wake_fd(&self) -> RawFd {
        self.wake_fd
    }

    /// The queue's egress frames, if it has any.
    pub fn egress_pool(&self) -> Option<&Arc<EgressPool>> {
        self.egress.as_ref()
    }

    /// The books so far (the fill-ring side: completions and frames recycled).
    pub fn account(&self) -> UmemAccount {
        self.account
    }
}
