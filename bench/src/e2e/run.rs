//! One run of the end-to-end benchmark: the topology, then every (placement, load, subject) once per
//! repetition, interleaved so that a slow minute of a shared machine spreads over all subjects instead of
//! landing on one, then the latency runs at half of each subject's saturation rate, then the report.
//!
//! Each measurement: start the subject (it says when it receives), put veth's receive path where the
//! placement says, snapshot the CPU, run the generator for a fixed time, snapshot again, stop the subject and
//! read what it counted. Delivered = what the subject counted itself over the generator's wall time.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use vmknet::model::{HostModel, Ipv4Mode};
use vmknet_testbed::topology::{Topology, run_command};

use super::cpu::{CpuSnapshot, ProcessSnapshot};
use super::generate::{Destination, Generator, Send};
use super::generator::{GeneratorSpec, compare_generators};
use super::latency::latency_from_histogram;
use super::model::{
    BenchReport, GeneratorComparison, Latency, Load, Machine, Measurement, Missing, Placement, Subject, Summary,
};
use super::placement;
use super::subject::{self, SubjectContext};
use super::summary::{DEFAULT_OTHER_CPU_THRESHOLD_PERCENT, other_cpu_warnings, summarise};
use super::targets::check_targets;

/// What to measure.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Placements, each measured for every load and subject.
    pub placements: Vec<Placement>,
    /// Frame sizes and the mix.
    pub loads: Vec<Load>,
    /// What receives.
    pub subjects: Vec<Subject>,
    /// Interleaved repetitions.
    pub reps: u32,
    /// Seconds the generator sends per measurement.
    pub seconds: f64,
    /// The generator's core.
    pub generator_cpu: usize,
    /// The subject's core.
    pub subject_cpu: usize,
    /// Measure latency at half the saturation rate after the throughput runs.
    pub latency: bool,
    /// Rounds of the generator comparison (vmknet-pktgen against xdp-trafficgen) before the measurements; 0
    /// leaves it out.
    pub generator_rounds: u32,
    /// `vmknet-pktgen` and `vmknet-bench` (for the served subjects).
    pub binaries: Binaries,
}

/// The programs a run starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binaries {
    /// The generator.
    pub pktgen: PathBuf,
    /// This benchmark (its `serve` subcommand).
    pub bench: PathBuf,
}

/// The vmk the sized loads are sent to, a port of one of its UDP services, and the kernel subject's port.
const VMK: &str = "vmk8";
const VMK_UDP_PORT: u16 = 12321;
const KERNEL_UDP_PORT: u16 = 9999;
/// The receiving end's own address for the kernel subject, and the sender's.
const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const KERNEL_SRC_IP: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);
/// The loads latency is measured at.
const LATENCY_LOADS: [Load; 2] = [Load::Size(64), Load::Mix];
/// What a run stopped by a signal says.
const INTERRUPTED: &str = "interrupted by a signal: stopped after the measurement under way";
/// How long after the subject receives and before the generator sends (the placement settles).
const SETTLE: Duration = Duration::from_millis(200);
/// How long after the generator stops before the subject is stopped (rings drain).
const DRAIN: Duration = Duration::from_millis(200);

/// The sized loads' destination: [`VMK`] of the embedded default host, its vSAN port, a sender on its subnet.
///
/// # Errors
/// The embedded default has no such adapter with a static IPv4 address.
pub fn vmk_destination(model: &HostModel) -> Result<Destination, String> {
    let vmk = model
        .vmks
        .iter()
        .find(|v| v.name == VMK)
        .ok_or_else(|| format!("the embedded default host has no {VMK}"))?;
    let Ipv4Mode::Static(cidr) = vmk.ipv4 else {
        return Err(format!("{VMK} has no static IPv4 address"));
    };
    let ip = cidr.addr;
    let src_ip = Ipv4Addr::from(u32::from(ip) & !0xff | 100);
    Ok(Destination::Vmk {
        mac: vmk.mac.0,
        vlan: vmk.vlan,
        ip,
        src_ip,
        port: VMK_UDP_PORT,
    })
}

/// What the machine is.
fn machine() -> Machine {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    Machine {
        kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        cpu_model: read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name").and_then(|r| r.split(':').nth(1)))
            .unwrap_or("")
            .trim()
            .to_owned(),
        cpus: std::thread::available_parallelism().map_or(1, usize::from),
        load_average: read("/proc/loadavg")
            .split_whitespace()
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0.0),
    }
}

