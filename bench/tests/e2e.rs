//! `vmknet-bench run` end to end (root): a short run of vmknet's own subjects at 64 bytes and the vSphere mix
//! in both placements, with the latency runs, checked for what a report must hold: a measurement for every
//! (placement, load, subject) that exists, delivered never above offered, frames actually delivered, the
//! medians, the ceiling ratios, latency samples, and the files written. Timing is not asserted: the figures
//! are whatever the machine gives.
//!
//! Without CAP_SYS_ADMIN, CAP_NET_ADMIN and CAP_BPF it says why it skips, and passes.

use std::process::Command;

use vmknet::runtime::{CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, missing_capabilities};
use vmknet_bench::e2e::model::{BenchReport, Idle, Load, Placement, Subject};

#[test]
fn a_short_run_measures_every_subject_and_writes_the_report() {
    let missing = missing_capabilities(&[CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF]);
    if !missing.is_empty() {
        println!("skipping the end-to-end benchmark: missing {}", missing.join(", "));
        return;
    }
    let out = std::env::temp_dir().join(format!("vmknet-bench-test-{}", std::process::id()));
    let status = Command::new(env!("CARGO_BIN_EXE_vmknet-bench"))
        .args([
            "run",
            "--reps",
            "2",
            "--seconds",
            "0.4",
            "--loads",
            "64,mix",
            "--generator-rounds",
            "0",
        ])
        .args([
            "--subjects",
            "classifier-drop,bare-poll,engine-poll,engine-busy,kernel-udp",
        ])
        .arg("--out")
        .arg(&out)
        .status()
        .expect("vmknet-bench runs");
    assert!(status.success(), "vmknet-bench run: {status}");
    let report: BenchReport =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).expect("report.json")).expect("valid JSON");
    assert!(report.missing.is_empty(), "{:?}", report.missing);
    let subjects = [
        Subject::ClassifierDrop,
        Subject::BareAfXdp(Idle::Poll),
        Subject::Engine(Idle::Poll),
        Subject::Engine(Idle::Busy),
        Subject::KernelUdp,
    ];
    for placement in [Placement::Softirq, Placement::SharedCore] {
        for load in [Load::Size(64), Load::Mix] {
            for subject in subjects {
                let runs: Vec<_> = report
                    .measurements
                    .iter()
                    .filter(|m| m.placement == placement && m.load == load && m.subject == subject)
                    .collect();
                let expected = if subject == Subject::KernelUdp && load == Load::Mix {
                    0
                } else {
                    2
                };
                assert_eq!(
                    runs.len(),
                    expected,
                    "{placement} {load} {subject}: {:?}",
                    report.warnings
                );
                for m in runs {
                    assert!(m.delivered_pps > 0.0, "{placement} {load} {subject}: nothing delivered");
                    assert!(
                        m.delivered_pps <= m.offered_pps * 1.001,
                        "{placement} {load} {subject}: delivered {} above offered {}",
                        m.delivered_pps,
                        m.offered_pps
                    );
                    assert!(!m.cpu.is_empty());
                }
            }
        }
    }
    let engine = report
        .summaries
        .iter()
        .find(|s| {
            s.placement == Placement::Softirq && s.load == Load::Size(64) && s.subject == Subject::Engine(Idle::Poll)
        })
        .expect("a summary of the engine");
    assert_eq!(engine.reps, 2);
    assert!(engine.ratio_to_ceiling.is_some_and(|r| r > 0.0));
    assert!(engine.peak_rss_kib.is_some_and(|kib| kib > 0));
    for subject in [
        Subject::Engine(Idle::Poll),
        Subject::BareAfXdp(Idle::Poll),
        Subject::KernelUdp,
    ] {
        let latency = report
            .latency
            .iter()
            .find(|l| l.subject == subject && l.placement == Placement::Softirq && l.load == Load::Size(64))
            .unwrap_or_else(|| panic!("latency of {subject}: {:?}", report.warnings));
        assert!(latency.samples > 0 && latency.p50_us > 0.0 && latency.p50_us <= latency.p99_us);
    }
    let mix = report
        .latency
        .iter()
        .find(|l| l.subject == Subject::Engine(Idle::Poll) && l.load == Load::Mix && l.placement == Placement::Softirq)
        .unwrap_or_else(|| panic!("latency of the engine on the mix: {:?}", report.warnings));
    assert!(mix.samples > 0, "the mix's stamped frames are timed");
    assert!(
        report
            .latency
            .iter()
            .all(|l| !(l.subject == Subject::KernelUdp && l.load == Load::Mix))
    );
    assert!(!report.targets.is_empty());
    for file in ["report.json", "report.md"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
