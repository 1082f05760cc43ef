//! The report's plots, as SVG: throughput per load and subject for one placement (bars at the median,
//! whiskers from min to max), and the latency distributions, HdrHistogram style (x: microseconds, log;
//! y: `1 / (1 − percentile)`, log, so that the tail takes as much room as the body).
//!
//! SVG only: a pure-Rust rasteriser (resvg) draws text only with fonts it loads from the system or that are
//! embedded, which is a system dependency or a font file to carry for a PNG that any browser renders from
//! the SVG anyway.

use std::collections::BTreeSet;

use super::model::{BenchReport, Idle, Load, Placement, Subject};
use super::svg::{Anchor, Svg};
use super::targets::{LATENCY_P99_US, trimmed};

const WIDTH: f64 = 1080.0;
const HEIGHT: f64 = 480.0;
/// The plot area's edges.
const LEFT: f64 = 70.0;
const RIGHT: f64 = 720.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 420.0;
/// Where the legend starts.
const LEGEND_X: f64 = 740.0;
const GRID: &str = "#dddddd";
const AXIS: &str = "#333333";
const TARGET: &str = "#cc0000";
/// Colour-blind-safe (Okabe–Ito) colours, one per subject in [`Subject`]'s order.
const PALETTE: [&str; 8] = [
    "#000000", "#999999", "#56b4e9", "#0072b2", "#e69f00", "#d55e00", "#009e73", "#cc79a7",
];

/// The file [`throughput_svg`]'s plot of `placement` is written to, next to `report.md`.
pub fn throughput_file(placement: Placement) -> String {
    format!("throughput-{placement}.svg")
}

/// The file [`latency_cdf_svg`]'s plot is written to, next to `report.md`.
pub const LATENCY_CDF_FILE: &str = "latency-cdf.svg";

/// Delivered Mpps per load (groups along x) and subject (one bar each, median, with a min–max whisker) in
/// `placement`.
pub fn throughput_svg(report: &BenchReport, placement: Placement) -> String {
    let summaries: Vec<_> = report.summaries.iter().filter(|s| s.placement == placement).collect();
    let loads: Vec<Load> = summaries
        .iter()
        .map(|s| s.load)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let subjects: Vec<Subject> = summaries
        .iter()
        .map(|s| s.subject)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut svg = Svg::new(WIDTH, HEIGHT);
    svg.text(
        (LEFT + RIGHT) / 2.0,
        25.0,
        Anchor::Middle,
        &format!("Delivered Mpps, {placement} placement (median; whiskers: min–max over the repetitions)"),
    );
    let (step, top) = axis_step(summaries.iter().map(|s| s.delivered_mpps.max).fold(0.0, f64::max));
    let y = |mpps: f64| BOTTOM - mpps / top * (BOTTOM - TOP);
    for i in 0..=(top / step).round() as u32 {
        let mpps = f64::from(i) * step;
        svg.line((LEFT, y(mpps)), (RIGHT, y(mpps)), GRID, 1.0);
        svg.text(LEFT - 6.0, y(mpps) + 4.0, Anchor::End, &trimmed(mpps, 2));
    }
    svg.vertical_text(20.0, (TOP + BOTTOM) / 2.0, "Mpps");
    let group = (RIGHT - LEFT) / loads.len().max(1) as f64;
    let bar = group * 0.8 / subjects.len().max(1) as f64;
    for (g, &load) in loads.iter().enumerate() {
        let start = LEFT + g as f64 * group + group * 0.1;
        svg.text(start + group * 0.4, BOTTOM + 18.0, Anchor::Middle, &load.to_string());
        for (b, &subject) in subjects.iter().enumerate() {
            let Some(s) = summaries.iter().find(|s| s.load == load && s.subject == subject) else {
                continue;
            };
            let (x, d) = (start + b as f64 * bar, s.delivered_mpps);
            let title = format!("{subject}, {load}: {:.2} Mpps ({:.2}–{:.2})", d.median, d.min, d.max);
            svg.rect(
                x,
                y(d.median),
                bar * 0.9,
                BOTTOM - y(d.median),
                colour(subject),
                Some(("bar", &title)),
            );
            svg.line((x + bar * 0.45, y(d.min)), (x + bar * 0.45, y(d.max)), AXIS, 1.0);
        }
    }
    svg.line((LEFT, BOTTOM), (RIGHT, BOTTOM), AXIS, 1.0);
    svg.line((LEFT, TOP), (LEFT, BOTTOM), AXIS, 1.0);
    if summaries.is_empty() {
        svg.text(
            (LEFT + RIGHT) / 2.0,
            (TOP + BOTTOM) / 2.0,
            Anchor::Middle,
            "no measurements",
        );
    }
    legend(
        &mut svg,
        subjects.iter().map(|&s| (colour(s), Swatch::Bar, s.to_string())),
    );
    svg.finish()
}

