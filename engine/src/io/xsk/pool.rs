//! UMEM frames set aside for the host's own traffic (vmkping, ARP requests, neighbour solicitations).
//!
//! Received frames belong to the fill ring's cycle; what the host sends needs frames of its own. The last
//! frames of a queue's UMEM (the highest addresses) are never given to the fill ring: they wait here for the
//! netstacks' egress owners, go out on a tx ring, and come back from the completion ring, which the fill-ring
//! owner recognises by address and returns here instead of to the fill ring. A frame the tx ring refuses
//! comes straight back. The pool is a lock-free queue as large as the frames it holds, so a return never
//! finds it full.

use crossbeam::queue::ArrayQueue;
use xsk_rs::FrameDesc;

/// The egress frames of one queue's UMEM.
#[derive(Debug)]
pub struct EgressPool {
    free: ArrayQueue<FrameDesc>,
    /// Frames at or above this address are the pool's.
    base: usize,
    frames: usize,
}

impl EgressPool {
    /// A pool of `descs`, the UMEM's highest frames.
    pub(super) fn new(descs: &[FrameDesc]) -> Self {
        let free = ArrayQueue::new(descs.len().max(1));
        for desc in descs {
            // Cannot fail: the queue holds every frame of the pool.
            let _ = free.push(*desc);
        }
        Self {
            free,
            base: descs.iter().map(FrameDesc::addr).min().unwrap_or(usize::MAX),
            frames: descs.len(),
        }
    }

    /// A free frame, if one is left.
    #[inline]
    pub fn take(&self) -> Option<FrameDesc> {
        self.free.pop()
    }

    /// Gives a frame of the pool back (sent and completed, or never sent).
    #[inline]
    pub fn give_back(&self, desc: FrameDesc) {
        let returned = self.free.push(desc);
        debug_assert!(returned.is_ok(), "the pool holds every frame it owns");
    }

    /// Whether the frame at `addr` is one of the pool's.
    #[inline]
    pub fn owns(&self, addr: usize) -> bool {
        addr >= self.base
    }

    /// Frames the pool owns.
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Frames free now (all of them once every transmission completed).
    pub fn free(&self) -> usize {
        self.free.len()
    }
}
