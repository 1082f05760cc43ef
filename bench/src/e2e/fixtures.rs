//! Hand-made measurements and a small report for the tests of the modules that turn them into figures.

use super::latency::latency_from_histogram;
use super::model::{
    BenchReport, CoreUsage, GeneratorComparison, GeneratorRound, Idle, Load, Machine, Measurement, Missing, Placement,
    Subject,
};
use super::summary::{DEFAULT_OTHER_CPU_THRESHOLD_PERCENT, other_cpu_warnings, summarise};
use super::targets::check_targets;

/// A measurement delivering `mpps` of 20 Mpps offered; the fields the summaries do not read zero.
pub(crate) fn measurement(placement: Placement, subject: Subject, load: Load, rep: u32, mpps: f64) -> Measurement {
    Measurement {
        rep,
        placement,
        subject,
        load,
        seconds: 10.0,
        offered_pps: 20e6,
        delivered_pps: mpps * 1e6,
        dropped: 0,
        cpu: Vec::new(),
        peak_rss_kib: None,
        other_cpu_percent: 0.0,
    }
}

/// Two repetitions of the ceiling, bare AF_XDP and the engine (both idles) at 64 B and the mix in softirq,
/// DPDK at 64 B only, the engine (poll) in shared-core without a ceiling, one latency run per placement,
/// a missing kernel UDP subject, one disturbed measurement and two rounds of the generator comparison.
pub(crate) fn sample_report() -> BenchReport {
    let softirq: [(Subject, [f64; 2]); 6] = [
        (Subject::ClassifierDrop, [10.0, 12.0]),
        (Subject::BareAfXdp(Idle::Poll), [6.0, 6.2]),
        (Subject::BareAfXdp(Idle::Busy), [7.0, 7.4]),
        (Subject::Engine(Idle::Poll), [5.0, 5.4]),
        (Subject::Engine(Idle::Busy), [6.8, 7.0]),
        (Subject::DpdkAfXdp, [4.0, 4.0]),
    ];
    let mut measurements = Vec::new();
    for rep in 0..2 {
        for load in [Load::Size(64), Load::Mix] {
            for (subject, mpps) in softirq {
                if subject == Subject::DpdkAfXdp && load == Load::Mix {
                    continue;
                }
                let scale = if load == Load::Mix { 0.5 } else { 1.0 };
                measurements.push(measurement(
                    Placement::Softirq,
                    subject,
                    load,
                    rep,
                    mpps[rep as usize] * scale,
                ));
            }
            measurements.push(measurement(
                Placement::SharedCore,
                Subject::Engine(Idle::Poll),
                load,
                rep,
                3.0,
            ));
        }
    }
    for m in &mut measurements {
        m.cpu = vec![
            CoreUsage {
                cpu: 0,
                idle: 60.0,
                ..CoreUsage::default()
            },
            CoreUsage {
                cpu: 1,
                ..CoreUsage::default()
            },
        ];
        m.peak_rss_kib = matches!(m.subject, Subject::Engine(_)).then_some(65_536);
    }
    measurements[3].other_cpu_percent = 9.0;
    let mut histogram = hdrhistogram::Histogram::<u64>::new(3).expect("3 significant digits");
    for ns in (1..=1000u64).map(|i| i * 40) {
        histogram.record(ns).expect("in range");
    }
    let latency = vec![
        latency_from_histogram(
            Placement::Softirq,
            Subject::Engine(Idle::Busy),
            Load::Size(64),
            3.45e6,
            &histogram,
        ),
        latency_from_histogram(
            Placement::SharedCore,
            Subject::Engine(Idle::Poll),
            Load::Size(64),
            1.5e6,
            &histogram,
        ),
    ];
    let summaries = summarise(&measurements);
    let round = |trafficgen_mpps, pktgen_mpps, load_average| GeneratorRound {
        trafficgen_mpps,
        pktgen_mpps,
        load_average,
    };
    let generator = GeneratorComparison::of_rounds(0, 5, vec![round(9.5, 9.0, 0.4), round(9.0, 8.7, 0.6)], (64, 64));
    BenchReport {
        started_unix: 1_795_336_846,
        machine: Machine {
            kernel: "6.8.0-test".into(),
            cpu_model: "Test CPU".into(),
            cpus: 2,
            load_average: 0.25,
        },
        seconds_per_measurement: 10.0,
        reps: 2,
        targets: check_targets(&summaries, &latency, Ok(&generator)),
        warnings: other_cpu_warnings(&measurements, DEFAULT_OTHER_CPU_THRESHOLD_PERCENT),
        measurements,
        summaries,
        latency,
        missing: vec![Missing {
            subject: Subject::KernelUdp,
            reason: "recvmmsg receiver not built".into(),
        }],
        generator: Some(generator),
        generator_missing: None,
    }
}
