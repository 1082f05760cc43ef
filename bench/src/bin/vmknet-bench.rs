//! vmknet-bench: the end-to-end benchmark. One command measures vmknet's fast path against the XDP
//! ceiling, a bare AF_XDP receive, DPDK's AF_XDP driver and the kernel's socket path on a veth pair, and
//! writes the report (JSON, Markdown, SVG plots). See `vmknet_bench::e2e`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use clap::{Args, Parser, Subcommand};
use vmknet_bench::e2e::model::{Load, Placement};
use vmknet_bench::e2e::output::{render_again, write_report};
use vmknet_bench::e2e::run::{Binaries, Plan, run};
use vmknet_bench::e2e::serve::{ServeSpec, serve};
use vmknet_bench::e2e::subject::{SUBJECTS, parse_subject};

#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure every subject at every load in every placement, then write the report.
    Run(RunArgs),
    /// Write the report in DIR again from its report.json (summaries and targets derived again).
    Render {
        /// The directory holding report.json.
        #[arg(default_value = "bench/results")]
        dir: PathBuf,
    },
    /// Run one of vmknet's own subjects until SIGTERM (started by `run`; prints `ready`, then a JSON line).
    #[command(hide = true)]
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Where to write report.json, report.md and the plots.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
    /// Interleaved repetitions of every measurement.
    #[arg(long, default_value_t = 3)]
    reps: u32,
    /// Seconds the generator sends per measurement.
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Loads: frame sizes (FCS included) and `mix`.
    #[arg(long, value_delimiter = ',', default_value = "64,128,512,1514,9014,mix")]
    loads: Vec<String>,
    /// Placements: softirq, shared-core.
    #[arg(long, value_delimiter = ',', default_value = "softirq,shared-core")]
    placements: Vec<String>,
    /// Subjects (all by default): classifier-drop, xdp-bench-drop, bare-poll, bare-busy, engine-poll,
    /// engine-busy, dpdk, kernel-udp.
    #[arg(long, value_delimiter = ',')]
    subjects: Vec<String>,
    /// The generator's CPU.
    #[arg(long, default_value_t = 0)]
    generator_cpu: usize,
    /// The subject's CPU.
    #[arg(long, default_value_t = 1)]
    subject_cpu: usize,
    /// Leave out the latency runs.
    #[arg(long)]
    no_latency: bool,
    /// Rounds of vmknet-pktgen against xdp-trafficgen before the measurements (0: leave it out).
    #[arg(long, default_value_t = 3)]
    generator_rounds: u32,
}

#[derive(Debug, Args)]
struct ServeArgs {
    #[arg(long)]
    subject: String,
    #[arg(long)]
    iface: String,
    #[arg(long)]
    cpu: usize,
    #[arg(long)]
    latency: bool,
    #[arg(long, default_value_t = 9999)]
    udp_port: u16,
}

fn parse_load(text: &str) -> Result<Load, String> {
    if text == "mix" {
        return Ok(Load::Mix);
    }
    match text.parse::<u16>() {
        Ok(size) if (64..=9018).contains(&size) => Ok(Load::Size(size)),
        _ => Err(format!("load `{text}`: a frame size from 64 to 9018, or `mix`")),
    }
}

fn parse_placement(text: &str) -> Result<Placement, String> {
    match text {
        "softirq" => Ok(Placement::Softirq),
        "shared-core" => Ok(Placement::SharedCore),
        _ => Err(format!("placement `{text}`: softirq or shared-core")),
    }
}

fn plan(args: &RunArgs) -> Result<Plan, String> {
    let exe = std::env::current_exe().map_err(|err| format!("finding this program: {err}"))?;
    let pktgen = exe.with_file_name("vmknet-pktgen");
    if !pktgen.exists() {
        return Err(format!(
            "{} not found: build the whole package (cargo build -p vmknet-bench)",
            pktgen.display()
        ));
    }
    let subjects = if args.subjects.is_empty() {
        SUBJECTS.iter().map(|(_, s)| *s).collect()
    } else {
        args.subjects
            .iter()
            .map(|s| parse_subject(s))
            .collect::<Result<_, _>>()?
    };
    if args.reps == 0 || args.seconds.is_nan() || args.seconds <= 0.0 {
        return Err("--reps and --seconds must be positive".to_owned());
    }
    Ok(Plan {
        placements: args
            .placements
            .iter()
            .map(|p| parse_placement(p))
            .collect::<Result<_, _>>()?,
        loads: args.loads.iter().map(|l| parse_load(l)).collect::<Result<_, _>>()?,
        subjects,
        reps: args.reps,
        seconds: args.seconds,
        generator_cpu: args.generator_cpu,
        subject_cpu: args.subject_cpu,
        latency: !args.no_latency,
        generator_rounds: args.generator_rounds,
        binaries: Binaries { pktgen, bench: exe },
    })
}

/// A flag SIGINT and SIGTERM raise, or `None` (having said why) when they cannot be handled.
fn stop_on_signals() -> Option<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("vmknet-bench: cannot handle signal {signal}: {err}");
            return None;
        }
    }
    Some(stop)
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => {
            let Some(stop) = stop_on_signals() else {
                return ExitCode::from(2);
            };
            let plan = match plan(&args) {
                Ok(plan) => plan,
                Err(err) => {
                    eprintln!("vmknet-bench: {err}");
                    return ExitCode::from(2);
                }
            };
            let report = match run(&plan, &stop) {
                Ok(report) => report,
                Err(err) => {
                    eprintln!("vmknet-bench: {err}");
                    return ExitCode::from(2);
                }
            };
            match write_report(&report, &args.out) {
                Ok(paths) => {
                    for path in paths {
                        eprintln!("vmknet-bench: wrote {}", path.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("vmknet-bench: writing the report to {}: {err}", args.out.display());
                    ExitCode::from(1)
                }
            }
        }
        Command::Render { dir } => match render_again(&dir) {
            Ok(paths) => {
                for path in paths {
                    eprintln!("vmknet-bench: wrote {}", path.display());
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("vmknet-bench: rendering {}: {err}", dir.display());
                ExitCode::from(1)
            }
        },
        Command::Serve(args) => {
            let Some(stop) = stop_on_signals() else {
                return ExitCode::from(2);
            };
            let spec = match parse_subject(&args.subject) {
                Ok(subject) => ServeSpec {
                    subject,
                    interface: args.iface,
                    cpu: args.cpu,
                    latency: args.latency,
                    udp_port: args.udp_port,
                },
                Err(err) => {
                    eprintln!("vmknet-bench serve: {err}");
                    return ExitCode::from(2);
                }
            };
            match serve(&spec, &stop) {
                Ok(outcome) => {
                    println!("{}", serde_json::to_string(&outcome).unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("vmknet-bench serve: {err}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
