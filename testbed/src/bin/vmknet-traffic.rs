//! `vmknet-traffic DIR [--seed N]`: writes the labelled captures.
//!
//! - `DIR/vsphere-mix.pcap` + `.labels.jsonl`: the good traffic, labelled for the embedded default host.
//! - `DIR/bad-cases.pcap` + `.labels.jsonl`: every bad case, labelled for the testbed host.
//! - `DIR/testbed-host.toml`: the testbed host (the embedded default plus vmk9), to replay `bad-cases` against.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use vmknet::model::HostModel;
use vmknet_testbed::{
    DEFAULT_SEED, LabelledFrame, bad_cases, testbed_host, testbed_host_toml, vsphere_mix, write_capture,
};

const USAGE: &str = "usage: vmknet-traffic DIR [--seed N]";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut seed = DEFAULT_SEED;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => match args.next().and_then(|s| s.parse().ok()) {
                Some(n) => seed = n,
                None => {
                    eprintln!("--seed needs a number\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            _ if dir.is_none() && !arg.starts_with('-') => dir = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("unexpected argument `{arg}`\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(dir) = dir else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match run(&dir, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("vmknet-traffic: {}: {err}", dir.display());
            ExitCode::FAILURE
        }
    }
}

/// Writes the captures and prints what was written. A closed standard output (`| head`) ends the printing
/// quietly; the files are written whole either way.
fn run(dir: &std::path::Path, seed: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut report = String::new();
    let mix = vsphere_mix(&HostModel::embedded_default(), seed);
    let bad = bad_cases(&testbed_host());
    for (name, frames) in [("vsphere-mix", &mix), ("bad-cases", &bad)] {
        let (pcap, labels) = write_capture(dir, name, frames)?;
        report += &format!("{} frames -> {} + {}\n", frames.len(), pcap.display(), labels.display());
        report += &summarise(frames);
    }
    let host = dir.join("testbed-host.toml");
    std::fs::write(&host, testbed_host_toml())?;
    report += &format!("bad-cases host -> {}\n", host.display());
    let _ = std::io::stdout().write_all(report.as_bytes());
    Ok(())
}

fn summarise(frames: &[LabelledFrame]) -> String {
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for frame in frames {
        let l = &frame.label;
        let detail = l.reason.as_deref().or(l.service.as_deref()).unwrap_or("-");
        *outcomes.entry(format!("{} {detail}", l.verdict)).or_default() += 1;
    }
    outcomes
        .into_iter()
        .map(|(outcome, n)| format!("  {n:6}  {outcome}\n"))
        .collect()
}