/// The latency distribution of every latency run, one line each (the subject's colour; dashed in the
/// shared-core placement): x the latency in µs (log), y the percentile on a `1 / (1 − p)` log scale from
/// 0 % to 99.99 % (the 100 % point, the largest, is left to the table); the target marked from 99 % up.
pub fn latency_cdf_svg(report: &BenchReport) -> String {
    const DECADES: f64 = 4.0;
    let mut svg = Svg::new(WIDTH, HEIGHT);
    svg.text(
        (LEFT + RIGHT) / 2.0,
        25.0,
        Anchor::Middle,
        "Added latency distribution at half the saturation rate",
    );
    let plotted = |cdf: &[(f64, f64)]| -> Vec<(f64, f64)> {
        cdf.iter().copied().filter(|&(p, us)| p < 100.0 && us > 0.0).collect()
    };
    let all_us: Vec<f64> = report
        .latency
        .iter()
        .flat_map(|l| plotted(&l.cdf))
        .map(|(_, us)| us)
        .collect();
    let lo = all_us.iter().copied().fold(LATENCY_P99_US, f64::min).log10().floor();
    let hi = all_us
        .iter()
        .copied()
        .fold(LATENCY_P99_US, f64::max)
        .log10()
        .ceil()
        .max(lo + 1.0);
    let x = |us: f64| LEFT + (us.log10() - lo) / (hi - lo) * (RIGHT - LEFT);
    let y = |percentile: f64| {
        let nines = (-(1.0 - percentile / 100.0).log10()).min(DECADES);
        BOTTOM - nines / DECADES * (BOTTOM - TOP)
    };
    for decade in lo as i32..=hi as i32 {
        let us = 10f64.powi(decade);
        svg.line((x(us), TOP), (x(us), BOTTOM), GRID, 1.0);
        svg.text(x(us), BOTTOM + 18.0, Anchor::Middle, &trimmed(us, 3));
    }
    for percentile in [0.0, 90.0, 99.0, 99.9, 99.99] {
        svg.line((LEFT, y(percentile)), (RIGHT, y(percentile)), GRID, 1.0);
        svg.text(
            LEFT - 6.0,
            y(percentile) + 4.0,
            Anchor::End,
            &format!("{} %", trimmed(percentile, 2)),
        );
    }
    svg.line((x(LATENCY_P99_US), y(99.0)), (x(LATENCY_P99_US), TOP), TARGET, 2.0);
    svg.text(
        x(LATENCY_P99_US),
        TOP - 6.0,
        Anchor::End,
        &format!("target: p99 ≤ {LATENCY_P99_US} µs"),
    );
    svg.text(
        (LEFT + RIGHT) / 2.0,
        BOTTOM + 40.0,
        Anchor::Middle,
        "added latency, µs (log)",
    );
    svg.vertical_text(16.0, (TOP + BOTTOM) / 2.0, "percentile");
    svg.line((LEFT, BOTTOM), (RIGHT, BOTTOM), AXIS, 1.0);
    svg.line((LEFT, TOP), (LEFT, BOTTOM), AXIS, 1.0);
    let mut entries = Vec::new();
    for run in &report.latency {
        let label = format!("{}, {}, {}", run.subject, run.placement, run.load);
        let points: Vec<(f64, f64)> = plotted(&run.cdf).into_iter().map(|(p, us)| (x(us), y(p))).collect();
        let dashed = run.placement == Placement::SharedCore;
        svg.polyline(
            &points,
            colour(run.subject),
            dashed,
            &format!("{label}: p99 {:.1} µs", run.p99_us),
        );
        entries.push((colour(run.subject), Swatch::Line { dashed }, label));
    }
    if report.latency.is_empty() {
        svg.text(
            (LEFT + RIGHT) / 2.0,
            (TOP + BOTTOM) / 2.0,
            Anchor::Middle,
            "no latency runs",
        );
    }
    legend(&mut svg, entries);
    svg.finish()
}

/// A grid step of 1, 2 or 5 × 10ⁿ giving about six steps up to `max`, and the axis's top (a whole number
/// of steps at or above `max`).
fn axis_step(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let rough = max / 6.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= rough)
        .unwrap_or(magnitude * 10.0);
    (step, (max / step).ceil() * step)
}

/// A subject's colour, the same in every plot.
fn colour(subject: Subject) -> &'static str {
    let index = match subject {
        Subject::ClassifierDrop => 0,
        Subject::XdpBenchDrop => 1,
        Subject::BareAfXdp(Idle::Poll) => 2,
        Subject::BareAfXdp(Idle::Busy) => 3,
        Subject::Engine(Idle::Poll) => 4,
        Subject::Engine(Idle::Busy) => 5,
        Subject::DpdkAfXdp => 6,
        Subject::KernelUdp => 7,
    };
    PALETTE[index]
}

