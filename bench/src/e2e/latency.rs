//! A latency run's histogram (nanoseconds, as the receivers record send-to-receive times) turned into the
//! report's [`Latency`]: the usual percentiles in microseconds and points of the distribution for the CDF
//! plot.
//!
//! The points are spaced evenly in `log10(1 / (1 − p))`, as HdrHistogram's own plots are, so that the tail
//! from 99 % to 99.99 % gets as many points as the body from 0 % to 90 %: the tail is what the target is
//! about.

use hdrhistogram::Histogram;

use super::model::{Latency, Load, Placement, Subject};

/// CDF points per decade of `1 / (1 − p)` (0 %, 90 %, 99 %, … are one decade apart).
const POINTS_PER_DECADE: u32 = 16;
/// Decades plotted: up to 99.99 %; the largest value is added as the 100 % point.
const DECADES: u32 = 4;

/// The [`Latency`] of one run of `subject` receiving `load` at `rate_pps` in `placement`, from a histogram of
/// nanoseconds.
pub fn latency_from_histogram(
    placement: Placement,
    subject: Subject,
    load: Load,
    rate_pps: f64,
    histogram: &Histogram<u64>,
) -> Latency {
    let us = |nanos: u64| nanos as f64 / 1e3;
    let at = |percentile: f64| us(histogram.value_at_quantile(percentile / 100.0));
    let cdf = if histogram.is_empty() {
        Vec::new()
    } else {
        (0..=POINTS_PER_DECADE * DECADES)
            .map(|step| {
                let percentile = 100.0 * (1.0 - 10f64.powf(-f64::from(step) / f64::from(POINTS_PER_DECADE)));
                (percentile, at(percentile))
            })
            .chain([(100.0, us(histogram.max()))])
            .collect()
    };
    Latency {
        placement,
        subject,
        load,
        rate_pps,
        samples: histogram.len(),
        p50_us: at(50.0),
        p99_us: at(99.0),
        p999_us: at(99.9),
        max_us: us(histogram.max()),
        cdf,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::model::Idle;

    fn uniform_1_to_10000_us() -> Histogram<u64> {
        let mut histogram = Histogram::<u64>::new(3).unwrap();
        for us in 1..=10_000u64 {
            histogram.record(us * 1000).unwrap();
        }
        histogram
    }

    fn latency(histogram: &Histogram<u64>) -> Latency {
        latency_from_histogram(
            Placement::Softirq,
            Subject::Engine(Idle::Busy),
            Load::Size(64),
            1e6,
            histogram,
        )
    }

    /// Within HdrHistogram's 3 significant digits.
    fn near(measured: f64, expected: f64) -> bool {
        (measured - expected).abs() <= expected * 1e-3
    }

    #[test]
    fn percentiles_in_microseconds() {
        let l = latency(&uniform_1_to_10000_us());
        assert_eq!(l.samples, 10_000);
        assert!(near(l.p50_us, 5000.0), "{}", l.p50_us);
        assert!(near(l.p99_us, 9900.0), "{}", l.p99_us);
        assert!(near(l.p999_us, 9990.0), "{}", l.p999_us);
        assert!(near(l.max_us, 10_000.0), "{}", l.max_us);
    }

    #[test]
    fn cdf_points_reach_into_the_tail_and_rise() {
        let cdf = latency(&uniform_1_to_10000_us()).cdf;
        assert!((50..=100).contains(&cdf.len()), "{}", cdf.len());
        assert_eq!(cdf.first().unwrap().0, 0.0);
        assert_eq!(cdf.last().unwrap().0, 100.0);
        let within = |from: f64, to: f64| {
            cdf.iter()
                .filter(|(p, _)| (from - 1e-9..=to + 1e-9).contains(p))
                .count()
        };
        assert_eq!(
            within(99.0, 99.9),
            within(0.0, 90.0),
            "a decade of the tail gets as many points as the body"
        );
        assert_eq!(within(99.9, 99.99), within(0.0, 90.0));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn an_empty_histogram_has_no_points() {
        let l = latency(&Histogram::<u64>::new(3).unwrap());
        assert_eq!((l.samples, l.p99_us, l.max_us), (0, 0.0, 0.0));
        assert!(l.cdf.is_empty());
    }
}
