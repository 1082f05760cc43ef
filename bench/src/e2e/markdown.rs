//! The report as Markdown: what the README shows and what a terminal prints. Plain pipe tables and lists,
//! so that it reads the same raw and rendered on GitHub; every figure comes from the [`BenchReport`]. The
//! plots are linked by the names [`write_report`](super::output::write_report) gives them beside it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::generator::FRAME_BYTES;
use super::generator::Sender::{Pktgen, Trafficgen};
use super::model::{BenchReport, Load, Placement, Spread, Subject, Summary};
use super::plot::{LATENCY_CDF_FILE, throughput_file};
use super::targets::trimmed;

/// The whole report: header, throughput and CPU per placement, latency, the generator comparison, targets,
/// what was not measured and the warnings.
pub fn markdown(report: &BenchReport) -> String {
    let mut out = String::new();
    header(&mut out, report);
    for placement in placements(&report.summaries) {
        let summaries: Vec<&Summary> = report.summaries.iter().filter(|s| s.placement == placement).collect();
        throughput(&mut out, placement, &summaries);
        cpu(&mut out, placement, &summaries);
    }
    latency(&mut out, report);
    generator(&mut out, report);
    targets(&mut out, report);
    if !report.missing.is_empty() {
        out.push_str("\n## Not measured\n\n");
        for missing in &report.missing {
            let _ = writeln!(out, "- {}: {}", missing.subject, missing.reason);
        }
    }
    if !report.warnings.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for warning in &report.warnings {
            let _ = writeln!(out, "- ⚠️ {warning}");
        }
    }
    out
}

fn header(out: &mut String, report: &BenchReport) {
    let machine = &report.machine;
    let _ = write!(
        out,
        "# vmknet end-to-end benchmark\n\n\
         Run started {} on {} ({} CPUs), Linux {}, load average {:.2} at the start.\n\
         {} interleaved repetitions of {} s per measurement; figures are medians with the range (min–max) over \
         the repetitions.\n",
        utc_minute(report.started_unix),
        machine.cpu_model,
        machine.cpus,
        machine.kernel,
        machine.load_average,
        report.reps,
        trimmed(report.seconds_per_measurement, 1),
    );
}

fn throughput(out: &mut String, placement: Placement, summaries: &[&Summary]) {
    let _ = write!(
        out,
        "\n## Throughput, {placement} placement\n\n\
         Delivered Mpps, median (min–max); the percentage is of the same run's XDP ceiling (classifier \
         XDP_DROP) in this placement and load.\n\n"
    );
    table(out, summaries, None, |s| {
        let d = s.delivered_mpps;
        let cell = format!("{:.2} ({:.2}–{:.2})", d.median, d.min, d.max);
        match s.ratio_to_ceiling {
            Some(ratio) => format!("{cell}, {} %", trimmed(ratio * 100.0, 0)),
            None => cell,
        }
    });
    let _ = writeln!(
        out,
        "\n![Delivered Mpps, {placement} placement]({})",
        throughput_file(placement)
    );
}

fn cpu(out: &mut String, placement: Placement, summaries: &[&Summary]) {
    let _ = write!(
        out,
        "\n## Load, CPU and memory, {placement} placement\n\n\
         Offered Mpps (median), then the median busy percent (100 − idle) per core; the subject's largest \
         peak resident memory.\n\n"
    );
    let rss = |subject: Subject| {
        let kib = summaries
            .iter()
            .filter(|s| s.subject == subject)
            .filter_map(|s| s.peak_rss_kib)
            .max();
        kib.map_or_else(|| "–".to_owned(), |kib| format!("{:.1} MiB", kib as f64 / 1024.0))
    };
    table(out, summaries, Some(("Peak RSS", &rss)), |s| {
        let cores: Vec<String> = s
            .busy_percent
            .iter()
            .map(|(cpu, busy)| format!("cpu{cpu} {} %", trimmed(*busy, 0)))
            .collect();
        format!("{:.2}; {}", s.offered_mpps.median, cores.join(", "))
    });
}

