//! The latency probe: how long stamped frames took from the generator's send to a worker's receive.
//!
//! The benchmark's generator writes its send time into the payload ([`vmknet_common::stamp`], nanoseconds on
//! `CLOCK_MONOTONIC`, the clock of `bpf_ktime_get_ns()`). With [`EngineConfig::latency`](super::EngineConfig)
//! on, each worker owns a [`LatencyProbe`]: once per batch it reads the same clock ([`monotonic_ns`], a vDSO
//! call, no system call) and, for each frame of the batch that is timed and carries a stamp, records the
//! difference. The histogram is made before the worker's loop with fixed bounds (1 ns to 10 s, 3 significant
//! digits) and never resizes, so recording allocates nothing; a value beyond the bounds is clamped. A stamp
//! ahead of the clock (not written by a generator on this host) is not recorded. At the end the workers'
//! histograms are merged into [`RunSummary::latency`](super::RunSummary).
//!
//! The probe is public so that other receive paths (the benchmark's kernel-socket baseline) time frames the
//! same way.

use hdrhistogram::{AdditionError, CreationError, Histogram};
use vmknet_common::stamp::{read_payload_stamp, read_stamp};

/// The lowest latency told apart from zero: 1 ns.
const LOWEST_NS: u64 = 1;
/// The highest latency tracked (higher ones are clamped to it): 10 s.
const HIGHEST_NS: u64 = 10_000_000_000;
/// Significant decimal digits kept.
const SIGNIFICANT_DIGITS: u8 = 3;

/// The latency histogram of one receiver.
#[derive(Clone, Debug)]
pub struct LatencyProbe {
    histogram: Histogram<u64>,
}

impl LatencyProbe {
    /// An empty probe; all of its memory is allocated here.
    ///
    /// # Errors
    /// Only if the histogram cannot be sized, which the fixed bounds rule out.
    pub fn new() -> Result<Self, CreationError> {
        Histogram::new_with_bounds(LOWEST_NS, HIGHEST_NS, SIGNIFICANT_DIGITS).map(|histogram| Self { histogram })
    }

    /// Records `now_ns − stamp` when `frame` (its first bytes: the headers and the stamp) carries a stamp no
    /// later than `now_ns`; returns whether it did. Allocates nothing.
    #[inline]
    pub fn record(&mut self, now_ns: u64, frame: &[u8]) -> bool {
        self.record_sent(now_ns, read_stamp(frame))
    }

    /// As [`record`](Self::record) for an L4 payload (what a socket reads), the stamp at its start.
    #[inline]
    pub fn record_payload(&mut self, now_ns: u64, payload: &[u8]) -> bool {
        self.record_sent(now_ns, read_payload_stamp(payload))
    }

    #[inline]
    fn record_sent(&mut self, now_ns: u64, sent: Option<u64>) -> bool {
        match sent.and_then(|sent| now_ns.checked_sub(sent)) {
            Some(latency) => {
                self.histogram.saturating_record(latency);
                true
            }
            None => false,
        }
    }

    /// The latencies recorded so far, in nanoseconds.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.histogram
    }

    /// The histogram of `probes` together; `None` when there are none.
    ///
    /// # Errors
    /// Only if the histograms' bounds differ, which [`new`](Self::new) rules out.
    pub fn merge(probes: impl IntoIterator<Item = Self>) -> Result<Option<Histogram<u64>>, AdditionError> {
        let mut merged: Option<Histogram<u64>> = None;
        for probe in probes {
            match &mut merged {
                Some(total) => total.add(&probe.histogram)?,
                None => merged = Some(probe.histogram),
            }
        }
        Ok(merged)
    }
}

/// `CLOCK_MONOTONIC` now, in nanoseconds: the clock of the stamps. Served by the vDSO, without a system call.
#[inline]
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // Safety: `now` is a valid timespec to write; CLOCK_MONOTONIC always exists, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    u64::try_from(now.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(now.tv_nsec).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use vmknet_common::stamp::stamp_bytes;

    use super::*;

    /// A tagged IPv4/UDP frame whose payload is `payload`.
    fn udp(payload: &[u8]) -> Vec<u8> {
        let mut f = vec![
            0, 0x50, 0x56, 0x6a, 0x80, 0x08, 2, 0, 0, 0, 0, 1, 0x81, 0, 0, 80, 0x08, 0,
        ];
        f.extend([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0]);
        f.extend([10, 80, 80, 50, 10, 80, 80, 11]);
        f.extend([0x30, 0x39, 0x30, 0x21, 0, 0, 0, 0]);
        f.extend(payload);
        f
    }

    #[test]
    fn stamped_frames_are_timed_and_the_rest_ignored() {
        let mut probe = LatencyProbe::new().expect("fixed bounds");
        assert!(probe.record(5_000, &udp(&stamp_bytes(1_000))));
        assert!(probe.record(5_000, &udp(&stamp_bytes(5_000))), "zero latency counts");
        assert!(!probe.record(5_000, &udp(&[0; 12])), "no stamp");
        assert!(
            !probe.record(5_000, &udp(&stamp_bytes(6_000))),
            "a stamp from the future"
        );
        assert!(probe.record(u64::MAX, &udp(&stamp_bytes(0))), "clamped, not refused");
        let h = probe.histogram();
        assert_eq!(h.len(), 3);
        assert_eq!(h.min(), 0);
        assert!(h.equivalent(h.max(), HIGHEST_NS));
        assert_eq!(h.count_between(3_990, 4_010), 1);
    }

    #[test]
    fn probes_merge_into_one_histogram() {
        assert!(LatencyProbe::merge([]).expect("nothing to merge").is_none());
        let probes: Vec<LatencyProbe> = [100, 200, 300]
            .iter()
            .map(|&latency| {
                let mut probe = LatencyProbe::new().expect("fixed bounds");
                probe.record(1_000 + latency, &udp(&stamp_bytes(1_000)));
                probe
            })
            .collect();
        let merged = LatencyProbe::merge(probes).expect("same bounds").expect("three probes");
        assert_eq!(merged.len(), 3);
        assert_eq!(merged.value_at_quantile(0.5), 200);
    }

    #[test]
    fn the_clock_moves_forward() {
        let (a, b) = (monotonic_ns(), monotonic_ns());
        assert!(a > 0 && b >= a);
    }
}
