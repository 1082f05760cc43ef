//! Multi-buffer receive: gathering one ring's buffers into whole frames, a batch at a time.
//!
//! With `XDP_USE_SG` a jumbo frame arrives as a chain of buffers, all but the last flagged `XDP_PKT_CONTD`.
//! A [`Gather`] takes buffers from one ring until it holds [`BATCH`] whole frames or the ring is empty, so the
//! batch budget counts frames, not buffers. A chain whose rest is not in the ring yet (a batch can end in the
//! middle of one) stays in the gather, at its front, and is completed by the next batch: no buffer is lost or
//! handed back twice. Every buffer of the batch's whole frames is the worker's to give back; the tail is not.
//!
//! The buffer array is sized for four buffers per frame and more: a chain can never be longer than the
//! kernel's limit on an XDP frame (`MAX_SKB_FRAGS` + 1 pages), far below it. Should one fill the array all
//! the same, it is cut there and judged as a frame (too long for any MTU, the pipeline drops it); the rest of
//! its chain then arrives as frames of its own. Either way every buffer goes back.

use xsk_rs::FrameDesc;

use super::worker::BATCH;

/// Buffers a gather holds: four per frame of a batch (a 9000-byte frame takes three).
const CAPACITY: usize = 4 * BATCH;

/// One buffer of a chain, as the gather sees it.
pub(super) trait Segment: Copy + Default {
    /// Whether the frame continues in the next buffer.
    fn continues(&self) -> bool;
    /// Bytes in this buffer.
    fn len(&self) -> usize;
}

impl Segment for FrameDesc {
    #[inline]
    fn continues(&self) -> bool {
        self.has_more_frames()
    }

    #[inline]
    fn len(&self) -> usize {
        self.lengths().data()
    }
}

/// One ring's buffers: the whole frames of the current batch, then the start of an unfinished chain.
#[derive(Debug)]
pub(super) struct Gather<S> {
    bufs: Box<[S]>,
    /// Buffers held.
    len: usize,
    /// `ends[i]`: one past the last buffer of frame `i`.
    ends: [u16; BATCH],
    /// Whole frames held.
    frames: usize,
}

impl<S: Segment> Gather<S> {
    pub(super) fn new() -> Self {
        Self {
            bufs: vec![S::default(); CAPACITY].into_boxed_slice(),
            len: 0,
            ends: [0; BATCH],
            frames: 0,
        }
    }

    /// Takes buffers with `receive` (which fills the slice it is given from the ring and returns how many it
    /// filled) until [`BATCH`] frames are whole or the ring runs dry. Returns the buffers taken.
    #[inline]
    pub(super) fn fill(&mut self, mut receive: impl FnMut(&mut [S]) -> usize) -> usize {
        let mut taken = 0;
        loop {
            // Each buffer ends at most one frame: asking for no more buffers than frames missing keeps the
            // batch within its budget.
            let want = (BATCH - self.frames).min(self.bufs.len() - self.len);
            if want == 0 {
                if self.frames == 0 {
                    // One chain fills the whole array (see the module docs): cut it here.
                    self.end_frame(self.len);
                }
                return taken;
            }
            let start = self.len;
            let n = receive(&mut self.bufs[start..start + want]).min(want);
            for i in start..start + n {
                if !self.bufs[i].continues() {
                    self.end_frame(i + 1);
                }
            }
            self.len += n;
            taken += n;
            if n < want {
                return taken;
            }
        }
    }

    fn end_frame(&mut self, end: usize) {
        self.ends[self.frames] = end as u16;
        self.frames += 1;
    }

    /// Whole frames held.
    #[inline]
    pub(super) fn frames(&self) -> usize {
        self.frames
    }

    /// The range of frame `i`'s buffers in [`buffers`](Self::buffers).
    #[inline]
    pub(super) fn chain(&self, i: usize) -> std::ops::Range<usize> {
        let start = if i == 0 { 0 } else { usize::from(self.ends[i - 1]) };
        start..usize::from(self.ends[i])
    }

    /// Frame `i`'s length on the wire: the sum of its buffers.
    #[inline]
    pub(super) fn wire_len(&self, i: usize) -> u32 {
        let len: usize = self.bufs[self.chain(i)].iter().map(Segment::len).sum();
        u32::try_from(len).unwrap_or(u32::MAX)
    }

    /// The buffers of the whole frames, in order.
    #[inline]
    pub(super) fn buffers(&self) -> &[S] {
        &self.bufs[..self.whole_len()]
    }

    /// The buffers of the whole frames, writable (a reply rewrites its head's length).
    #[inline]
    pub(super) fn buffers_mut(&mut self) -> &mut [S] {
        let end = self.whole_len();
        &mut self.bufs[..end]
    }