/// A table of `summaries` (one placement): a row per subject, a column per load with `cell`, and an
/// optional last column per subject.
fn table(
    out: &mut String,
    summaries: &[&Summary],
    last: Option<(&str, &dyn Fn(Subject) -> String)>,
    cell: impl Fn(&Summary) -> String,
) {
    let loads: BTreeSet<Load> = summaries.iter().map(|s| s.load).collect();
    let subjects: BTreeSet<Subject> = summaries.iter().map(|s| s.subject).collect();
    let mut head = vec!["Subject".to_owned()];
    head.extend(loads.iter().map(Load::to_string));
    head.extend(last.map(|(title, _)| title.to_owned()));
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|:--|{}", "--:|".repeat(head.len() - 1));
    for subject in subjects {
        let mut row = vec![subject.to_string()];
        row.extend(loads.iter().map(|&load| {
            summaries
                .iter()
                .find(|s| s.subject == subject && s.load == load)
                .map_or_else(|| "–".to_owned(), |s| cell(s))
        }));
        row.extend(last.map(|(_, value)| value(subject)));
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
}

fn latency(out: &mut String, report: &BenchReport) {
    if report.latency.is_empty() {
        return;
    }
    out.push_str(
        "\n## Latency\n\n\
         Added latency, generator's send stamp to the subject's receive (both `CLOCK_MONOTONIC`), microseconds, \
         at half the subject's saturation rate.\n\n\
         | Placement | Subject | Load | Rate (Mpps) | Frames | p50 | p99 | p99.9 | max |\n\
         |:--|:--|:--|--:|--:|--:|--:|--:|--:|\n",
    );
    for l in &report.latency {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            l.placement,
            l.subject,
            l.load,
            l.rate_pps / 1e6,
            l.samples,
            l.p50_us,
            l.p99_us,
            l.p999_us,
            l.max_us
        );
    }
    let _ = writeln!(out, "\n![Added latency distribution]({LATENCY_CDF_FILE})");
}

fn generator(out: &mut String, report: &BenchReport) {
    let Some(comparison) = &report.generator else {
        if let Some(why) = &report.generator_missing {
            let _ = writeln!(
                out,
                "\n## Generator\n\n{Pktgen} against {Trafficgen} not measured: {why}"
            );
        }
        return;
    };
    let (trafficgen_bytes, pktgen_bytes) = comparison.frame_bytes;
    let _ = write!(
        out,
        "\n## Generator\n\n\
         {Pktgen} against {Trafficgen} at {FRAME_BYTES} B: single-flow UDP/IPv6 from one thread on CPU {}, \
         one run of each per round, back to back. Mpps at the sink, each run the median of its one-second rates \
         over {} s (the first and last seconds left out); the sink saw frames of {trafficgen_bytes} B from \
         {Trafficgen} and {pktgen_bytes} B from {Pktgen} (without FCS).\n\n\
         | Round | {Trafficgen} | {Pktgen} | Ratio | Load average |\n\
         |--:|--:|--:|--:|--:|\n",
        comparison.cpu, comparison.seconds,
    );
    let ratio = |ratio: Option<f64>| ratio.map_or_else(|| "–".to_owned(), |r| format!("{r:.3}"));
    for (i, round) in comparison.rounds.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:.2} | {:.2} | {} | {:.2} |",
            i + 1,
            round.trafficgen_mpps,
            round.pktgen_mpps,
            ratio(round.ratio()),
            round.load_average
        );
    }
    let spread = |s: Spread| format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max);
    let _ = write!(
        out,
        "| Median | {} | {} | {} | |\n\n\
         Median of the per-round ratios: {}× (the figure the target is checked with); ratio of the medians: {}×.\n",
        spread(comparison.trafficgen_mpps),
        spread(comparison.pktgen_mpps),
        ratio(comparison.median_round_ratio),
        ratio(comparison.median_round_ratio),
        ratio(comparison.ratio_of_medians),
    );
}

fn targets(out: &mut String, report: &BenchReport) {
    if report.targets.is_empty() {
        return;
    }
    let met = report.targets.iter().filter(|t| t.met).count();
    let _ = write!(out, "\n## Targets\n\n{met} of {} met.\n\n", report.targets.len());
    for target in &report.targets {
        let mark = if target.met { "✅" } else { "❌" };
        let _ = write!(out, "- {mark} {} — {}", target.name, target.note);
        match &target.why {
            Some(why) => {
                let _ = writeln!(out, ". Why: {why}");
            }
            None => out.push('\n'),
        }
    }
}

/// The placements with figures, in order.
fn placements(summaries: &[Summary]) -> BTreeSet<Placement> {
    summaries.iter().map(|s| s.placement).collect()
}

