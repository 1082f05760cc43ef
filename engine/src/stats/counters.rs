//! Per-worker frame counters per (vmk, service, verdict kind), in packets and bytes.
//!
//! Each worker owns one [`Counters`] and is its only writer: recording a frame is two additions into a flat
//! array, with no atomics and no sharing. Reports merge the workers' counters off the hot path. Frames in are
//! counted separately from verdicts, so `frames in == Σ verdicts` is a real check, see
//! [`Counters::conservation`].

use crate::pipeline::{Outcome, Service, Verdict};

/// Packets and bytes of one cell.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Frames.
    pub packets: u64,
    /// Bytes (whole frames as received).
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// One worker's counters.
#[derive(Clone, Debug)]
pub struct Counters {
    vmks: usize,
    frames_in: Tally,
    cells: Box<[Tally]>,
}

/// Service slots: one per service and one for "no service".
const SERVICE_SLOTS: usize = Service::COUNT + 1;

/// The result of checking that every frame got exactly one verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conservation {
    /// Frames the pipeline received.
    pub frames_in: Tally,
    /// Frames that ended in a verdict.
    pub verdicts: Tally,
}

impl Conservation {
    /// Whether every frame got exactly one verdict.
    pub fn holds(&self) -> bool {
        self.frames_in == self.verdicts
    }
}

impl Counters {
    /// Zeroed counters for a host with `vmks` adapters.
    pub fn new(vmks: usize) -> Self {
        let cells = vec![Tally::default(); (vmks + 1) * SERVICE_SLOTS * Verdict::KINDS].into_boxed_slice();
        Self {
            vmks,
            frames_in: Tally::default(),
            cells,
        }
    }

    /// Counts `frames` frames of `bytes` bytes in total entering the pipeline.
    #[inline]
    pub fn count_in(&mut self, frames: u64, bytes: u64) {
        self.frames_in.packets += frames;
        self.frames_in.bytes += bytes;
    }

    /// Counts a frame of `len` bytes ending in `outcome`.
    #[inline]
    pub fn record(&mut self, outcome: Outcome, len: usize) {
        let index = self.index(
            outcome.vmk.map(|v| v.index()),
            outcome.verdict.service(),
            outcome.verdict.kind_index(),
        );
        if let Some(cell) = self.cells.get_mut(index) {
            cell.packets += 1;
            cell.bytes += len as u64;
        }
    }

    #[inline]
    fn index(&self, vmk: Option<usize>, service: Option<Service>, kind: usize) -> usize {
        let vmk_slot = vmk.map_or(self.vmks, |v| v.min(self.vmks));
        let service_slot = service.map_or(Service::COUNT, |s| s as usize);
        (vmk_slot * SERVICE_SLOTS + service_slot) * Verdict::KINDS + kind
    }

    /// Frames in so far.
    pub fn frames_in(&self) -> Tally {
        self.frames_in
    }

    /// Adds `other` (another worker's counters for the same host) into `self`.
    pub fn merge(&mut self, other: &Counters) {
        self.frames_in.add(other.frames_in);
        for (mine, theirs) in self.cells.iter_mut().zip(other.cells.iter()) {
            mine.add(*theirs);
        }
    }

    /// Every non-zero cell as (vmk index or `None`, service or `None`, verdict kind index, tally).
    pub fn cells(&self) -> impl Iterator<Item = (Option<usize>, Option<Service>, usize, Tally)> + '_ {
        self.cells
            .iter()
            .enumerate()
            .filter(|(_, t)| t.packets > 0)
            .map(move |(i, t)| {
                let kind = i % Verdict::KINDS;
                let rest = i / Verdict::KINDS;
                let service = Service::ALL.get(rest % SERVICE_SLOTS).copied();
                let vmk = rest / SERVICE_SLOTS;
                ((vmk < self.vmks).then_some(vmk), service, kind, *t)
            })
    }

    /// Frames in against the sum of all verdicts.
    pub fn conservation(&self) -> Conservation {
        let mut verdicts = Tally::default();
        for cell in self.cells.iter() {
            verdicts.add(*cell);
        }
        Conservation {
            frames_in: self.frames_in,
            verdicts,
        }
    }
}

#[cfg(test)]
mod tests {
    use vmknet_common::DropReason;

    use super::*;
    use crate::model::VmkId;

    #[test]
    fn record_and_read_back() {
        let mut c = Counters::new(3);
        c.count_in(3, 300);
        c.record(
            Outcome {
                vmk: Some(VmkId(1)),
                verdict: Verdict::Delivered(Service::Vmotion),
            },
            100,
        );
        c.record(
            Outcome {
                vmk: None,
                verdict: Verdict::Passed,
            },
            100,
        );
        let dropped = Verdict::Dropped {
            reason: DropReason::ServiceDisabled,
            service: Some(Service::Management),
        };
        c.record(
            Outcome {
                vmk: Some(VmkId(2)),
                verdict: dropped,
            },
            100,
        );
        let cells: Vec<_> = c.cells().collect();
        assert_eq!(cells.len(), 3);
        assert!(cells.contains(&(Some(1), Some(Service::Vmotion), 0, Tally { packets: 1, bytes: 100 })));
        assert!(cells.contains(&(None, None, 3, Tally { packets: 1, bytes: 100 })));
        let kind = dropped.kind_index();
        assert_eq!(Verdict::kind_name(kind), "service_disabled");
        assert!(cells.contains(&(
            Some(2),
            Some(Service::Management),
            kind,
            Tally { packets: 1, bytes: 100 }
        )));
        assert!(c.conservation().holds());
    }

    #[test]
    fn conservation_fails_when_a_frame_has_no_verdict() {
        let mut c = Counters::new(1);
        c.count_in(2, 120);
        c.record(
            Outcome {
                vmk: None,
                verdict: Verdict::Passed,
            },
            60,
        );
        assert!(!c.conservation().holds());
    }

    #[test]
    fn merge_adds_workers() {
        let mut a = Counters::new(1);
        let mut b = Counters::new(1);
        for c in [&mut a, &mut b] {
            c.count_in(1, 64);
            c.record(
                Outcome {
                    vmk: Some(VmkId(0)),
                    verdict: Verdict::Delivered(Service::Iscsi),
                },
                64,
            );
        }
        a.merge(&b);
        assert_eq!(a.frames_in(), Tally { packets: 2, bytes: 128 });
        assert!(a.conservation().holds());
    }
}
