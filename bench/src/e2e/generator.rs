//! The benchmark's generator against the reference: vmknet-pktgen against xdp-trafficgen (xdp-tools) at 64
//! bytes, in the same run, on one veth pair, so that the report can say whether the generator offers
//! ≥ 0.9× xdp-trafficgen's rate (the target; otherwise a subject's ceiling could be the generator's).
//!
//! Both send single-flow UDP/IPv6 frames of 64 bytes without FCS (xdp-trafficgen 1.3.1 sends only those;
//! vmknet-pktgen's `--size` counts the FCS, so it is given 68) from one thread pinned to the same CPU, on the
//! host end of a [`Topology`] whose peer, in the namespace, has the counting [`Sink`] attached (`XDP_DROP`).
//! The veth receive half (NAPI, the sink) runs in softirq on the sender's CPU. Debian's xdp-tools 1.3.1 does
//! not load on kernels without some tracepoints it expects: the shim `bench/scripts/xdptools-shim.c`
//! (embedded here) is compiled with clang-22 and preloaded into it.
//!
//! The runs alternate, xdp-trafficgen first in each round. A run starts when the sink sees its first frames
//! and is sampled once a second straight from the sink's per-CPU counters; after the first second (ramping
//! up) and `seconds` more, the generator is stopped with SIGINT and the last (partial) window closes once the
//! frames in flight have arrived. A run's rate is the median of its one-second rates without the first and
//! the last; the comparison states each generator's median over the runs, their ratio, and the median of the
//! per-round ratios (each round's two runs are neighbours in time, so it suffers least from other load on
//! the machine: the figure the target is checked with). The sink's bytes over frames give the frame length
//! each generator was seen to send, so the comparison is shown like for like.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vmknet::runtime::{CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, missing_capabilities};
use vmknet_testbed::topology::{Topology, TopologyError, run_command};

use super::model::{GeneratorComparison, GeneratorRound, Spread};
use super::peers::{find_program, xdptools_shim};
use crate::pktgen::frame::FCS_LEN;
use crate::pktgen::run::rate;
use crate::pktgen::{PktgenError, Sink, SinkAction};

/// The frame xdp-trafficgen 1.3.1 sends, bytes without FCS.
pub const FRAME_BYTES: usize = 64;
/// Prefix of the topology's names (`vmknet-gc-<pid>`, `vgc<pid>a`/`b`).
const PREFIX: &str = "gc";
/// How long a generator may take to start sending.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the sink is looked at while waiting for a generator's first frames.
const START_POLL: Duration = Duration::from_millis(2);
/// How long a generator may take to exit after SIGINT.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long after a generator exits its frames in flight are waited for.
const DRAIN: Duration = Duration::from_millis(100);
/// vmknet-pktgen's own `--duration` outlasts its measurement by this, so it ends by itself should this
/// process die, but never before the SIGINT.
const BACKSTOP_SECONDS: u32 = 3;

/// What to compare, where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratorSpec {
    /// The vmknet-pktgen binary.
    pub pktgen: PathBuf,
    /// The CPU both generators are pinned to.
    pub cpu: usize,
    /// Rounds: one run of each generator per round.
    pub rounds: u32,
    /// Seconds each run is measured over; a run lasts two seconds more (the first and the last are left out).
    pub seconds: u32,
}

/// One of the two generators compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sender {
    /// xdp-trafficgen from xdp-tools, the reference.
    Trafficgen,
    /// vmknet-pktgen, the benchmark's generator.
    Pktgen,
}

impl fmt::Display for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Trafficgen => "xdp-trafficgen",
            Self::Pktgen => "vmknet-pktgen",
        })
    }
}

