//! Naming and starting a subject, whichever it is: vmknet's own run as `vmknet-bench serve` children
//! ([`super::serve`]), the external peers (`xdp-bench`, DPDK's testpmd); all through [`super::peers`].

use std::path::PathBuf;

use super::model::{Idle, Subject};
use super::peers::served::ServeArgs;
use super::peers::{PeerSpec, RunningPeer, start_dpdk, start_served, start_xdp_bench_drop};

/// Every subject, by the name the command line uses.
pub const SUBJECTS: [(&str, Subject); 8] = [
    ("classifier-drop", Subject::ClassifierDrop),
    ("xdp-bench-drop", Subject::XdpBenchDrop),
    ("bare-poll", Subject::BareAfXdp(Idle::Poll)),
    ("bare-busy", Subject::BareAfXdp(Idle::Busy)),
    ("engine-poll", Subject::Engine(Idle::Poll)),
    ("engine-busy", Subject::Engine(Idle::Busy)),
    ("dpdk", Subject::DpdkAfXdp),
    ("kernel-udp", Subject::KernelUdp),
];

/// The subject named `name` on the command line.
///
/// # Errors
/// An unknown name, listing the known ones.
pub fn parse_subject(name: &str) -> Result<Subject, String> {
    SUBJECTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            let names: Vec<&str> = SUBJECTS.iter().map(|(n, _)| *n).collect();
            format!("unknown subject `{name}`: use one of {}", names.join(", "))
        })
}

/// The command-line name of `subject`.
pub fn subject_name(subject: Subject) -> &'static str {
    SUBJECTS.iter().find(|(_, s)| *s == subject).map_or("?", |(n, _)| n)
}

/// Where subjects run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectContext {
    /// `vmknet-bench`, whose `serve` runs vmknet's own subjects.
    pub bench: PathBuf,
    /// The subjects' network namespace.
    pub netns: String,
    /// The receiving interface, inside it.
    pub interface: String,
    /// The subject's core.
    pub cpu: usize,
    /// The kernel subject's UDP port.
    pub udp_port: u16,
}

/// Whether `subject` can run here.
///
/// # Errors
/// Why not: the external peer's program or driver is missing.
pub fn available(subject: Subject) -> Result<(), String> {
    match subject {
        Subject::XdpBenchDrop => super::peers::xdp_bench_available(),
        Subject::DpdkAfXdp => super::peers::dpdk_available(),
        _ => Ok(()),
    }
}

/// Starts `subject` on the context's interface and core; returns once it receives. Stop it with
/// [`RunningPeer::stop`].
///
/// # Errors
/// It could not be started, exited, or did not say it receives in time (its output quoted).
pub fn start(subject: Subject, context: &SubjectContext, latency: bool) -> Result<RunningPeer, String> {
    let spec = PeerSpec {
        netns: &context.netns,
        interface: &context.interface,
        cpu: context.cpu,
    };
    match subject {
        Subject::XdpBenchDrop => start_xdp_bench_drop(&spec),
        Subject::DpdkAfXdp => start_dpdk(&spec),
        _ => start_served(
            &spec,
            &context.bench,
            &ServeArgs {
                subject: subject_name(subject),
                latency,
                udp_port: context.udp_port,
            },
        ),
    }
    .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subject_has_one_name_that_parses_back() {
        for (name, subject) in SUBJECTS {
            assert_eq!(parse_subject(name), Ok(subject));
            assert_eq!(subject_name(subject), name);
        }
        let err = parse_subject("ovs").unwrap_err();
        assert!(err.contains("ovs") && err.contains("engine-poll"), "{err}");
    }
}
