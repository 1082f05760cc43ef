//! `vmknet-demo [--rounds N]`: the embedded default host end to end through the real XDP + AF_XDP path.
//!
//! Builds a [`Topology`] (a namespace holding the peer end of a two-queue veth pair, MTU 9000), starts the
//! engine (the `vmknet` library's [`Engine`]) on the host end with the embedded default host, sends the
//! testbed's labelled vSphere mix from the peer with two AF_PACKET senders pinned to different CPUs (so the two
//! rx queues and their workers both get traffic), waits until the counters stop moving, stops the engine and
//! prints the per-netstack / per-vmk / per-service report, the XDP program's counters and the kernel's socket
//! losses. Then it checks the accounting against the labels and exits 0 only if it adds up:
//!
//! - every frame is delivered exactly as labelled (per vmk and service; jumbo frames arrive whole, as
//!   multi-buffer chains), answered as labelled, and dropped for the labelled reason (in the XDP program or in
//!   the workers);
//! - frames labelled `passed` (Linux's traffic) never reach the engine: the program passes them to Linux;
//! - the kernel lost no frame, and every UMEM buffer taken from the kernel went back (the UMEM's books);
//! - the program saw every frame sent, once.
//!
//! It lives in `vmknet-testbed` rather than in the engine crate because it needs the testbed's traffic model
//! and topology, and the testbed depends on the engine (the engine cannot depend back on it).
//!
//! Needs root (CAP_SYS_ADMIN for the namespace, CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_IPC_LOCK) and the `ip`
//! and `ethtool` commands; without them it says what is missing and exits 2. Everything it creates is
//! removed on exit, also on an error, a panic, SIGINT or SIGTERM.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use vmknet::io::xsk::XskConfig;
use vmknet::model::HostModel;
use vmknet::runtime::{CpuList, Engine, EngineConfig, RunSummary, check_capabilities};
use vmknet::xdp::AttachMode;
use vmknet_common::XdpVerdict;
use vmknet_testbed::sender::send_from_peer;
use vmknet_testbed::topology::run_command;
use vmknet_testbed::{DEFAULT_SEED, LabelledFrame, Topology, vsphere_mix};

const USAGE: &str = "usage: vmknet-demo [--rounds N]   (N from 1 to 100, default 1; needs root)";

/// Queues of the veth pair, senders and workers.
const QUEUES: u32 = 2;
/// Longest wait for the counters to settle after the last frame was sent.
const SETTLE_MAX: Duration = Duration::from_secs(2);
/// The counters count as settled once unchanged for this long.
const SETTLE_QUIET: Duration = Duration::from_millis(200);
const CAP_SYS_ADMIN: u32 = 21;

