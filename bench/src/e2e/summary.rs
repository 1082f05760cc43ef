//! From raw repetitions to the figures a report states: per (placement, subject, load) the median, least
//! and most of what was offered and delivered, the ratio to the same run's XDP ceiling, the median CPU per
//! core and the largest resident memory; and the warnings for measurements that other processes disturbed.
//!
//! Medians rather than means because a repetition disturbed by something else on the machine should not
//! move the figure; min–max rather than a deviation because with a handful of repetitions the range is what
//! a reader can check.

use std::collections::BTreeMap;

use super::model::{Load, Measurement, Placement, Spread, Subject, Summary};

/// Other processes' CPU (percent of one core) above which a measurement is reported as disturbed.
pub const DEFAULT_OTHER_CPU_THRESHOLD_PERCENT: f64 = 5.0;

impl Spread {
    /// The median (the mean of the two middle values for an even count), least and most of `values`;
    /// `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let (first, last) = (*sorted.first()?, *sorted.last()?);
        let middle = sorted.len() / 2;
        let median = if sorted.len() % 2 == 1 {
            sorted[middle]
        } else {
            (sorted[middle - 1] + sorted[middle]) / 2.0
        };
        Some(Self {
            median,
            min: first,
            max: last,
        })
    }
}

/// The repetitions of every (placement, subject, load) summarised, ordered by placement, load, subject.
///
/// `ratio_to_ceiling` is the median delivered over the median delivered of [`Subject::ClassifierDrop`] in
/// the same placement and load, `None` when that ceiling was not measured or delivered nothing.
pub fn summarise(measurements: &[Measurement]) -> Vec<Summary> {
    let mut groups: BTreeMap<(Placement, Load, Subject), Vec<&Measurement>> = BTreeMap::new();
    for m in measurements {
        groups.entry((m.placement, m.load, m.subject)).or_default().push(m);
    }
    let mut summaries: Vec<Summary> = groups
        .into_iter()
        .map(|((placement, load, subject), reps)| summarise_group(placement, subject, load, &reps))
        .collect();
    let ceilings: BTreeMap<(Placement, Load), f64> = summaries
        .iter()
        .filter(|s| s.subject == Subject::ClassifierDrop)
        .map(|s| ((s.placement, s.load), s.delivered_mpps.median))
        .collect();
    for summary in &mut summaries {
        summary.ratio_to_ceiling = ceilings
            .get(&(summary.placement, summary.load))
            .filter(|&&ceiling| ceiling > 0.0)
            .map(|ceiling| summary.delivered_mpps.median / ceiling);
    }
    summaries
}

/// One group's summary, without the ratio to the ceiling (that needs the other groups).
fn summarise_group(placement: Placement, subject: Subject, load: Load, reps: &[&Measurement]) -> Summary {
    let mpps = |pick: fn(&Measurement) -> f64| {
        let values: Vec<f64> = reps.iter().map(|m| pick(m) / 1e6).collect();
        Spread::of(&values).unwrap_or_default()
    };
    let mut busy_per_core: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for core in reps.iter().flat_map(|m| &m.cpu) {
        busy_per_core.entry(core.cpu).or_default().push(100.0 - core.idle);
    }
    Summary {
        placement,
        subject,
        load,
        reps: u32::try_from(reps.len()).unwrap_or(u32::MAX),
        delivered_mpps: mpps(|m| m.delivered_pps),
        offered_mpps: mpps(|m| m.offered_pps),
        ratio_to_ceiling: None,
        busy_percent: busy_per_core
            .into_iter()
            .filter_map(|(cpu, busy)| Some((cpu, Spread::of(&busy)?.median)))
            .collect(),
        peak_rss_kib: reps.iter().filter_map(|m| m.peak_rss_kib).max(),
    }
}

