//! `vmknet demo`: the embedded default host end to end through the real XDP + AF_XDP path, checked against
//! the testbed's labels.
//!
//! It builds a [`Topology`] (a network namespace holding the peer end of a two-queue veth pair, MTU 9000) and
//! runs two phases on it, each with an engine of its own on the host end ([`phase`]):
//!
//! 1. the embedded default host and the testbed's labelled vSphere mix (vMotion, IP storage, FT, replication,
//!    NFC, vSAN, management, ARP, ND, ICMP, fragments and Linux's own traffic), `--rounds` times;
//! 2. the testbed host (the default plus a legacy vMotion adapter, `vmknet_testbed::host`) and every bad case,
//!    so that each drop reason is counted on the real path, in the XDP program or in the workers.
//!
//! For each phase it prints the per-netstack / per-vmk / per-service report with the XDP program's verdicts and
//! the kernel's socket losses, and compares the run with the labels count by count ([`accounting`]); it exits 0
//! only if every count matches and no program is left attached. Frames the veth wire cannot carry (bad cases
//! shorter than an Ethernet header or longer than the MTU) are listed and left out.
//!
//! Needs root (CAP_SYS_ADMIN for the namespace, CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK) and the `ip`
//! and `ethtool` commands; without them it says what is missing and exits 2. Everything it creates is removed on
//! exit, also on an error, a panic, SIGINT or SIGTERM (then it exits 128 + the signal: 130, 143).

mod accounting;
mod phase;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Args;
use serde_json::{Value, json};
use vmknet::io::xsk::XskConfig;
use vmknet::model::HostModel;
use vmknet::runtime::{CAP_SYS_ADMIN, CpuList, check_capabilities, has_capability};
use vmknet_testbed::topology::run_command;
use vmknet_testbed::{DEFAULT_SEED, Topology, bad_cases, testbed_host, vsphere_mix};

use self::phase::{Outcome, Phase};
use super::{Format, emit};

/// Queues of the veth pair, senders and workers.
const QUEUES: u32 = 2;

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Rounds of the vSphere mix to send (the bad cases are sent once).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Output format; with json, progress goes to standard error and one document to standard output.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

/// Why the demo stopped before its verdict.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("interrupted by signal {0}; everything it created is removed")]
    Interrupted(u8),
    #[error("{0}")]
    Failed(String),
}

impl From<String> for DemoError {
    fn from(err: String) -> Self {
        Self::Failed(err)
    }
}

pub(crate) fn run(args: &DemoArgs) -> ExitCode {
    // Before anything is created, so a signal at any point ends in the normal teardown. `stop` holds the
    // number of the signal caught, 0 until then.
    let stop = Arc::new(AtomicUsize::new(0));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(err) = signal_hook::flag::register_usize(signal, Arc::clone(&stop), signal as usize) {
            eprintln!("vmknet demo: cannot handle signal {signal}: {err}");
            return ExitCode::from(2);
        }
    }
    if let Err(missing) = preflight(XskConfig::default().umem_bytes() * u64::from(QUEUES)) {
        eprintln!("vmknet demo: cannot run:\n{missing}");
        return ExitCode::from(2);
    }
    let format = args.format;
    let progress = move |line: String| match format {
        Format::Text => emit(format_args!("{line}\n")),
        Format::Json => eprintln!("{line}"),
    };
    let (topology, outcomes) = match demo(args.rounds, &stop, &progress) {
        Ok(done) => done,
        Err(err) => {
            eprintln!("vmknet demo: {err}");
            return match err {
                DemoError::Interrupted(signal) => ExitCode::from(128 + signal),
                DemoError::Failed(_) => ExitCode::FAILURE,
            };
        }
    };
    let ok = outcomes.iter().all(Outcome::ok);
    match format {
        Format::Text => {
            if ok {
                emit("\nvmknet demo: OK, the accounting adds up\n");
            } else {
                emit("\nvmknet demo: FAILED, the accounting does not add up (see the lines marked MISMATCH)\n");
            }
        }
        Format::Json => {
            let doc = json!({
                "topology": topology,
                "phases": outcomes.iter().map(outcome_json).collect::<Vec<_>>(),
                "ok": ok,
            });
            emit(format_args!("{doc:#}\n"));
        }
    }
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Creates the topology and runs the phases on it; returns the topology as JSON (it is gone by then) and
/// each phase's outcome. Each phase's text goes to `progress` as soon as the phase ends. `stop` is the number
/// of the signal caught, 0 until one is.
fn demo(rounds: u32, stop: &AtomicUsize, progress: &dyn Fn(String)) -> Result<(Value, Vec<Outcome>), DemoError> {
    let interrupted = || DemoError::Interrupted(stop.load(Ordering::Relaxed) as u8);
    let default = Arc::new(HostModel::embedded_default());
    let testbed = Arc::new(testbed_host());
    let phases = [
        Phase {
            title: "the vSphere mix on the embedded default host",
            frames: vsphere_mix(&default, DEFAULT_SEED),
            model: default,
            rounds,
        },
        Phase {
            title: "every bad case on the testbed host (the default plus vmk9, a legacy vMotion adapter)",
            frames: bad_cases(&testbed),
            model: testbed,
            rounds: 1,
        },
    ];
    let allowed = CpuList::allowed();
    let cpus: Vec<usize> = (0..QUEUES as usize).map(|i| allowed.for_worker(i)).collect();
    let topology = Topology::create("demo", QUEUES).map_err(|e| format!("creating the topology: {e}"))?;
    progress(format!(
        "== topology: namespace {} holds {} (the switch side); the engine serves {} ({QUEUES} queues, MTU {})",
        topology.netns,
        topology.peer,
        topology.host,
        vmknet_testbed::topology::MTU
    ));
    let mut outcomes = Vec::new();
    for (n, phase) in phases.into_iter().enumerate() {
        if stop.load(Ordering::Relaxed) != 0 {
            return Err(interrupted());
        }
        progress(format!("\n=== phase {}: {}", n + 1, phase.title));
        let outcome = phase.run(&topology, &cpus, stop, progress).map_err(|err| {
            if stop.load(Ordering::Relaxed) != 0 {
                interrupted()
            } else {
                DemoError::Failed(err)
            }
        })?;
        progress(outcome_text(&outcome));
        outcomes.push(outcome);
    }
    let topology = json!({
        "netns": topology.netns,
        "host": topology.host,
        "peer": topology.peer,
        "queues": topology.queues,
    });
    Ok((topology, outcomes))
}