    /// Buffers held in all, an unfinished chain's included.
    pub(super) fn held(&self) -> usize {
        self.len
    }

    fn whole_len(&self) -> usize {
        self.frames
            .checked_sub(1)
            .map_or(0, |last| usize::from(self.ends[last]))
    }

    /// Forgets the whole frames (their buffers are given back by now) and moves an unfinished chain to the
    /// front, for the next batch to complete.
    #[inline]
    pub(super) fn next_batch(&mut self) {
        let done = self.whole_len();
        self.bufs.copy_within(done..self.len, 0);
        self.len -= done;
        self.frames = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test buffer: its length, and whether the frame continues.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    struct Buf(usize, bool);

    impl Segment for Buf {
        fn continues(&self) -> bool {
            self.1
        }

        fn len(&self) -> usize {
            self.0
        }
    }

    /// A ring holding `bufs`, handing out at most what is asked.
    fn ring(bufs: &[Buf]) -> impl FnMut(&mut [Buf]) -> usize + '_ {
        let mut next = 0;
        move |out: &mut [Buf]| {
            let n = out.len().min(bufs.len() - next);
            out[..n].copy_from_slice(&bufs[next..next + n]);
            next += n;
            n
        }
    }

    fn jumbo(total: usize) -> Vec<Buf> {
        let mut chain: Vec<Buf> = (0..total.div_ceil(3840))
            .map(|i| Buf((total - i * 3840).min(3840), true))
            .collect();
        if let Some(last) = chain.last_mut() {
            last.1 = false;
        }
        chain
    }

    #[test]
    fn chains_become_frames_with_their_wire_length() {
        let mut bufs = vec![Buf(60, false)];
        bufs.extend(jumbo(9018));
        bufs.push(Buf(1514, false));
        bufs.extend(jumbo(8000));
        let mut gather = Gather::new();
        assert_eq!(gather.fill(ring(&bufs)), bufs.len());
        assert_eq!(gather.frames(), 4);
        let lens: Vec<u32> = (0..4).map(|i| gather.wire_len(i)).collect();
        assert_eq!(lens, [60, 9018, 1514, 8000]);
        assert_eq!(gather.chain(1), 1..4);
        assert_eq!(gather.buffers().len(), bufs.len());
        gather.next_batch();
        assert_eq!((gather.frames(), gather.held()), (0, 0));
    }

    #[test]
    fn the_budget_counts_frames_not_buffers() {
        let bufs: Vec<Buf> = (0..BATCH + 10).flat_map(|_| jumbo(9000)).collect();
        let mut gather = Gather::new();
        let mut source = ring(&bufs);
        gather.fill(&mut source);
        assert_eq!(gather.frames(), BATCH, "a whole batch of jumbo frames");
        assert_eq!(gather.buffers().len(), 3 * BATCH);
        assert_eq!(gather.held(), 3 * BATCH, "nothing taken beyond the budget");
        gather.next_batch();
        gather.fill(&mut source);
        assert_eq!(gather.frames(), 10);
    }

    #[test]
    fn a_chain_cut_by_the_end_of_the_ring_is_completed_by_the_next_batch() {
        let chain = jumbo(9000);
        let mut gather = Gather::new();
        // The ring holds a small frame and the first two buffers of a jumbo frame.
        let first = [Buf(64, false), chain[0], chain[1]];
        assert_eq!(gather.fill(ring(&first)), 3);
        assert_eq!(gather.frames(), 1);
        assert_eq!(gather.buffers(), &[Buf(64, false)]);
        assert_eq!(gather.held(), 3);
        gather.next_batch();
        assert_eq!((gather.frames(), gather.held()), (0, 2), "the unfinished chain is kept");
        let rest = [chain[2], Buf(70, false)];
        gather.fill(ring(&rest));
        assert_eq!(gather.frames(), 2);
        assert_eq!((gather.wire_len(0), gather.wire_len(1)), (9000, 70));
        assert_eq!(gather.buffers(), &[chain[0], chain[1], chain[2], Buf(70, false)]);
    }

    #[test]
    fn an_endless_chain_is_cut_and_every_buffer_still_handed_out() {
        let bufs = vec![Buf(3840, true); CAPACITY + 5];
        let mut gather = Gather::new();
        let mut source = ring(&bufs);
        gather.fill(&mut source);
        assert_eq!(gather.frames(), 1);
        assert_eq!(gather.buffers().len(), CAPACITY);
        gather.next_batch();
        gather.fill(&mut source);
        assert_eq!((gather.frames(), gather.held()), (0, 5), "the rest waits for its end");
    }
}
