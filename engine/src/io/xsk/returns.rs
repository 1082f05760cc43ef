//! Frames on their way back to a queue's fill-ring owner from a worker that does not own the fill ring (a
//! netstack's dedicated worker).
//!
//! The frames travel through crossbeam's lock-free bounded queue, as large as the UMEM, so a push can never
//! find it full (a frame is only ever in one place). An idle owner sleeps in `poll()`; so that returned frames
//! do not wait for its timeout, the queue has a doorbell, an eventfd in the owner's poll set. The owner says
//! when it is about to sleep and a returning worker rings the bell only then, once: neither side makes a
//! system call while the owner is awake (the protocol of AF_XDP's own need-wakeup flag).

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering, fence};

use crossbeam::queue::ArrayQueue;
use xsk_rs::FrameDesc;

/// Frames returned to one queue's fill-ring owner, and the doorbell that wakes it.
#[derive(Debug)]
pub struct ReturnQueue {
    frames: ArrayQueue<FrameDesc>,
    /// The owner is asleep (or about to be) in `poll()` and wants the bell rung.
    owner_asleep: AtomicBool,
    bell: OwnedFd,
}

impl ReturnQueue {
    /// A queue for a UMEM of `frames` frames.
    ///
    /// # Errors
    /// The errno of `eventfd(2)`.
    pub fn new(frames: u32) -> io::Result<Self> {
        // Safety: plain eventfd(2); the descriptor is owned at once.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self {
            frames: ArrayQueue::new(frames.max(1) as usize),
            owner_asleep: AtomicBool::new(false),
            // Safety: `fd` was just created and is owned by nothing else.
            bell: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Queues `descs` for the owner and wakes it if it sleeps; returns how many did not fit (never more than
    /// zero: the queue holds every frame of the UMEM).
    #[inline]
    pub fn push_all(&self, descs: &[FrameDesc]) -> usize {
        let lost = descs.iter().filter(|desc| self.frames.push(**desc).is_err()).count();
        // Pairs with the fence in `prepare_sleep`: either the owner sees these frames before it sleeps, or this
        // sees it asleep.
        fence(Ordering::SeqCst);
        if self.owner_asleep.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // Safety: an 8-byte write from a valid u64 to the eventfd this queue owns. A failure (a counter at
            // its maximum) means the bell is rung already.
            unsafe { libc::write(self.bell.as_raw_fd(), (&raw const one).cast(), size_of::<u64>()) };
        }
        lost
    }

    /// Takes the next returned frame.
    #[inline]
    pub(super) fn pop(&self) -> Option<FrameDesc> {
        self.frames.pop()
    }

    /// The owner is about to sleep in `poll()` with [`bell`](Self::bell) in its set: returns whether it may
    /// (false when frames wait, and the owner should take them first).
    #[inline]
    pub fn prepare_sleep(&self) -> bool {
        self.owner_asleep.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.frames.is_empty() {
            return true;
        }
        self.owner_asleep.store(false, Ordering::SeqCst);
        false
    }

    /// The owner is awake again; `rung`: `poll()` reported the bell readable, which is then silenced.
    #[inline]
    pub fn woke(&self, rung: bool) {
        self.owner_asleep.store(false, Ordering::SeqCst);
        if rung {
            let mut count: u64 = 0;
            // Safety: an 8-byte read into a valid u64 from the eventfd this queue owns (non-blocking).
            unsafe { libc::read(self.bell.as_raw_fd(), (&raw mut count).cast(), size_of::<u64>()) };
        }
    }

    /// The doorbell, for the owner's `poll()` set (readable once rung).
    pub fn bell(&self) -> RawFd {
        self.bell.as_raw_fd()
    }

    /// Frames waiting in the queue.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the bell is readable now.
    fn rung(queue: &ReturnQueue) -> bool {
        let mut pollfd = libc::pollfd {
            fd: queue.bell(),
            events: libc::POLLIN,
            revents: 0,
        };
        // Safety: one valid pollfd, no waiting.
        let ready = unsafe { libc::poll(&raw mut pollfd, 1, 0) };
        ready == 1 && pollfd.revents & libc::POLLIN != 0
    }

    #[test]
    fn the_bell_rings_only_for_a_sleeping_owner_and_once() {
        let queue = ReturnQueue::new(8).expect("eventfd");
        let frames = [FrameDesc::default(); 3];
        assert_eq!(queue.push_all(&frames[..1]), 0);
        assert!(!rung(&queue), "an awake owner is not rung");
        assert!(!queue.prepare_sleep(), "frames wait: no sleeping");
        assert_eq!(queue.pop().map(|_| ()), Some(()));
        assert!(queue.prepare_sleep(), "nothing waits: the owner may sleep");
        assert_eq!(queue.push_all(&frames[..2]), 0);
        assert!(rung(&queue), "a sleeping owner is rung");
        queue.woke(true);
        assert!(!rung(&queue), "the bell is silenced on waking");
        assert_eq!(queue.push_all(&frames[..1]), 0);
        assert!(!rung(&queue), "rung once per sleep");
        assert_eq!(queue.len(), 3);
    }

    #[test]
    fn the_queue_holds_every_frame_of_the_umem() {
        let queue = ReturnQueue::new(4).expect("eventfd");
        assert_eq!(queue.push_all(&[FrameDesc::default(); 4]), 0);
        assert_eq!(
            queue.push_all(&[FrameDesc::default(); 2]),
            2,
            "beyond the UMEM: refused and counted"
        );
        assert_eq!(queue.len(), 4);
    }
}