/// Runs `plan`, reporting progress on standard error, until done or `stop` is raised (a signal): then it
/// stops after the measurement under way and removes what it made.
///
/// # Errors
/// The topology could not be made, the generator failed, or `stop` was raised; a subject that fails is
/// recorded, not fatal.
pub fn run(plan: &Plan, stop: &AtomicBool) -> Result<BenchReport, String> {
    let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let machine = machine();
    let generator_comparison = compare(plan);
    let bench = Bench::new(plan)?;
    let mut missing: Vec<Missing> = Vec::new();
    let subjects: Vec<Subject> = plan
        .subjects
        .iter()
        .copied()
        .filter(|&s| match subject::available(s) {
            Ok(()) => true,
            Err(reason) => {
                eprintln!("vmknet-bench: {s}: missing: {reason}");
                missing.push(Missing { subject: s, reason });
                false
            }
        })
        .collect();
    let mut measurements = Vec::new();
    let mut warnings = Vec::new();
    for rep in 0..plan.reps {
        for &placement in &plan.placements {
            for &load in &plan.loads {
                let jumbo = bench.generator.by_af_packet(load);
                bench.set_generator_mtu(jumbo)?;
                for &subject in &subjects {
                    if stop.load(Ordering::Relaxed) {
                        return Err(INTERRUPTED.to_owned());
                    }
                    if jumbo && !multi_buffer(subject) {
                        let note = format!(
                            "{subject} is not measured at {load}: its XDP program has no multi-buffer support, which \
                             veth requires while the sending end's MTU (9000, for frames AF_PACKET sends) exceeds a page"
                        );
                        if !warnings.contains(&note) {
                            warnings.push(note);
                        }
                        continue;
                    }
                    let send = Send {
                        load,
                        seconds: plan.seconds,
                        rate: None,
                        stamp: false,
                    };
                    if bench.generator.args(&send, &bench.destination(subject)).is_err() {
                        continue; // a combination that does not exist (the mix to the kernel)
                    }
                    eprint!("vmknet-bench: rep {rep} {placement} {load} {subject}: ");
                    match bench.measure(subject, placement, &send) {
                        Ok((m, _)) => {
                            eprintln!(
                                "{:.3} Mpps of {:.3} offered",
                                m.delivered_pps / 1e6,
                                m.offered_pps / 1e6
                            );
                            measurements.push(Measurement { rep, ..m });
                        }
                        Err(err) => {
                            eprintln!("failed: {err}");
                            warnings.push(format!("{placement}, {load}, {subject}, rep {rep}: {err}"));
                        }
                    }
                }
            }
        }
    }
    let summaries = summarise(&measurements);
    let latency = if plan.latency {
        bench.latency(&summaries, &subjects, stop, &mut warnings)
    } else {
        Vec::new()
    };
    warnings.extend(other_cpu_warnings(&measurements, DEFAULT_OTHER_CPU_THRESHOLD_PERCENT));
    let targets = check_targets(
        &summaries,
        &latency,
        generator_comparison.as_ref().map_err(String::as_str),
    );
    Ok(BenchReport {
        started_unix,
        machine,
        seconds_per_measurement: plan.seconds,
        reps: plan.reps,
        measurements,
        summaries,
        latency,
        targets,
        missing,
        warnings,
        generator_missing: generator_comparison.as_ref().err().cloned(),
        generator: generator_comparison.ok(),
    })
}

/// The generator comparison of `plan`, or why there is none.
fn compare(plan: &Plan) -> Result<GeneratorComparison, String> {
    if plan.generator_rounds == 0 {
        return Err("not run (no rounds asked for)".to_owned());
    }
    let spec = GeneratorSpec {
        pktgen: plan.binaries.pktgen.clone(),
        cpu: plan.generator_cpu,
        rounds: plan.generator_rounds,
        seconds: (plan.seconds.ceil() as u32).max(2),
    };
    eprint!(
        "vmknet-bench: vmknet-pktgen against xdp-trafficgen, {} rounds: ",
        spec.rounds
    );
    let result = compare_generators(&spec).map_err(|err| err.to_string());
    match &result {
        Ok(c) => eprintln!(
            "median of the per-round ratios {}",
            c.median_round_ratio.map_or("n/a".to_owned(), |r| format!("{r:.2}x"))
        ),
        Err(err) => eprintln!("{err}"),
    }
    result
}