/// How a legend entry shows its series.
#[derive(Clone, Copy, Debug)]
enum Swatch {
    Bar,
    Line { dashed: bool },
}

fn legend<'a>(svg: &mut Svg, entries: impl IntoIterator<Item = (&'a str, Swatch, String)>) {
    for (i, (colour, swatch, label)) in entries.into_iter().enumerate() {
        let y = TOP + i as f64 * 20.0;
        match swatch {
            Swatch::Bar => svg.rect(LEGEND_X, y, 12.0, 12.0, colour, None),
            Swatch::Line { dashed } => svg.polyline(
                &[(LEGEND_X, y + 6.0), (LEGEND_X + 24.0, y + 6.0)],
                colour,
                dashed,
                &label,
            ),
        }
        svg.text(LEGEND_X + 30.0, y + 10.0, Anchor::Start, &label);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::fixtures::sample_report;
    use crate::e2e::svg::assert_well_formed;

    /// The value of `name="…"` in `element`.
    fn attribute(element: &str, name: &str) -> f64 {
        let start = element.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        element[start..].split('"').next().unwrap().parse().unwrap()
    }

    /// (title, height) of every bar.
    fn bars(svg: &str) -> Vec<(String, f64)> {
        svg.lines()
            .filter(|l| l.contains("class=\"bar\""))
            .map(|l| {
                (
                    l.split("<title>")
                        .nth(1)
                        .unwrap()
                        .split("</title>")
                        .next()
                        .unwrap()
                        .to_owned(),
                    attribute(l, "height"),
                )
            })
            .collect()
    }

    #[test]
    fn throughput_bars_are_proportional_to_the_medians() {
        let report = sample_report();
        let svg = throughput_svg(&report, Placement::Softirq);
        assert_well_formed(&svg);
        let bars = bars(&svg);
        assert_eq!(bars.len(), 11, "6 subjects at 64 B, 5 in the mix");
        let ceiling = &bars[0];
        assert_eq!(ceiling.0, "classifier XDP_DROP, 64 B: 11.00 Mpps (10.00–12.00)");
        for (title, height) in &bars {
            let mpps: f64 = title
                .split(": ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                (height / ceiling.1 - mpps / 11.0).abs() < 1e-3,
                "{title}: {height} against {}",
                ceiling.1
            );
        }
        assert!(svg.contains(">vSphere mix</text>") && svg.contains(">DPDK AF_XDP testpmd</text>"));
        assert!(
            svg.contains(">12</text>") && !svg.contains(">14</text>"),
            "up to 12 Mpps in steps of 2"
        );
    }

    #[test]
    fn an_empty_placement_is_still_a_chart() {
        let mut report = sample_report();
        report.summaries.clear();
        let svg = throughput_svg(&report, Placement::SharedCore);
        assert_well_formed(&svg);
        assert!(svg.contains(">no measurements</text>"));
    }

    #[test]
    fn axis_steps_are_round() {
        assert_eq!(axis_step(12.0), (2.0, 12.0));
        assert_eq!(axis_step(9.0), (2.0, 10.0));
        assert_eq!(axis_step(45.0), (10.0, 50.0));
        assert_eq!(axis_step(700.0), (200.0, 800.0));
        assert_eq!(axis_step(0.0), (1.0, 1.0));
    }

    #[test]
    fn latency_lines_rise_to_the_right() {
        let report = sample_report();
        let svg = latency_cdf_svg(&report);
        assert_well_formed(&svg);
        let lines: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(" µs</title>"))
            .collect();
        assert_eq!(lines.len(), report.latency.len());
        assert!(lines[1].contains("stroke-dasharray"), "shared-core is dashed");
        for line in lines {
            let points: Vec<(f64, f64)> = line
                .split('"')
                .nth(1)
                .unwrap()
                .split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect();
            assert_eq!(points.len(), report.latency[0].cdf.len() - 1, "all but the 100 % point");
            assert!(
                points.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 > w[1].1),
                "{points:?}"
            );
        }
        for label in [
            ">99.99 %</text>",
            ">10</text>",
            ">100</text>",
            ">vmknet engine (busy), softirq, 64 B</text>",
        ] {
            assert!(svg.contains(label), "no {label}");
        }
    }

    #[test]
    fn no_latency_runs_is_still_a_chart() {
        let mut report = sample_report();
        report.latency.clear();
        let svg = latency_cdf_svg(&report);
        assert_well_formed(&svg);
        assert!(svg.contains(">no latency runs</text>"));
        assert!(
            svg.contains(">target: p99 ≤ 50 µs</text>") && svg.contains(">100</text>"),
            "the target's decade"
        );
    }
}