/// Why the comparison could not be run.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    /// The spec asks for nothing to run.
    #[error("{0}")]
    Invalid(String),
    /// A program, or a privilege, the comparison needs is not there.
    #[error("{what} missing: {hint}")]
    Missing {
        /// What is missing.
        what: String,
        /// Where to get it.
        hint: &'static str,
    },
    /// Building the veth pair failed.
    #[error("the veth pair: {0}")]
    Topology(#[from] TopologyError),
    /// Loading, attaching or reading the counting sink failed.
    #[error("the counting sink: {0}")]
    Sink(#[from] PktgenError),
    /// The xdp-tools shim did not compile.
    #[error("the xdp-tools shim: {0}")]
    Shim(String),
    /// A generator did not start, send, or stop.
    #[error("{sender}: {message}")]
    Run {
        /// Which.
        sender: Sender,
        /// What happened, with the end of its output.
        message: String,
    },
    /// A file or system call failed.
    #[error("{action}: {source}")]
    Io {
        /// What was attempted.
        action: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl GeneratorError {
    fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}

/// Runs the comparison: `spec.rounds` rounds of xdp-trafficgen then vmknet-pktgen, on a veth pair of its own
/// that is removed afterwards.
///
/// # Errors
/// [`GeneratorError::Missing`] naming xdp-trafficgen, clang-22, taskset, the vmknet-pktgen binary or the
/// privileges (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF) when one is not there; otherwise the first step that
/// failed.
pub fn compare_generators(spec: &GeneratorSpec) -> Result<GeneratorComparison, GeneratorError> {
    check_prerequisites(spec)?;
    let scratch = Scratch::create()?;
    let shim = xdptools_shim().map_err(GeneratorError::Shim)?;
    let topology = Topology::create(PREFIX, 1)?;
    // The host end's IPv6 neighbour discovery would add frames to the counts.
    run_command(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{}.disable_ipv6=1", topology.host)],
    )?;
    let peer = topology.peer.clone();
    let sink = topology
        .spawn_in_netns("gencmp-sink", move || Ok(attached_sink(&peer)))
        .join()
        .map_err(|_| GeneratorError::io("attaching the sink", io::Error::other("the thread panicked")))?
        .map_err(|err| GeneratorError::io(format!("entering {}", topology.netns), err))??;
    let mut rounds = Vec::new();
    let mut seen = [Seen::default(); 2];
    for round in 1..=spec.rounds {
        let mut mpps = [0.0; 2];
        for (i, sender) in [Sender::Trafficgen, Sender::Pktgen].into_iter().enumerate() {
            let command = sender.command(spec, &topology.host, &shim);
            let log = scratch.0.join(format!("{sender}-{round}.log"));
            let run = measure(sender, command, &sink, spec.seconds, &log)?;
            mpps[i] = run.mpps;
            seen[i].frames += run.seen.frames;
            seen[i].bytes += run.seen.bytes;
        }
        rounds.push(GeneratorRound {
            trafficgen_mpps: mpps[0],
            pktgen_mpps: mpps[1],
            load_average: load_average(),
        });
    }
    Ok(GeneratorComparison::of_rounds(
        spec.cpu,
        spec.seconds,
        rounds,
        (seen[0].mean_length(), seen[1].mean_length()),
    ))
}

impl GeneratorComparison {
    /// The comparison of `rounds`: each generator's median (and range) over its runs, the ratio of the
    /// medians and the median of the rounds' ratios (`None` when xdp-trafficgen delivered nothing).
    pub fn of_rounds(cpu: usize, seconds: u32, rounds: Vec<GeneratorRound>, frame_bytes: (u64, u64)) -> Self {
        let spread = |pick: fn(&GeneratorRound) -> f64| {
            Spread::of(&rounds.iter().map(pick).collect::<Vec<_>>()).unwrap_or_default()
        };
        let (trafficgen_mpps, pktgen_mpps) = (spread(|r| r.trafficgen_mpps), spread(|r| r.pktgen_mpps));
        let ratios: Vec<f64> = rounds.iter().filter_map(GeneratorRound::ratio).collect();
        Self {
            cpu,
            seconds,
            ratio_of_medians: (trafficgen_mpps.median > 0.0).then(|| pktgen_mpps.median / trafficgen_mpps.median),
            median_round_ratio: Spread::of(&ratios).map(|s| s.median),
            trafficgen_mpps,
            pktgen_mpps,
            frame_bytes,
            rounds,
        }
    }
}

/// The rate of a run from its one-second rates (any unit): the median without the first (ramping up) and the
/// last (partial) second; `None` with fewer than three.
pub fn steady_rate(per_second: &[f64]) -> Option<f64> {
    match per_second {
        [_, middle @ .., _] if !middle.is_empty() => Spread::of(middle).map(|s| s.median),
        _ => None,
    }
}

impl Sender {
    /// The command sending from `cpu` on `interface` until interrupted.
    fn command(self, spec: &GeneratorSpec, interface: &str, shim: &Path) -> Command {
        let cpu = spec.cpu.to_string();
        match self {
            Self::Trafficgen => {
                let mut command = Command::new("taskset");
                command
                    .env("LD_PRELOAD", shim)
                    .args(["-c", &cpu, "xdp-trafficgen", "udp", "-t", "1", interface]);
                command
            }
            Self::Pktgen => {
                let mut command = Command::new(&spec.pktgen);
                let size = (FRAME_BYTES + FCS_LEN).to_string();
                let duration = (spec.seconds + 2 + BACKSTOP_SECONDS).to_string();
                command.args(["flows", "-i", interface, "--ipv6", "--size", &size, "--cpus", &cpu]);
                command.args(["--duration", &duration]);
                command
            }
        }
    }
}

/// Privileges, programs and the binary the comparison runs, checked before anything is made.
fn check_prerequisites(spec: &GeneratorSpec) -> Result<(), GeneratorError> {
    if spec.rounds == 0 || spec.seconds == 0 {
        return Err(GeneratorError::Invalid(format!(
            "{} rounds of {} s: both must be at least 1",
            spec.rounds, spec.seconds
        )));
    }
    let missing = missing_capabilities(&[CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_BPF]);
    if !missing.is_empty() {
        return Err(GeneratorError::Missing {
            what: missing.join(", "),
            hint: "run as root (network namespace, XDP programs)",
        });
    }
    let programs = [
        ("xdp-trafficgen", "install xdp-tools (scripts/install-deps.sh)"),
        ("clang-22", "install clang-22 and libbpf-dev (scripts/install-deps.sh)"),
        ("taskset", "install util-linux"),
    ];
    for (program, hint) in programs {
        if find_program(program).is_none() {
            return Err(GeneratorError::Missing {
                what: program.to_owned(),
                hint,
            });
        }
    }
    if !spec.pktgen.is_file() {
        return Err(GeneratorError::Missing {
            what: spec.pktgen.display().to_string(),
            hint: "build vmknet-pktgen: cargo build --release -p vmknet-bench --bin vmknet-pktgen",
        });
    }
    Ok(())
}

/// A directory of this process's own, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn create() -> Result<Self, GeneratorError> {
        let dir = std::env::temp_dir().join(format!("vmknet-gencmp-{}", std::process::id()));
        fs::create_dir_all(&dir).map_err(|err| GeneratorError::io(format!("creating {}", dir.display()), err))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The sink, dropping and counting, attached to `interface` (natively: veth's `ndo_xdp_xmit` needs an XDP
/// program on the receiving end).
fn attached_sink(interface: &str) -> Result<Sink, PktgenError> {
    let mut sink = Sink::load(SinkAction::Drop)?;
    sink.attach(interface, false)?;
    Ok(sink)
}

/// Frames and bytes the sink counted from one generator.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    frames: u64,
    bytes: u64,
}

impl Seen {
    /// Bytes per frame, rounded; 0 without frames.
    fn mean_length(self) -> u64 {
        (self.bytes + self.frames / 2).checked_div(self.frames).unwrap_or(0)
    }
}

/// One run: its rate and what the sink counted.
struct Run {
    mpps: f64,
    seen: Seen,
}

/// Runs `command` (`sender`, output to `log`) for a run of `seconds` and measures it at the sink.
fn measure(sender: Sender, mut command: Command, sink: &Sink, seconds: u32, log: &Path) -> Result<Run, GeneratorError> {
    let output = File::create(log).map_err(|err| GeneratorError::io(format!("creating {}", log.display()), err))?;
    let copy = output
        .try_clone()
        .map_err(|err| GeneratorError::io(format!("opening {}", log.display()), err))?;
    command.stdin(Stdio::null()).stdout(copy).stderr(output);
    let before = sink.counters()?;
    let child = command.spawn().map_err(|err| GeneratorError::Run {
        sender,
        message: format!("cannot start {:?}: {err}", command.get_program()),
    })?;
    let mut running = Running { child, sender, log };
    let (start, first) = running.first_frames(sink, before.frames)?;
    let mut per_second = Vec::new();
    let mut last = (start, first);
    for second in 1..=seconds + 1 {
        std::thread::sleep((start + Duration::from_secs(second.into())).saturating_duration_since(Instant::now()));
        let (now, frames) = (Instant::now(), sink.counters()?.frames);
        per_second.push(rate(frames - last.1, (now - last.0).as_secs_f64()));
        last = (now, frames);
        if running.exited() {
            return Err(running.failed(&format!("stopped by itself after {second} s")));
        }
    }
    running.stop()?;
    std::thread::sleep(DRAIN);
    let (now, after) = (Instant::now(), sink.counters()?);
    per_second.push(rate(after.frames - last.1, (now - last.0).as_secs_f64()));
    Ok(Run {
        mpps: steady_rate(&per_second).unwrap_or_default() / 1e6,
        seen: Seen {
            frames: after.frames - before.frames,
            bytes: after.bytes - before.bytes,
        },
    })
}

/// A generator's process, killed if still running when dropped.
struct Running<'a> {
    child: Child,
    sender: Sender,
    log: &'a Path,
}

impl Running<'_> {
    /// Waits for the sink to count frames beyond `before`: when and how many.
    fn first_frames(&mut self, sink: &Sink, before: u64) -> Result<(Instant, u64), GeneratorError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let (now, frames) = (Instant::now(), sink.counters()?.frames);
            if frames > before {
                return Ok((now, frames));
            }
            if self.exited() {
                return Err(self.failed("exited before sending"));
            }
            if now > deadline {
                return Err(self.failed(&format!("nothing reached the sink in {} s", START_TIMEOUT.as_secs())));
            }
            std::thread::sleep(START_POLL);
        }
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Interrupts the generator (SIGINT, as Ctrl-C) and waits for it to exit.
    fn stop(mut self) -> Result<(), GeneratorError> {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap_or(libc::pid_t::MAX);
        // Safety: a plain signal to our own child, not yet waited for, so the pid is still its.
        unsafe { libc::kill(pid, libc::SIGINT) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !self.exited() {
            if Instant::now() > deadline {
                return Err(self.failed(&format!("still running {} s after SIGINT", STOP_TIMEOUT.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The error `what`, with the end of the generator's output.
    fn failed(&self, what: &str) -> GeneratorError {
        let output = fs::read_to_string(self.log).unwrap_or_default();
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" / ");
        GeneratorError::Run {
            sender: self.sender,
            message: if tail.is_empty() {
                what.to_owned()
            } else {
                format!("{what}; its output ended: {tail}")
            },
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The 1-minute load average; 0 when `/proc/loadavg` cannot be read.
fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(trafficgen_mpps: f64, pktgen_mpps: f64) -> GeneratorRound {
        GeneratorRound {
            trafficgen_mpps,
            pktgen_mpps,
            load_average: 0.5,
        }
    }

    #[test]
    fn steady_rate_leaves_out_the_first_and_last_second() {
        assert_eq!(steady_rate(&[1.0, 9.0, 8.0, 10.0, 0.2]), Some(9.0));
        assert_eq!(steady_rate(&[1.0, 9.0, 8.0, 0.2]), Some(8.5));
        assert_eq!(steady_rate(&[3.0, 7.0, 0.5]), Some(7.0));
        assert_eq!(steady_rate(&[3.0, 7.0]), None);
        assert_eq!(steady_rate(&[]), None);
    }

    #[test]
    fn ratios_of_medians_and_median_of_round_ratios() {
        // Rounds under changing load: the per-round ratios (0.9, 1.0, 0.95) differ from the medians' ratio.
        let rounds = vec![round(10.0, 9.0), round(6.0, 6.0), round(8.0, 7.6)];
        let comparison = GeneratorComparison::of_rounds(0, 5, rounds.clone(), (64, 64));
        assert_eq!(comparison.rounds, rounds);
        assert_eq!(
            comparison.trafficgen_mpps,
            Spread {
                median: 8.0,
                min: 6.0,
                max: 10.0
            }
        );
        assert_eq!(comparison.pktgen_mpps.median, 7.6);
        assert_eq!(comparison.ratio_of_medians, Some(7.6 / 8.0));
        assert_eq!(comparison.median_round_ratio, Some(7.6 / 8.0));
        let two = GeneratorComparison::of_rounds(1, 5, vec![round(10.0, 9.0), round(6.0, 6.0)], (64, 64));
        assert!((two.median_round_ratio.unwrap() - 0.95).abs() < 1e-12);
        assert!((two.ratio_of_medians.unwrap() - 7.5 / 8.0).abs() < 1e-12);
    }

    #[test]
    fn a_silent_trafficgen_gives_no_ratio() {
        let comparison = GeneratorComparison::of_rounds(0, 5, vec![round(0.0, 9.0)], (0, 64));
        assert_eq!(comparison.rounds[0].ratio(), None);
        assert_eq!(
            (comparison.ratio_of_medians, comparison.median_round_ratio),
            (None, None)
        );
    }

    #[test]
    fn mean_frame_length_rounds_and_survives_no_frames() {
        let seen = |frames, bytes| Seen { frames, bytes }.mean_length();
        assert_eq!([seen(10, 640), seen(3, 193), seen(0, 0)], [64, 64, 0]);
    }

    #[test]
    fn commands_pin_both_generators_to_the_cpu_at_64_bytes() {
        let spec = GeneratorSpec {
            pktgen: "/bin/vmknet-pktgen".into(),
            cpu: 1,
            rounds: 1,
            seconds: 2,
        };
        let args = |sender: Sender| {
            let command = sender.command(&spec, "veth0", Path::new("/tmp/shim.so"));
            let mut words = vec![command.get_program().to_string_lossy().into_owned()];
            words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
            words.join(" ")
        };
        assert_eq!(args(Sender::Trafficgen), "taskset -c 1 xdp-trafficgen udp -t 1 veth0");
        assert_eq!(
            args(Sender::Pktgen),
            "/bin/vmknet-pktgen flows -i veth0 --ipv6 --size 68 --cpus 1 --duration 7"
        );
    }

    #[test]
    fn nothing_to_run_is_refused() {
        let spec = GeneratorSpec {
            pktgen: "/nonexistent".into(),
            cpu: 0,
            rounds: 0,
            seconds: 2,
        };
        assert!(matches!(compare_generators(&spec), Err(GeneratorError::Invalid(_))));
    }
}