/// What the measurements share: the veth pair (removed when dropped), the generator, the subjects' place
/// and the two destinations.
struct Bench {
    topology: Topology,
    generator: Generator,
    context: SubjectContext,
    /// The sized loads' and the mix's destination.
    vmk: Destination,
    /// The kernel subject's.
    kernel: Destination,
    seconds: f64,
    placements: Vec<Placement>,
}

impl Bench {
    /// The topology: the generator sends on the end in this namespace; the subjects receive on the other, in
    /// the topology's namespace, where the traffic (and the Linux frames of the mix passed on) stays.
    fn new(plan: &Plan) -> Result<Self, String> {
        let topology = Topology::create("bench", 1).map_err(|err| err.to_string())?;
        // The generator's end would send neighbour discovery of its own to the subjects.
        let no_ipv6 = format!("net.ipv6.conf.{}.disable_ipv6=1", topology.host);
        run_command("sysctl", &["-qw", &no_ipv6]).map_err(|err| err.to_string())?;
        let (netns, receiver) = (topology.netns.clone(), topology.peer.clone());
        let address = format!("{KERNEL_IP}/24");
        run_command("ip", &["-n", &netns, "addr", "add", &address, "dev", &receiver]).map_err(|err| err.to_string())?;
        let mac_file = format!("/sys/class/net/{receiver}/address");
        let receiver_mac = run_command("ip", &["netns", "exec", &netns, "cat", &mac_file])
            .map_err(|err| err.to_string())
            .and_then(|text| crate::pktgen::parse_mac(text.trim()))?;
        let generator = Generator {
            binary: plan.binaries.pktgen.clone(),
            interface: topology.host.clone(),
            cpu: plan.generator_cpu,
            live_limit: crate::pktgen::live_frame_limit().map_err(|err| err.to_string())?,
        };
        Ok(Self {
            vmk: vmk_destination(&HostModel::embedded_default())?,
            kernel: Destination::Host {
                mac: receiver_mac,
                ip: KERNEL_IP,
                src_ip: KERNEL_SRC_IP,
                port: KERNEL_UDP_PORT,
            },
            context: SubjectContext {
                bench: plan.binaries.bench.clone(),
                netns,
                interface: receiver,
                cpu: plan.subject_cpu,
                udp_port: KERNEL_UDP_PORT,
            },
            topology,
            generator,
            seconds: plan.seconds,
            placements: plan.placements.clone(),
        })
    }

    fn destination(&self, subject: Subject) -> Destination {
        if subject == Subject::KernelUdp {
            self.kernel
        } else {
            self.vmk
        }
    }

    /// The generator end's MTU: 9000 when frames go by AF_PACKET (`jumbo`), which checks the sender's MTU,
    /// else 1500 (live frames are checked against the receiver's, 9000). veth refuses an XDP program without
    /// multi-buffer support on an interface whose *peer* MTU exceeds a page: xdp-bench's and DPDK's are such.
    fn set_generator_mtu(&self, jumbo: bool) -> Result<(), String> {
        let mtu = if jumbo { "9000" } else { "1500" };
        run_command("ip", &["link", "set", &self.topology.host, "mtu", mtu])
            .map(drop)
            .map_err(|err| err.to_string())
    }

    /// One measurement; also returns the latency histogram of a timed subject when `send.stamp`.
    fn measure(
        &self,
        subject: Subject,
        placement: Placement,
        send: &Send,
    ) -> Result<(Measurement, Option<Histogram<u64>>), String> {
        let context = &self.context;
        let running = subject::start(subject, context, send.stamp)?;
        let applied = match placement::apply(placement, &context.netns, &context.interface, context.cpu) {
            Ok(applied) => applied,
            Err(err) => {
                let _ = running.stop();
                return Err(err);
            }
        };
        std::thread::sleep(SETTLE);
        let me = std::process::id();
        let (cpu_before, others_before) = (CpuSnapshot::take(), ProcessSnapshot::take(&[me]));
        let sent = self.generator.send(send, &self.destination(subject));
        let (cpu_after, others_after) = (CpuSnapshot::take(), ProcessSnapshot::take(&[me]));
        std::thread::sleep(DRAIN);
        // Before the subject stops: the switch needs the NAPI instances its XDP program made.
        let undone = applied.undo();
        let stopped = running.stop();
        let (sent, stopped) = (sent?, stopped.map_err(|err| err.to_string())?);
        undone?;
        let seconds = sent.seconds.max(f64::MIN_POSITIVE);
        Ok((
            Measurement {
                rep: 0,
                placement,
                subject,
                load: send.load,
                seconds: sent.seconds,
                offered_pps: sent.offered as f64 / seconds,
                delivered_pps: stopped.frames as f64 / seconds,
                dropped: sent.offered.saturating_sub(stopped.frames),
                cpu: cpu_before.usage_until(&cpu_after),
                peak_rss_kib: stopped.peak_rss_kib,
                other_cpu_percent: others_before.percent_until(&others_after, seconds),
            },
            stopped.latency,
        ))
    }

