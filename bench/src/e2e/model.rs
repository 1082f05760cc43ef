//! The end-to-end benchmark's results: every measurement of a run, their medians, the latency runs, the
//! targets checked and what could not be measured. One JSON document (`serde`) that the Markdown table and
//! the plots are drawn from, so every figure in a report comes from the same numbers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Where the receive half of veth (XDP and the copy into the UMEM) runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    /// veth's default: the receive path runs in softirq on the sender's core, the subject has a core of its
    /// own.
    Softirq,
    /// Threaded NAPI pinned to the subject's core: the receive path and the subject share one core.
    SharedCore,
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Softirq => "softirq",
            Self::SharedCore => "shared-core",
        })
    }
}

/// How an AF_XDP receiver waits when its rings are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Idle {
    /// Sleeps in `poll()` (need_wakeup).
    Poll,
    /// Spins on the rings.
    Busy,
}

impl fmt::Display for Idle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Poll => "poll",
            Self::Busy => "busy",
        })
    }
}

/// What receives the generator's frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "idle")]
pub enum Subject {
    /// The XDP ceiling: vmknet's classifier judging every frame, then `XDP_DROP`.
    ClassifierDrop,
    /// The XDP ceiling as xdp-tools measures it: `xdp-bench drop`.
    XdpBenchDrop,
    /// vmknet's own AF_XDP rings and workers with the pipeline off: receive, count, give back.
    BareAfXdp(Idle),
    /// The full engine: classifier, rings, pipeline, verdicts.
    Engine(Idle),
    /// DPDK's AF_XDP poll-mode driver: `dpdk-testpmd --vdev net_af_xdp…` in rxonly mode.
    DpdkAfXdp,
    /// The kernel's socket path: a UDP socket reading with `recvmmsg()`.
    KernelUdp,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClassifierDrop => f.write_str("classifier XDP_DROP"),
            Self::XdpBenchDrop => f.write_str("xdp-bench drop"),
            Self::BareAfXdp(idle) => write!(f, "bare AF_XDP ({idle})"),
            Self::Engine(idle) => write!(f, "vmknet engine ({idle})"),
            Self::DpdkAfXdp => f.write_str("DPDK AF_XDP testpmd"),
            Self::KernelUdp => f.write_str("kernel UDP socket"),
        }
    }
}

/// What the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "bytes")]
pub enum Load {
    /// UDP frames of this size, FCS included (pktgen's convention: 64 puts 60 bytes on the wire buffer).
    Size(u16),
    /// The testbed's labelled vSphere mix, replayed in order.
    Mix,
}

impl fmt::Display for Load {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Size(bytes) => write!(f, "{bytes} B"),
            Self::Mix => f.write_str("vSphere mix"),
        }
    }
}

/// One core's time over a measurement, in percent of the wall time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoreUsage {
    /// The CPU.
    pub cpu: usize,
    /// User time.
    pub user: f64,
    /// System time outside interrupts.
    pub system: f64,
    /// Soft and hard interrupt time (where the softirq placement's receive path is counted).
    pub irq: f64,
    /// Idle and I/O wait.
    pub idle: f64,
}

/// One repetition of one (placement, subject, load).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Which repetition, from 0.
    pub rep: u32,
    /// Where the receive path ran.
    pub placement: Placement,
    /// What received.
    pub subject: Subject,
    /// What was sent.
    pub load: Load,
    /// Seconds the generator sent for.
    pub seconds: f64,
    /// Frames the generator put on the wire, per second.
    pub offered_pps: f64,
    /// Frames the subject received (counted by itself), per second.
    pub delivered_pps: f64,
    /// Frames offered and not delivered.
    pub dropped: u64,
    /// Per core, over the sending window.
    pub cpu: Vec<CoreUsage>,
    /// The subject process's peak resident memory, where it is a process of its own.
    pub peak_rss_kib: Option<u64>,
    /// CPU time taken by processes other than the benchmark's, in percent of one core.
    pub other_cpu_percent: f64,
}

/// Median, least and most of a set of repetitions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median.
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

/// The repetitions of one (placement, subject, load), summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Where the receive path ran.
    pub placement: Placement,
    /// What received.
    pub subject: Subject,
    /// What was sent.
    pub load: Load,
    /// Repetitions summarised.
    pub reps: u32,
    /// Delivered, in millions of frames per second.
    pub delivered_mpps: Spread,
    /// Offered, in millions of frames per second.
    pub offered_mpps: Spread,
    /// Median delivered over the median of the same run's XDP ceiling (classifier drop) for this placement
    /// and load.
    pub ratio_to_ceiling: Option<f64>,
    /// Median CPU per core (busy = 100 − idle), percent.
    pub busy_percent: Vec<(usize, f64)>,
    /// Largest peak resident memory over the repetitions.
    pub peak_rss_kib: Option<u64>,
}

