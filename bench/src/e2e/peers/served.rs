//! vmknet's own subjects (the classifier in ceiling mode, the bare AF_XDP rings, the engine, the kernel's
//! socket path), run like the peers: `vmknet-bench serve --subject NAME …` as a child in the namespace,
//! pinned to the subject's CPU ([`crate::e2e::serve`] is its other side).
//!
//! Ready: it prints `ready` once it receives. Count: after SIGINT it prints one line of JSON, a
//! [`ServeOutcome`]: frames received, frames its rings lost, and the latency histogram when it timed frames.

use std::path::Path;

use hdrhistogram::Histogram;

use super::{Counter, Exited, PeerError, PeerSpec, Process, RunningPeer};
use crate::e2e::serve::{ServeOutcome, decode};

const READY: &str = "ready";

/// How `vmknet-bench serve` runs a subject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServeArgs<'a> {
    /// The subject's command-line name (`engine-poll`, …).
    pub subject: &'a str,
    /// Time stamped frames.
    pub latency: bool,
    /// The kernel subject's UDP port.
    pub udp_port: u16,
}

/// Starts `bench serve` for `args` on `spec`'s interface; returns once it receives.
///
/// # Errors
/// [`PeerError::Spawn`]; [`PeerError::Failed`] when it exits (its error quoted) or is not ready in time.
pub fn start_served(spec: &PeerSpec<'_>, bench: &Path, args: &ServeArgs<'_>) -> Result<RunningPeer, PeerError> {
    let mut argv: Vec<String> = ["serve", "--subject", args.subject, "--iface", spec.interface]
        .map(String::from)
        .to_vec();
    argv.extend(["--cpu".to_owned(), spec.cpu.to_string()]);
    argv.extend(["--udp-port".to_owned(), args.udp_port.to_string()]);
    if args.latency {
        argv.push("--latency".to_owned());
    }
    let process = Process::spawn(spec, bench, &argv, &[])?.wait_for(READY)?;
    Ok(RunningPeer {
        process: Some(process),
        counter: Counter::Served,
        netns: spec.netns.to_owned(),
        interface: spec.interface.to_owned(),
    })
}

/// What a served subject counted, its histogram decoded.
pub(super) struct Counted {
    pub(super) frames: u64,
    pub(super) lost: u64,
    pub(super) latency: Option<Histogram<u64>>,
}

/// The outcome line of an exited `serve`.
pub(super) fn outcome(exit: &Exited) -> Result<Counted, PeerError> {
    let outcome: ServeOutcome = exit
        .stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .ok_or_else(|| exit.failed("no outcome line"))?;
    let latency = outcome
        .latency
        .as_deref()
        .map(decode)
        .transpose()
        .map_err(|why| exit.failed(why))?;
    Ok(Counted {
        frames: outcome.frames,
        lost: outcome.lost,
        latency,
    })
}