/// One warning per measurement in which other processes took more than `threshold_percent` of a core
/// (see [`DEFAULT_OTHER_CPU_THRESHOLD_PERCENT`]), naming the measurement.
pub fn other_cpu_warnings(measurements: &[Measurement], threshold_percent: f64) -> Vec<String> {
    measurements
        .iter()
        .filter(|m| m.other_cpu_percent > threshold_percent)
        .map(|m| {
            format!(
                "{}, {}, {}, repetition {}: other processes took {:.1} % of a core (more than {} %)",
                m.placement, m.subject, m.load, m.rep, m.other_cpu_percent, threshold_percent
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::fixtures::measurement;
    use crate::e2e::model::{CoreUsage, Idle};

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn spread_of_odd_and_even_counts() {
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Some(Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(
            Spread::of(&[4.0, 1.0, 2.0, 10.0]),
            Some(Spread {
                median: 3.0,
                min: 1.0,
                max: 10.0
            })
        );
        assert_eq!(
            Spread::of(&[7.0]),
            Some(Spread {
                median: 7.0,
                min: 7.0,
                max: 7.0
            })
        );
        assert_eq!(Spread::of(&[]), None);
    }

    #[test]
    fn groups_in_order_with_medians_and_ratios() {
        let (p, l) = (Placement::Softirq, Load::Size(64));
        let engine = Subject::Engine(Idle::Poll);
        let measurements = vec![
            measurement(Placement::SharedCore, engine, l, 0, 1.0),
            measurement(p, Subject::ClassifierDrop, Load::Mix, 0, 8.0),
            measurement(p, engine, l, 0, 5.0),
            measurement(p, Subject::ClassifierDrop, l, 0, 10.0),
            measurement(p, engine, l, 1, 3.0),
            measurement(p, Subject::ClassifierDrop, l, 1, 12.0),
            measurement(p, engine, l, 2, 4.0),
        ];
        let summaries = summarise(&measurements);
        let keys: Vec<_> = summaries
            .iter()
            .map(|s| (s.placement, s.load, s.subject, s.reps))
            .collect();
        assert_eq!(
            keys,
            [
                (p, l, Subject::ClassifierDrop, 2),
                (p, l, engine, 3),
                (p, Load::Mix, Subject::ClassifierDrop, 1),
                (Placement::SharedCore, l, engine, 1),
            ]
        );
        let ceiling = &summaries[0];
        assert_eq!(
            ceiling.delivered_mpps,
            Spread {
                median: 11.0,
                min: 10.0,
                max: 12.0
            }
        );
        assert_eq!(
            ceiling.offered_mpps,
            Spread {
                median: 20.0,
                min: 20.0,
                max: 20.0
            }
        );
        assert_eq!(ceiling.ratio_to_ceiling, Some(1.0));
        let engine_softirq = &summaries[1];
        assert_eq!(
            engine_softirq.delivered_mpps,
            Spread {
                median: 4.0,
                min: 3.0,
                max: 5.0
            }
        );
        assert!(close(engine_softirq.ratio_to_ceiling.unwrap(), 4.0 / 11.0));
        assert_eq!(summaries[3].ratio_to_ceiling, None, "no ceiling in shared-core");
    }

    #[test]
    fn a_ceiling_that_delivered_nothing_gives_no_ratio() {
        let (p, l) = (Placement::Softirq, Load::Size(64));
        let summaries = summarise(&[
            measurement(p, Subject::ClassifierDrop, l, 0, 0.0),
            measurement(p, Subject::KernelUdp, l, 0, 1.0),
        ]);
        assert!(summaries.iter().all(|s| s.ratio_to_ceiling.is_none()));
    }

    #[test]
    fn busy_per_core_is_the_median_of_100_minus_idle_and_rss_the_largest() {
        let core = |cpu, idle| CoreUsage {
            cpu,
            idle,
            ..CoreUsage::default()
        };
        let (p, s, l) = (Placement::SharedCore, Subject::DpdkAfXdp, Load::Mix);
        let mut reps = [measurement(p, s, l, 0, 1.0), measurement(p, s, l, 1, 1.0)];
        reps[0].cpu = vec![core(1, 0.0), core(0, 90.0)];
        reps[1].cpu = vec![core(0, 70.0), core(1, 10.0)];
        reps[0].peak_rss_kib = Some(2048);
        reps[1].peak_rss_kib = Some(4096);
        let summary = &summarise(&reps)[0];
        assert_eq!(summary.busy_percent, [(0, 20.0), (1, 95.0)]);
        assert_eq!(summary.peak_rss_kib, Some(4096));
    }

    #[test]
    fn warns_about_each_disturbed_measurement() {
        let (p, l) = (Placement::Softirq, Load::Size(1514));
        let mut quiet = measurement(p, Subject::KernelUdp, l, 0, 1.0);
        quiet.other_cpu_percent = 5.0;
        let mut busy = measurement(p, Subject::Engine(Idle::Busy), l, 3, 1.0);
        busy.other_cpu_percent = 12.34;
        assert_eq!(
            other_cpu_warnings(&[quiet, busy], DEFAULT_OTHER_CPU_THRESHOLD_PERCENT),
            [
                "softirq, vmknet engine (busy), 1514 B, repetition 3: other processes took 12.3 % of a core (more than 5 %)"
            ]
        );
    }
}