    /// Latency of each timed subject at 64 bytes and on the mix, sent at half its median delivered rate, in each
    /// placement.
    fn latency(
        &self,
        summaries: &[Summary],
        subjects: &[Subject],
        stop: &AtomicBool,
        warnings: &mut Vec<String>,
    ) -> Vec<Latency> {
        let mut latency = Vec::new();
        for &placement in &self.placements {
            for (load, subject) in LATENCY_LOADS
                .into_iter()
                .flat_map(|load| subjects.iter().filter(|s| timed(**s)).map(move |&s| (load, s)))
            {
                if stop.load(Ordering::Relaxed) {
                    return latency;
                }
                // Absent when the load was not measured or cannot go to this subject (the mix to the kernel).
                let Some(saturation) = summaries
                    .iter()
                    .find(|s| s.placement == placement && s.subject == subject && s.load == load)
                    .map(|s| s.delivered_mpps.median * 1e6)
                else {
                    continue;
                };
                let rate = ((saturation / 2.0) as u64).max(1);
                let send = Send {
                    load,
                    seconds: self.seconds,
                    rate: Some(rate),
                    stamp: true,
                };
                eprint!(
                    "vmknet-bench: latency {placement} {load} {subject} at {:.3} Mpps: ",
                    rate as f64 / 1e6
                );
                match self.measure(subject, placement, &send) {
                    Ok((_, Some(histogram))) if !histogram.is_empty() => {
                        let l = latency_from_histogram(placement, subject, load, rate as f64, &histogram);
                        eprintln!(
                            "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs",
                            l.p50_us, l.p99_us, l.p999_us
                        );
                        latency.push(l);
                    }
                    Ok(_) => {
                        eprintln!("no stamped frame timed");
                        warnings.push(format!("latency {placement} {subject}: no stamped frame was timed"));
                    }
                    Err(err) => {
                        eprintln!("failed: {err}");
                        warnings.push(format!("latency {placement} {subject}: {err}"));
                    }
                }
            }
        }
        latency
    }
}

/// Whether `subject`'s XDP program takes multi-buffer frames (vmknet's programs do; xdp-tools 1.3.1's and
/// DPDK 22.11's do not).
fn multi_buffer(subject: Subject) -> bool {
    !matches!(subject, Subject::XdpBenchDrop | Subject::DpdkAfXdp)
}

/// The subjects timed: those that read the stamps (the engine and bare rings, the socket path).
fn timed(subject: Subject) -> bool {
    matches!(subject, Subject::Engine(_) | Subject::BareAfXdp(_) | Subject::KernelUdp)
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::sync::Arc;

    use vmknet::pipeline::{Pipeline, Service, Verdict};

    use super::*;
    use crate::pktgen::{IpRange, PortRange, UdpFlows};

    /// The sized loads measure the engine delivering frames, not dropping them: every size the benchmark
    /// sends to the vmk is delivered to its UDP service by the pipeline.
    #[test]
    fn sized_loads_are_delivered_to_the_vmks_service() {
        let model = Arc::new(HostModel::embedded_default());
        let Destination::Vmk {
            mac,
            vlan,
            ip,
            src_ip,
            port,
        } = vmk_destination(&model).unwrap()
        else {
            panic!("a vmk destination");
        };
        let mut pipeline = Pipeline::new(Arc::clone(&model));
        for size in [64, 128, 512, 1514, 9014] {
            let flows = UdpFlows {
                size,
                vlan: Some(vlan),
                src_mac: [2, 0, 0, 0, 0, 1],
                dst_mac: mac,
                src_ip: IpRange {
                    first: IpAddr::V4(src_ip),
                    count: 1,
                },
                dst_ip: IpRange {
                    first: IpAddr::V4(ip),
                    count: 1,
                },
                src_port: PortRange { first: 40000, count: 1 },
                dst_port: PortRange { first: port, count: 1 },
                timestamp: false,
            };
            let frame = flows.template().unwrap();
            let outcome = pipeline.process(&frame, 0);
            assert_eq!(outcome.verdict, Verdict::Delivered(Service::Vsan), "{size} B");
        }
    }
}