/// `yyyy-mm-dd hh:mm UTC` of a Unix time (the proleptic Gregorian calendar, Howard Hinnant's
/// `civil_from_days`).
fn utc_minute(unix: u64) -> String {
    let (days, seconds) = (unix / 86_400, unix % 86_400);
    let shifted = days + 719_468; // days since 0000-03-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::fixtures::sample_report;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_minute(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_minute(1_795_336_846), "2026-11-22 08:40 UTC");
        assert_eq!(utc_minute(4_102_444_799), "2099-12-31 23:59 UTC");
    }

    #[test]
    fn header_and_throughput_tables() {
        let md = markdown(&sample_report());
        assert!(md.starts_with("# vmknet end-to-end benchmark\n\nRun started 2026-11-22 08:40 UTC on Test CPU (2 CPUs), Linux 6.8.0-test, load average 0.25 at the start.\n2 interleaved repetitions of 10 s per measurement"), "{md}");
        for line in [
            "## Throughput, softirq placement",
            "| Subject | 64 B | vSphere mix |",
            "|:--|--:|--:|",
            "| classifier XDP_DROP | 11.00 (10.00–12.00), 100 % | 5.50 (5.00–6.00), 100 % |",
            "| vmknet engine (busy) | 6.90 (6.80–7.00), 63 % | 3.45 (3.40–3.50), 63 % |",
            "| DPDK AF_XDP testpmd | 4.00 (4.00–4.00), 36 % | – |",
            "![Delivered Mpps, softirq placement](throughput-softirq.svg)",
            "## Throughput, shared-core placement",
            "| vmknet engine (poll) | 3.00 (3.00–3.00) | 3.00 (3.00–3.00) |",
        ] {
            assert!(md.lines().any(|l| l == line), "no line {line:?} in\n{md}");
        }
        assert!(md.find("## Throughput, softirq").unwrap() < md.find("## Throughput, shared-core").unwrap());
    }

    #[test]
    fn cpu_latency_targets_missing_and_warnings() {
        let mut report = sample_report();
        report.targets[1].why = Some("the poll wake-ups cost a context switch per batch".into());
        let md = markdown(&report);
        for line in [
            "| Subject | 64 B | vSphere mix | Peak RSS |",
            "| vmknet engine (poll) | 20.00; cpu0 40 %, cpu1 100 % | 20.00; cpu0 40 %, cpu1 100 % | 64.0 MiB |",
            "| bare AF_XDP (poll) | 20.00; cpu0 40 %, cpu1 100 % | 20.00; cpu0 40 %, cpu1 100 % | – |",
            "| softirq | vmknet engine (busy) | 64 B | 3.45 | 1000 | 20.0 | 39.6 | 40.0 | 40.0 |",
            "![Added latency distribution](latency-cdf.svg)",
            "- ✅ softirq, 64 B: vmknet engine (busy) ≥ 90 % of bare AF_XDP (busy) — 95.8 % of bare AF_XDP (busy) (6.90 vs 7.20 Mpps)",
            "- ❌ softirq, 64 B: vmknet engine (poll) ≥ 90 % of bare AF_XDP (poll) — 85.2 % of bare AF_XDP (poll), 4.8 points short (5.20 vs 6.10 Mpps). Why: the poll wake-ups cost a context switch per batch",
            "- ❌ softirq, vSphere mix: vmknet engine (busy, the better idle) ≥ 1.3× DPDK AF_XDP testpmd — not measured: no DPDK AF_XDP testpmd in softirq, vSphere mix",
            "6 of 13 met.",
            "- kernel UDP socket: recvmmsg receiver not built",
            "- ⚠️ softirq, vmknet engine (poll), 64 B, repetition 0: other processes took 9.0 % of a core (more than 5 %)",
        ] {
            assert!(md.lines().any(|l| l == line), "no line {line:?} in\n{md}");
        }
    }

    #[test]
    fn generator_rounds_and_medians_or_why_not() {
        let mut report = sample_report();
        let md = markdown(&report);
        for line in [
            "## Generator",
            "| Round | xdp-trafficgen | vmknet-pktgen | Ratio | Load average |",
            "| 1 | 9.50 | 9.00 | 0.947 | 0.40 |",
            "| 2 | 9.00 | 8.70 | 0.967 | 0.60 |",
            "| Median | 9.25 (9.00–9.50) | 8.85 (8.70–9.00) | 0.957 | |",
            "Median of the per-round ratios: 0.957× (the figure the target is checked with); ratio of the medians: \
             0.957×.",
            "- ✅ vmknet-pktgen ≥ 0.9× xdp-trafficgen, 64 B — 0.96× xdp-trafficgen (median of the per-round ratios \
             over 2 rounds; run medians 8.85 vs 9.25 Mpps)",
        ] {
            assert!(md.lines().any(|l| l == line), "no line {line:?} in\n{md}");
        }
        assert!(md.contains("the sink saw frames of 64 B from xdp-trafficgen and 64 B from vmknet-pktgen"));
        report.generator = None;
        report.generator_missing = Some("xdp-trafficgen missing: install xdp-tools".into());
        let md = markdown(&report);
        assert!(
            md.contains(
                "## Generator\n\nvmknet-pktgen against xdp-trafficgen not measured: xdp-trafficgen missing: install \
                 xdp-tools\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn empty_sections_are_left_out() {
        let mut report = sample_report();
        report.latency.clear();
        report.targets.clear();
        report.missing.clear();
        report.warnings.clear();
        report.generator = None;
        let md = markdown(&report);
        for heading in [
            "## Latency",
            "## Generator",
            "## Targets",
            "## Not measured",
            "## Warnings",
        ] {
            assert!(!md.contains(heading), "{heading} in\n{md}");
        }
    }
}