/// The rest of a phase's text after its progress lines: what was sent, the report, the accounting.
fn outcome_text(outcome: &Outcome) -> String {
    let mut out = format!(
        "   sent {} frames in {:.1} ms; the engine stopped\n",
        outcome.sent,
        outcome.send_time.as_secs_f64() * 1e3
    );
    if !outcome.not_sent.is_empty() {
        out.push_str("   left out, the veth wire cannot carry them (AF_PACKET refuses to send them):\n");
        for n in &outcome.not_sent {
            out.push_str(&format!("     {} ({} bytes): {}\n", n.scenario, n.bytes, n.why));
        }
    }
    out.push_str("\n== the engine's report (frames that reached the AF_XDP sockets), the XDP program, the kernel\n\n");
    out.push_str(&crate::run::final_text(&outcome.summary, &outcome.netstacks));
    out.push_str("\n== the accounting against the labels\n");
    for check in &outcome.checks {
        out.push_str(&format!(
            "   {} {:<75} {:>7} (expected {})\n",
            if check.ok() { "ok      " } else { "MISMATCH" },
            check.what,
            check.got,
            check.want
        ));
    }
    out
}

fn outcome_json(outcome: &Outcome) -> Value {
    let summary = &outcome.summary;
    let xdp: serde_json::Map<String, Value> = summary
        .xdp
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(verdict, n)| (format!("{verdict:?}"), n.into()))
        .collect();
    let queues: Vec<Value> = summary
        .queues
        .iter()
        .map(|q| {
            let sockets: Vec<Value> = outcome
                .netstacks
                .iter()
                .zip(q.netstacks.iter().zip(&q.sockets))
                .map(|(name, (live, stats))| {
                    json!({
                        "netstack": name,
                        "rx": live.rx,
                        "rx_dropped": stats.rx_dropped,
                        "rx_ring_full": stats.rx_ring_full,
                        "rx_fill_ring_empty": stats.rx_fill_ring_empty,
                        "rx_invalid_descs": stats.rx_invalid_descs,
                    })
                })
                .collect();
            json!({ "queue": q.queue, "cpu": q.cpu, "data_path": q.data_path.to_string(), "sockets": sockets })
        })
        .collect();
    let checks: Vec<Value> = outcome
        .checks
        .iter()
        .map(|c| json!({ "what": c.what, "got": c.got, "want": c.want, "ok": c.ok() }))
        .collect();
    json!({
        "title": outcome.title,
        "sent": outcome.sent,
        "send_ms": outcome.send_time.as_secs_f64() * 1e3,
        "not_sent": outcome.not_sent,
        "report": summary.report,
        "xdp": xdp,
        "queues": queues,
        "checks": checks,
        "ok": outcome.ok(),
    })
}

/// What the demo needs besides the engine's own capabilities: CAP_SYS_ADMIN for the namespace, `ip`, `ethtool`.
fn preflight(umem_bytes: u64) -> Result<(), String> {
    let mut missing = Vec::new();
    if let Err(err) = check_capabilities(umem_bytes) {
        missing.push(err.to_string());
    }
    if !has_capability(CAP_SYS_ADMIN) {
        missing.push("missing CAP_SYS_ADMIN (to create the network namespace); run as root".to_owned());
    }
    for (tool, arg, package) in [("ip", "-V", "iproute2"), ("ethtool", "--version", "ethtool")] {
        if run_command(tool, &[arg]).is_err() {
            missing.push(format!("missing the `{tool}` command (Debian package {package})"));
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing
            .iter()
            .map(|m| format!("  - {m}"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}
