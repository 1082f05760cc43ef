//! `vmknet run`: the AF_XDP fast path on an interface, with a one-line summary per interval and the report of
//! the run on exit (SIGINT, SIGTERM or `--duration`).
//!
//! This thread is the control thread: it checks the capabilities before anything else, starts the
//! [`Engine`], reads the workers' live counters once per interval and, on the way out, merges their counters
//! into the final report. The program is detached on every way out (dropping the engine detaches it).
//!
//! For the benchmark, `--processing off` leaves the pipeline out (the workers receive, count and give back)
//! and `--latency` times the generator's stamped frames, reported as percentiles at the end.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hdrhistogram::Histogram;

use super::{ConfigArg, emit, state};
use vmknet::io::xsk::{BindMode, DEFAULT_FRAME_COUNT, SocketStats, XskConfig};
use vmknet::runtime::{
    CpuList, Engine, EngineConfig, LiveCounts, LocalPort, NetstackCpu, Processing, RunSummary, check_capabilities,
};
use vmknet::xdp::AttachMode;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Interface to attach to.
    #[arg(long, value_name = "IF")]
    iface: String,
    #[command(flatten)]
    config: ConfigArg,
    /// Rx queues to serve (0..N); all of the interface's by default.
    #[arg(long, value_name = "N")]
    queues: Option<u32>,
    /// CPUs for the workers in queue order, e.g. `0,2-3`; the allowed CPUs in order by default.
    #[arg(long, value_name = "LIST")]
    cpus: Option<CpuList>,
    /// Give a netstack a worker of its own on a CPU, e.g. `vmotion=1` (repeatable); it serves the netstack's
    /// ring on every queue, the queue workers serve the rest.
    #[arg(long, value_name = "NETSTACK=CPU")]
    netstack_cpu: Vec<NetstackCpu>,
    /// Seconds between summary lines.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    interval: f64,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    xdp_mode: XdpModeArg,
    /// Spin on the rings instead of sleeping in poll() when they are empty (only on a core the kernel's
    /// receive path does not use).
    #[arg(long)]
    busy_poll: bool,
    /// What the workers do with the frames: judge them with the pipeline, or (`off`, the bare AF_XDP
    /// receive) count them and give them straight back, with no verdict.
    #[arg(long, value_enum, default_value_t = ProcessingArg::Pipeline)]
    processing: ProcessingArg,
    /// Time the frames carrying the generator's send stamp (the delivered ones; all with `--processing off`)
    /// and print the latency percentiles in the final report.
    #[arg(long)]
    latency: bool,
    /// Require zero-copy AF_XDP; fail where the driver lacks it (veth, generic XDP).
    #[arg(long)]
    zero_copy: bool,
    /// UMEM frames (4 KiB each) per queue.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_FRAME_COUNT)]
    frames: u32,
    /// Where to write the neighbour tables (`neighbors.json`, for `vmknet show neighbors`) every interval
    /// and at exit; default /run/vmknet/<IF>.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum XdpModeArg {
    /// In the driver.
    Native,
    /// In the generic receive path (slow; any interface).
    Generic,
    /// Native, falling back to generic with a warning.
    Auto,
}