/// Added latency of one subject at one offered rate: the generator's send time (stamped in the payload) to
/// the subject's receive time, both on `CLOCK_MONOTONIC`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Where the receive path ran.
    pub placement: Placement,
    /// What received.
    pub subject: Subject,
    /// What was sent.
    pub load: Load,
    /// The offered rate, frames per second.
    pub rate_pps: f64,
    /// Frames timed.
    pub samples: u64,
    /// Percentiles in microseconds.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// The largest.
    pub max_us: f64,
    /// (percentile, microseconds) points of the distribution, for the CDF plot.
    pub cdf: Vec<(f64, f64)>,
}

/// One of the targets, checked against the same run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TargetCheck {
    /// What is compared, e.g. "engine (poll) / bare AF_XDP (poll), 64 B, softirq".
    pub name: String,
    /// The threshold, in the unit of `measured`.
    pub threshold: f64,
    /// The measured value (a ratio, or microseconds for latency).
    pub measured: Option<f64>,
    /// Whether `measured` meets the threshold (false when it could not be measured).
    pub met: bool,
    /// What was measured against the threshold and, when missed, by how much; or what is missing.
    pub note: String,
    /// Why a target is missed, when someone has found out: added by the orchestrator or by hand, not by
    /// [`check_targets`](super::targets::check_targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// A comparison subject that could not be run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// The subject.
    pub subject: Subject,
    /// Why (a package that is not installed, a command that failed, …).
    pub reason: String,
}

/// One round of the generator comparison: xdp-trafficgen's run, then vmknet-pktgen's, back to back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GeneratorRound {
    /// xdp-trafficgen's rate at the sink, millions of frames per second.
    pub trafficgen_mpps: f64,
    /// vmknet-pktgen's rate at the sink, millions of frames per second.
    pub pktgen_mpps: f64,
    /// The 1-minute load average after the round (other load on the machine moves both runs).
    pub load_average: f64,
}

impl GeneratorRound {
    /// vmknet-pktgen's rate over xdp-trafficgen's; `None` when xdp-trafficgen's is 0.
    pub fn ratio(&self) -> Option<f64> {
        (self.trafficgen_mpps > 0.0).then(|| self.pktgen_mpps / self.trafficgen_mpps)
    }
}

/// vmknet-pktgen against xdp-trafficgen (xdp-tools) at 64 bytes, in the same run: single-flow UDP/IPv6 frames
/// from one thread pinned to [`cpu`](Self::cpu) onto a veth pair whose peer counts and drops them
/// ([`compare_generators`](super::generator::compare_generators)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratorComparison {
    /// The CPU both generators (and the veth receive path, in softirq) ran on.
    pub cpu: usize,
    /// Seconds each run was measured over (its first and last seconds left out).
    pub seconds: u32,
    /// The rounds, in order.
    pub rounds: Vec<GeneratorRound>,
    /// xdp-trafficgen's runs, Mpps.
    pub trafficgen_mpps: Spread,
    /// vmknet-pktgen's runs, Mpps.
    pub pktgen_mpps: Spread,
    /// vmknet-pktgen's median over xdp-trafficgen's (`None` when xdp-trafficgen's is 0).
    pub ratio_of_medians: Option<f64>,
    /// The median of the rounds' ratios: each round's two runs are neighbours in time, so this suffers least
    /// from other load on the machine. The figure the target is checked with (`None` without a ratio).
    pub median_round_ratio: Option<f64>,
    /// The mean frame length the sink saw from (xdp-trafficgen, vmknet-pktgen), bytes without the FCS: the
    /// comparison is like for like when they are equal.
    pub frame_bytes: (u64, u64),
}

/// The machine a report was measured on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `uname -r`.
    pub kernel: String,
    /// The CPU model.
    pub cpu_model: String,
    /// Online CPUs.
    pub cpus: usize,
    /// Load average (1 minute) at the start.
    pub load_average: f64,
}

/// A whole run of the end-to-end benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Seconds since the Unix epoch when the run started.
    pub started_unix: u64,
    /// Where it ran.
    pub machine: Machine,
    /// Seconds each measurement sent for.
    pub seconds_per_measurement: f64,
    /// Repetitions of each measurement (interleaved: one pass over every combination per repetition).
    pub reps: u32,
    /// Every measurement, in the order taken.
    pub measurements: Vec<Measurement>,
    /// Their medians per (placement, subject, load).
    pub summaries: Vec<Summary>,
    /// Latency runs.
    pub latency: Vec<Latency>,
    /// The targets.
    pub targets: Vec<TargetCheck>,
    /// Subjects that could not be run, and why.
    pub missing: Vec<Missing>,
    /// Anything that makes the figures less trustworthy (other processes' CPU, lost frames, …).
    pub warnings: Vec<String>,
    /// vmknet-pktgen against xdp-trafficgen, when it could be run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator: Option<GeneratorComparison>,
    /// Why the generator comparison could not be run, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_missing: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::fixtures::sample_report;

    #[test]
    fn reports_from_before_the_generator_comparison_still_parse() {
        let mut json = serde_json::to_value(sample_report()).unwrap();
        let fields = json.as_object_mut().unwrap();
        assert!(fields.remove("generator").is_some());
        assert!(!fields.contains_key("generator_missing"), "None is left out");
        let report: BenchReport = serde_json::from_value(json).unwrap();
        assert_eq!((report.generator, report.generator_missing), (None, None));
    }
}