fn main() -> ExitCode {
    let mut rounds = 1u32;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => match args.next().and_then(|s| s.parse().ok()) {
                Some(n @ 1..=100) => rounds = n,
                _ => {
                    eprintln!("--rounds needs a number from 1 to 100\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ => {
                eprintln!("unexpected argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    // Before anything is created, so a signal at any point ends in the normal teardown.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("vmknet-demo: cannot handle signal {signal}: {err}");
            return ExitCode::from(2);
        }
    }
    let xsk = XskConfig::default();
    if let Err(missing) = preflight(xsk.umem_bytes() * u64::from(QUEUES)) {
        eprintln!("vmknet-demo: cannot run:\n{missing}");
        return ExitCode::from(2);
    }
    match run(rounds, &stop) {
        Ok(true) => {
            println!("\nvmknet-demo: OK, the accounting adds up");
            ExitCode::SUCCESS
        }
        Ok(false) => {
            println!("\nvmknet-demo: FAILED, the accounting does not add up (see the lines marked MISMATCH)");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("vmknet-demo: {err}");
            ExitCode::FAILURE
        }
    }
}

/// What the demo needs besides the engine's own capabilities: CAP_SYS_ADMIN for the namespace, `ip`, `ethtool`.
fn preflight(umem_bytes: u64) -> Result<(), String> {
    let mut missing = Vec::new();
    if let Err(err) = check_capabilities(umem_bytes) {
        missing.push(err.to_string());
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    if effective & (1 << CAP_SYS_ADMIN) == 0 {
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

/// Frames of the mix for a sender: frames of one flow (same MACs, VLAN tag and IP addresses, so every
/// fragment of a datagram) go to the same sender, in their order in the mix.
fn sender_of(frame: &[u8]) -> usize {
    // FNV-1a over the Ethernet and 802.1Q headers and the IPv4 or IPv6 addresses behind them (never the IPv4
    // header checksum or fragment offset, which differ between the fragments of one datagram).
    let l3 = if frame.get(12..14) == Some(&[0x81, 0x00]) {
        18
    } else {
        14
    };
    let addresses = match frame.get(l3 - 2..l3) {
        Some([0x08, 0x00]) => l3 + 12..l3 + 20,
        Some([0x86, 0xdd]) => l3 + 8..l3 + 40,
        _ => 0..0,
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = frame.iter().take(16).chain(frame.get(addresses).unwrap_or_default());
    for &b in key {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % u64::from(QUEUES)) as usize
}

/// What the labels expect, for `rounds` rounds of the mix.
#[derive(Debug, Default)]
struct Expected {
    sent: u64,
    /// Delivered, per (vmk, service).
    delivered: BTreeMap<(String, String), u64>,
    /// Dropped, per reason.
    dropped: BTreeMap<String, u64>,
    /// Labelled `passed`: Linux's.
    passed: u64,
    /// Other labels (replied, forwarded).
    other: BTreeMap<String, u64>,
}

impl Expected {
    fn new(mix: &[LabelledFrame], rounds: u32) -> Self {
        let mut e = Self::default();
        let r = u64::from(rounds);
        for f in mix {
            let label = &f.label;
            e.sent += r;
            if label.verdict == "passed" {
                e.passed += r;
            } else if label.verdict == "delivered" {
                let key = (
                    label.vmk.clone().unwrap_or_else(|| "-".into()),
                    label.service.clone().unwrap_or_else(|| "-".into()),
                );
                *e.delivered.entry(key).or_default() += r;
            } else if label.verdict == "dropped" {
                *e.dropped.entry(label.reason.clone().unwrap_or_default()).or_default() += r;
            } else {
                *e.other.entry(label.verdict.clone()).or_default() += r;
            }
        }
        e
    }
}

/// Runs the demo; `Ok(true)` when the accounting adds up.
fn run(rounds: u32, stop: &AtomicBool) -> Result<bool, String> {
    let model = Arc::new(HostModel::embedded_default());
    let mix = vsphere_mix(&model, DEFAULT_SEED);
    let expected = Expected::new(&mix, rounds);
    let mut per_sender: Vec<Vec<Vec<u8>>> = vec![Vec::new(); QUEUES as usize];
    for f in &mix {
        per_sender[sender_of(&f.bytes)].push(f.bytes.clone());
    }
    let allowed = CpuList::allowed();
    let cpus: Vec<usize> = (0..QUEUES as usize).map(|i| allowed.for_worker(i)).collect();

    let topology = Topology::create("demo", QUEUES).map_err(|e| format!("creating the topology: {e}"))?;
    println!(
        "== topology: namespace {} holds {} (the switch side); the engine serves {} ({QUEUES} queues, MTU 9000)",
        topology.netns, topology.peer, topology.host
    );
    let config = EngineConfig {
        queues: Some(QUEUES),
        cpus: Some(
            cpus.iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(",")
                .parse()
                .map_err(|e| format!("CPU list: {e}"))?,
        ),
        attach: AttachMode::NativeOrGeneric,
        ..EngineConfig::new(topology.host.clone())
    };
    let engine = Engine::start(Arc::clone(&model), &config).map_err(|e| format!("starting the engine: {e}"))?;
    let info = engine.info();
    println!(
        "== engine: embedded default host ({} netstacks, {} vmks), {} XDP mode, driver {}",
        model.netstacks.len(),
        model.vmks.len(),
        info.attach,
        info.vlan_offload.driver
    );
    for (queue, cpu, path) in &info.queues {
        println!("   queue {queue}: worker on CPU {cpu}, {path} mode");
    }
    println!(
        "== sending the vSphere mix (seed {DEFAULT_SEED:#x}): {} frames x {rounds} round(s), senders on CPUs {cpus:?} \
         with {:?} frames each per round",
        mix.len(),
        per_sender.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let started = Instant::now();
    let mut sent = 0u64;
    for _ in 0..rounds {
        if stop.load(Ordering::Relaxed) {
            return Err("interrupted; everything removed".into());
        }
        let threads: Vec<_> = per_sender
            .iter()
            .zip(&cpus)
            .map(|(frames, &cpu)| send_from_peer(&topology, cpu, frames.clone()))
            .collect();
        for thread in threads {
            sent += thread
                .join()
                .map_err(|_| "a sender thread panicked".to_owned())?
                .map_err(|e| format!("sending from the peer: {e}"))?;
        }
    }
    let send_time = started.elapsed();

    // Until the workers' and the program's counters stop moving, at most SETTLE_MAX.
    let deadline = Instant::now() + SETTLE_MAX;
    let reading = |engine: &Engine| {
        let rx: u64 = engine.live().iter().map(|n| n.rx).sum();
        let seen = engine.xdp_counters().map(|c| c.frames()).unwrap_or(0);
        (rx, seen)
    };
    let mut last = reading(&engine);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(20));
        let now = reading(&engine);
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= SETTLE_QUIET {
            break;
        }
    }
    if stop.load(Ordering::Relaxed) {
        return Err("interrupted; everything removed".into());
    }
    let summary = engine.finish().map_err(|e| format!("stopping the engine: {e}"))?;
    let detached = !topology.has_xdp_program();
    println!(
        "   sent {sent} frames in {:.1} ms; the engine stopped, program detached: {detached}",
        send_time.as_secs_f64() * 1e3
    );
    println!("\n== the engine's report (frames that reached the AF_XDP sockets)\n");
    println!("{}", summary.report.to_text());
    print_kernel_side(&summary);
    Ok(check(&expected, &summary, sent) && detached)
}

fn print_kernel_side(summary: &RunSummary) {
    println!("== the XDP program's counters (every frame sent)");
    for (verdict, n) in summary.xdp.iter().filter(|(_, n)| *n > 0) {
        let name = match verdict {
            XdpVerdict::Redirected => "redirected to a socket".to_owned(),
            XdpVerdict::PassedNotOurs => "passed to Linux, not VMkernel traffic".to_owned(),
            XdpVerdict::PassedNoSocket => "passed to Linux, no socket".to_owned(),
            XdpVerdict::Dropped(reason) => format!("dropped in XDP: {}", reason.name()),
        };
        println!("   {name:<45} {n}");
    }
    println!("== the kernel's socket statistics (redirected but not received)");
    for q in &summary.queues {
        for (netstack, s) in q.sockets.iter().enumerate() {
            if s.lost() + s.rx_invalid_descs > 0 || q.netstacks.get(netstack).is_some_and(|n| n.rx > 0) {
                println!(
                    "   queue {} netstack {netstack}: received {}, rx_dropped {}, rx_ring_full {}, \
                     rx_fill_ring_empty {}, invalid descs {}",
                    q.queue,
                    q.netstacks.get(netstack).map_or(0, |n| n.rx),
                    s.rx_dropped,
                    s.rx_ring_full,
                    s.rx_fill_ring_empty,
                    s.rx_invalid_descs
                );
            }
        }
    }
}

/// Compares the run with the labels, printing each line; true when everything matches.
fn check(expected: &Expected, summary: &RunSummary, sent: u64) -> bool {
    let mut ok = true;
    let mut line = |good: bool, text: String| {
        println!("   {} {text}", if good { "ok      " } else { "MISMATCH" });
        ok &= good;
    };
    println!("\n== the accounting against the labels");
    let xdp = &summary.xdp;
    let report = &summary.report;
    line(
        xdp.frames() == sent && sent == expected.sent,
        format!(
            "frames sent {sent} (labels: {}), seen by the program {}",
            expected.sent,
            xdp.frames()
        ),
    );
    let mut delivered = BTreeMap::<(String, String), u64>::new();
    for c in report.cells.iter().filter(|c| c.verdict == "delivered") {
        let key = (
            c.vmk.clone().unwrap_or_else(|| "-".into()),
            c.service.clone().unwrap_or_else(|| "-".into()),
        );
        *delivered.entry(key).or_default() += c.packets;
    }
    let keys: std::collections::BTreeSet<_> = delivered.keys().chain(expected.delivered.keys()).cloned().collect();
    for key in keys {
        let (got, want) = (
            delivered.get(&key).copied().unwrap_or(0),
            expected.delivered.get(&key).copied().unwrap_or(0),
        );
        line(
            got == want,
            format!("delivered {:<6} {:<20} {got:>6} (labels {want})", key.0, key.1),
        );
    }
    let mut dropped = BTreeMap::<String, u64>::new();
    for (reason, n) in &report.drops {
        *dropped.entry((*reason).to_owned()).or_default() += n;
    }
    for (verdict, n) in xdp.iter().filter(|(_, n)| *n > 0) {
        if let XdpVerdict::Dropped(reason) = verdict {
            *dropped.entry(reason.name().to_owned()).or_default() += n;
        }
    }
    let reasons: std::collections::BTreeSet<_> = dropped.keys().chain(expected.dropped.keys()).cloned().collect();
    for reason in reasons {
        let (got, want) = (
            dropped.get(&reason).copied().unwrap_or(0),
            expected.dropped.get(&reason).copied().unwrap_or(0),
        );
        line(
            got == want,
            format!("dropped {reason:<35} {got:>6} (labels {want}; XDP and workers)"),
        );
    }
    for (verdict, want) in &expected.other {
        let got = match verdict.as_str() {
            "replied" => report.totals.replied,
            "forwarded" => report.totals.forwarded,
            _ => 0,
        };
        line(got == *want, format!("{verdict} {got} (labels {want})"));
    }
    let to_linux = xdp.get(XdpVerdict::PassedNotOurs) + xdp.get(XdpVerdict::PassedNoSocket);
    line(
        to_linux == expected.passed && report.totals.passed == 0,
        format!(
            "Linux's frames passed by the program {to_linux} (labels {}); passed by the workers {} (must be 0: \
             Linux's traffic never reaches the engine)",
            expected.passed, report.totals.passed
        ),
    );
    let lost = summary.socket_lost();
    line(
        lost == 0,
        format!("frames lost in the kernel {lost} (jumbo frames arrive whole, as multi-buffer chains)"),
    );
    let umem = summary.umem();
    line(
        umem.leaked() == 0,
        format!(
            "UMEM buffers received {} + completed {} = recycled {} + transmitted {} + held {}",
            umem.received, umem.completed, umem.recycled, umem.transmitted, umem.held
        ),
    );
    line(
        xdp.get(XdpVerdict::Redirected) == summary.socket_rx() + lost && report.frames_in == summary.socket_rx(),
        format!(
            "redirected {} = received by the sockets {} + lost {lost}; the workers counted {}",
            xdp.get(XdpVerdict::Redirected),
            summary.socket_rx(),
            report.frames_in
        ),
    );
    line(
        report.conservation_holds,
        "every frame the workers received got exactly one verdict".into(),
    );
    ok
}