impl From<XdpModeArg> for AttachMode {
    fn from(mode: XdpModeArg) -> Self {
        match mode {
            XdpModeArg::Native => Self::Native,
            XdpModeArg::Generic => Self::Generic,
            XdpModeArg::Auto => Self::NativeOrGeneric,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum ProcessingArg {
    /// Judge every frame with the pipeline.
    Pipeline,
    /// Count every frame and give it straight back.
    Off,
}

impl From<ProcessingArg> for Processing {
    fn from(processing: ProcessingArg) -> Self {
        match processing {
            ProcessingArg::Pipeline => Self::Pipeline,
            ProcessingArg::Off => Self::Off,
        }
    }
}

/// How often the control thread looks at the stop flag while waiting for the next interval.
const TICK: Duration = Duration::from_millis(50);

pub(crate) fn run(args: &RunArgs) -> ExitCode {
    let xsk = XskConfig {
        frame_count: args.frames,
        bind_mode: if args.zero_copy {
            BindMode::ZeroCopy
        } else {
            BindMode::Auto
        },
    };
    let n_queues = u64::from(args.queues.unwrap_or(1).max(1));
    if let Err(err) = check_capabilities(xsk.umem_bytes() * n_queues) {
        eprintln!("vmknet: {err}");
        return ExitCode::from(2);
    }
    if args.interval <= 0.0 || !args.interval.is_finite() || args.duration.is_some_and(|d| d < 0.0 || d.is_nan()) {
        eprintln!("vmknet: --interval must be positive and --duration not negative");
        return ExitCode::from(2);
    }
    let model = match args.config.load() {
        Ok(model) => Arc::new(model),
        Err(code) => return code,
    };
    let config = EngineConfig {
        interface: args.iface.clone(),
        queues: args.queues,
        cpus: args.cpus.clone(),
        attach: args.xdp_mode.into(),
        busy_poll: args.busy_poll,
        xsk,
        netstack_cpus: args.netstack_cpu.clone(),
        processing: args.processing.into(),
        latency: args.latency,
    };
    // Handled from before the start, so a signal during it still ends in a clean stop.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("vmknet: cannot handle signal {signal}: {err}");
            return ExitCode::from(2);
        }
    }
    let mut engine = match Engine::start(Arc::clone(&model), &config) {
        Ok(engine) => engine,
        Err(err) => {
            eprintln!("vmknet: {err}");
            return ExitCode::from(2);
        }
    };
    let info = engine.info();
    eprintln!(
        "vmknet: {} attached in {} XDP mode; driver {}, rx-vlan-offload {}{}",
        args.iface,
        info.attach,
        info.vlan_offload.driver,
        if info.vlan_offload.rx_vlan_offload { "on" } else { "off" },
        if info.vlan_offload.rx_vlan_offload && !info.vlan_offload.hides_tags() {
            " (veth keeps in-band tags; peers must send them in-band: `ethtool -K <peer> txvlan off`)"
        } else {
            ""
        }
    );
    if (info.queues.len() as u32) < info.rx_queues {
        eprintln!(
            "vmknet: warning: serving {} of {}'s {} rx queues; VMkernel frames arriving on the others go to Linux",
            info.queues.len(),
            args.iface,
            info.rx_queues
        );
    }
    for (queue, cpu, data_path) in &info.queues {
        eprintln!(
            "vmknet: queue {queue}: worker on CPU {cpu}, {} netstack sockets, {data_path} mode, {} idle, processing {}",
            model.netstacks.len(),
            if args.busy_poll { "spinning when" } else { "poll() when" },
            config.processing
        );
    }
    for (netstack, cpu) in &info.dedicated {
        eprintln!(
            "vmknet: netstack {}: worker of its own on CPU {cpu}, serving its socket on every queue",
            model.netstacks[*netstack].key
        );
    }

    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| state::default_dir(&args.iface));
    let port = engine.local_port();
    let save_neighbors = || {
        if let Some(port) = &port {
            save(port, &state_dir);
        }
    };
    save_neighbors();
    eprintln!(
        "vmknet: neighbour tables in {}",
        state_dir.join("neighbors.json").display()
    );
    let names: Vec<String> = model.netstacks.iter().map(|n| n.key.to_string()).collect();
    let start = Instant::now();
    let deadline = args.duration.map(|d| start + Duration::from_secs_f64(d));
    let interval = Duration::from_secs_f64(args.interval);
    let mut last = (start, engine.live());
    while !stop.load(Ordering::Relaxed) && !engine.worker_stopped() {
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now.duration_since(last.0) >= interval {
            let live = engine.live();
            emit(format_args!(
                "{}\n",
                summary_line(
                    now.duration_since(start),
                    now.duration_since(last.0),
                    &names,
                    &last.1,
                    &live
                )
            ));
            last = (now, live);
            save_neighbors();
        }
        std::thread::sleep(TICK);
    }
    save_neighbors();
    match engine.finish() {
        Ok(summary) => {
            emit(final_text(&summary, &names));
            emit(memory_line(args.frames, summary.queues.len()));
            if summary.report.conservation_holds && summary.umem().leaked() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(err) => {
            eprintln!("vmknet: {err}");
            ExitCode::from(2)
        }
    }
}

/// How long the control thread waits for the owners to copy their neighbour caches.
const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(1);

/// Writes the owners' neighbour caches into `dir`; a failure is reported, not fatal.
fn save(port: &LocalPort, dir: &Path) {
    match port.neighbors(SNAPSHOT_TIMEOUT) {
        Ok(snapshot) => {
            if let Err(err) = state::write_neighbors(dir, &snapshot) {
                eprintln!("vmknet: writing the neighbour tables into {}: {err}", dir.display());
            }
        }
        Err(netstack) => eprintln!("vmknet: the owner of netstack {netstack:?} did not copy its neighbour table"),
    }
}

/// `[  3.0s] total rx 1000/s delivered 990/s drops 10/s | vmotion rx ... | ...`: rates over `elapsed`.
fn summary_line(
    at: Duration,
    elapsed: Duration,
    names: &[String],
    before: &[LiveCounts],
    now: &[LiveCounts],
) -> String {
    let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let rate = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / seconds;
    let part = |name: &str, a: &LiveCounts, b: &LiveCounts| {
        format!(
            "{name} rx {:.0}/s delivered {:.0}/s replied {:.0}/s drops {:.0}/s",
            rate(a.rx, b.rx),
            rate(a.delivered, b.delivered),
            rate(a.replied, b.replied),
            rate(a.dropped, b.dropped)
        )
    };
    let sum = |counts: &[LiveCounts]| {
        let mut total = LiveCounts::default();
        counts.iter().for_each(|c| total.add(c));
        total
    };
    let mut line = format!("[{:7.1}s] {}", at.as_secs_f64(), part("total", &sum(before), &sum(now)));
    for ((name, a), b) in names.iter().zip(before).zip(now) {
        line.push_str(" | ");
        line.push_str(&part(name, a, b));
    }
    line
}

/// `latency (µs) of 1000 delivered stamped frames: p50 12.3, p99 40.1, p99.9 80.2, max 95.0`.
fn latency_line(latency: &Histogram<u64>, processing: Processing) -> String {
    let frames = match processing {
        Processing::Pipeline => "delivered stamped frames",
        Processing::Off => "stamped frames received",
    };
    if latency.is_empty() {
        return format!("latency: no {frames}\n");
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    format!(
        "latency (µs) of {} {frames}: p50 {:.1}, p99 {:.1}, p99.9 {:.1}, max {:.1}\n",
        latency.len(),
        us(latency.value_at_quantile(0.5)),
        us(latency.value_at_quantile(0.99)),
        us(latency.value_at_quantile(0.999)),
        us(latency.max())
    )
}

/// The memory the run took: the UMEMs it sized (the bulk, fixed at start) and the process's resident set.
fn memory_line(frames: u32, queues: usize) -> String {
    let umem_mib = u64::from(frames) * 4096 * queues as u64 / (1 << 20);
    let (rss, peak) = resident_kib().unwrap_or_default();
    format!(
        "memory: UMEM {umem_mib} MiB ({frames} frames of 4 KiB x {queues} queue(s)); resident {} MiB, peak {} MiB\n",
        rss / 1024,
        peak / 1024
    )
}

/// Current and peak resident set of this process in KiB, from `/proc/self/status` (VmRSS, VmHWM).
fn resident_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// The final report, followed by the kernel's side of the accounting: XDP verdicts and AF_XDP socket losses.
pub(crate) fn final_text(summary: &RunSummary, names: &[String]) -> String {
    let mut out = String::new();
    if summary.processing == Processing::Off {
        out.push_str(&format!(
            "processing off: {} frames received and given straight back, none judged (no verdicts below)\n",
            summary.socket_rx()
        ));
    }
    out.push_str(&summary.report.to_text());
    if let Some(latency) = &summary.latency {
        out.push_str(&latency_line(latency, summary.processing));
    }
    out.push_str("\nXDP program:");
    for (verdict, count) in summary.xdp.iter().filter(|(_, n)| *n > 0) {
        out.push_str(&format!(" {verdict:?} {count};"));
    }
    out.push_str(&format!(" total {}\n", summary.xdp.frames()));
    for queue in &summary.queues {
        out.push_str(&format!(
            "queue {} (CPU {}, {} mode): rx {}",
            queue.queue,
            queue.cpu,
            queue.data_path,
            queue.rx()
        ));
        for (name, counts) in names.iter().zip(&queue.netstacks).filter(|(_, c)| c.rx > 0) {
            out.push_str(&format!(", {name} {} ({} bytes", counts.rx, counts.rx_bytes));
            if counts.replied > 0 {
                out.push_str(&format!(
                    ", replied {}, tx dropped {}",
                    counts.replied, counts.tx_dropped
                ));
            }
            out.push(')');
        }
        let mut lost = SocketStats::default();
        queue.sockets.iter().for_each(|stats| lost.add(stats));
        out.push_str(&format!(
            "; lost in the kernel: {} (rx ring full {}, fill ring empty {}, other {})\n",
            lost.lost(),
            lost.rx_ring_full,
            lost.rx_fill_ring_empty,
            lost.rx_dropped
        ));
        let umem = &queue.umem;
        out.push_str(&format!(
            "  UMEM: {} frames; buffers received {}, completed {}, recycled {}, transmitted {}, held {}; leaked {}\n",
            umem.frames,
            umem.received,
            umem.completed,
            umem.recycled,
            umem.transmitted,
            umem.held,
            umem.leaked()
        ));
    }
    for (name, egress) in names
        .iter()
        .zip(&summary.egress)
        .filter(|(_, e)| e.sent + e.refused + e.waiting > 0)
    {
        out.push_str(&format!(
            "egress {name}: sent {} ({} frames, {} fragments), ARP/ND requests {}, waited {} (dropped oldest {}, \
             expired {}), rejected {}, refused {}, tx dropped {}\n",
            egress.sent,
            egress.frames,
            egress.fragments,
            egress.requests,
            egress.waiting,
            egress.dropped_oldest,
            egress.expired,
            egress.rejected,
            egress.refused,
            egress.tx_dropped
        ));
    }
    let (egress_frames, egress_free) = summary.egress_frames;
    out.push_str(&format!(
        "egress frames (queue 0, outside the fill ring): {egress_frames}, free at exit {egress_free}\n"
    ));
    out.push_str(&format!(
        "announcements (gratuitous ARP, unsolicited NA) reported by XDP: {}, lost to a full ring: {}\n",
        summary.learn.reported, summary.learn.ring_full
    ));
    if summary.learn_dropped > 0 {
        out.push_str(&format!(
            "neighbour learn events dropped on the way to their owner: {}\n",
            summary.learn_dropped
        ));
    }
    for worker in &summary.workers {
        let served: Vec<String> = worker
            .rings
            .iter()
            .map(|&(queue, netstack)| format!("q{queue}/{}", names.get(netstack).map_or("?", String::as_str)))
            .collect();
        out.push_str(&format!(
            "worker {} (CPU {}): {} frames judged; rings {}\n",
            worker.name,
            worker.cpu,
            worker.frames,
            served.join(" ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_line_gives_percentiles_in_microseconds() {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
        for ns in [10_000, 20_000, 30_000, 1_000_000] {
            latency.saturating_record(ns);
        }
        let line = latency_line(&latency, Processing::Pipeline);
        assert!(
            line.starts_with("latency (µs) of 4 delivered stamped frames: p50 20.0, p99 1000"),
            "{line}"
        );
        assert!(line.contains(", max 1000."), "{line}");
        latency.reset();
        assert_eq!(
            latency_line(&latency, Processing::Off),
            "latency: no stamped frames received\n"
        );
    }
}
