//! DPDK's AF_XDP poll-mode driver under testpmd, receiving only (`--forward-mode=rxonly`).
//!
//! The command, without hugepages (none are reserved on the benchmark's machines):
//!
//! ```text
//! dpdk-testpmd --lcores 0@CPU,1@CPU --no-pci --no-huge --no-shconf --no-telemetry -m 256 --file-prefix P
//!     --vdev net_af_xdp0,iface=IF,start_queue=0,queue_count=1
//!     -- --forward-mode=rxonly --nb-cores=1 --auto-start --stats-period=3600 --total-num-mbufs=16384
//! ```
//!
//! - testpmd needs two lcores (its main one and one forwarding): both are mapped onto the peer's CPU; the
//!   main lcore only sleeps.
//! - `--no-huge` makes EAL take `-m` MiB of ordinary memory and touch all of it at start (about a second for
//!   256 MiB; the peer's RSS shows it). testpmd's default mbuf pool (155 456 mbufs of 2 176 bytes, 338 MiB)
//!   does not fit, so the pool is set to 16 384 mbufs (36 MiB), plenty for one queue of 2 048 descriptors. With
//!   `--no-huge`, EAL refuses `--in-memory`; `--no-shconf` keeps it from writing shared-config files and the
//!   unique `--file-prefix` keeps concurrent peers apart.
//! - The driver loads its own XDP program on the interface (libxdp's, without a dispatcher when bpffs is not
//!   mounted), which on veth is also what lets a live-frame generator redirect into the peer.
//! - `--stats-period` keeps testpmd running without a terminal (without it, non-interactive testpmd waits for
//!   a line on standard input and exits at once on `/dev/null`); a long period keeps its output short.
//!
//! Ready: testpmd prints `forwards packets on` once the port is started and the forwarding lcore is polling.
//! Count: on SIGINT testpmd stops forwarding and prints its statistics; the frames received are the
//! `RX-packets` of the `Accumulated forward statistics for all ports` block (frames the driver took from the
//! AF_XDP rx ring); its `RX-dropped` (the socket's drops: frames that found the ring or fill ring empty of
//! room) is [`PeerCount::ring_drops`](super::PeerCount::ring_drops).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Counter, Exited, PeerError, PeerSpec, Process, RunningPeer, find_program};

const TESTPMD: &str = "dpdk-testpmd";
/// The AF_XDP driver, a plugin testpmd loads from DPDK's driver directory.
const AF_XDP_PMD: &str = "librte_net_af_xdp.so";
const READY: &str = "forwards packets on";
const SUMMARY: &str = "Accumulated forward statistics for all ports";
const MEMORY_MIB: u32 = 256;
const MBUFS: u32 = 16_384;
/// Where EAL makes a (here empty) directory per file prefix, even with `--no-shconf`; removed on exit.
const RUNTIME_DIR: &str = "/var/run/dpdk";

/// Whether testpmd and its AF_XDP driver are installed.
///
/// # Errors
/// What is missing, and which Debian package has it.
pub fn dpdk_available() -> Result<(), String> {
    testpmd()?;
    if af_xdp_pmd().is_none() {
        return Err(format!(
            "DPDK's AF_XDP driver ({AF_XDP_PMD}) is not in a DPDK driver directory \
             (/usr/lib/*/dpdk/pmds-*; Debian package librte-net-af-xdp23, scripts/install-bench-deps.sh)"
        ));
    }
    Ok(())
}

/// Starts testpmd receiving on `spec`'s interface; returns once it polls the queue.
///
/// # Errors
/// [`PeerError::Unavailable`] as [`dpdk_available`] says; [`PeerError::Spawn`]; [`PeerError::Failed`] when
/// testpmd exits or is not ready within 30 s.
pub fn start_dpdk(spec: &PeerSpec<'_>) -> Result<RunningPeer, PeerError> {
    dpdk_available().map_err(PeerError::Unavailable)?;
    let program = testpmd().map_err(PeerError::Unavailable)?;
    let prefix = file_prefix();
    let process = Process::spawn(spec, &program, &testpmd_args(spec, &prefix), &[])?
        .leaving(Path::new(RUNTIME_DIR).join(&prefix))
        .wait_for(READY)?;
    Ok(RunningPeer {
        process: Some(process),
        counter: Counter::Testpmd,
        netns: spec.netns.to_owned(),
        interface: spec.interface.to_owned(),
    })
}

fn testpmd() -> Result<PathBuf, String> {
    find_program(TESTPMD)
        .ok_or_else(|| format!("{TESTPMD} not found (Debian package dpdk-dev, scripts/install-bench-deps.sh)"))
}

/// A `--file-prefix` no other peer uses: the process id and a counter.
fn file_prefix() -> String {
    static INSTANCE: AtomicU32 = AtomicU32::new(0);
    format!(
        "vmknet-{}-{}",
        std::process::id(),
        INSTANCE.fetch_add(1, Ordering::Relaxed)
    )
}

fn testpmd_args(spec: &PeerSpec<'_>, prefix: &str) -> Vec<String> {
    let cpu = spec.cpu;
    let vdev = format!("net_af_xdp0,iface={},start_queue=0,queue_count=1", spec.interface);
    [
        "--lcores",
        &format!("0@{cpu},1@{cpu}"),
        "--no-pci",
        "--no-huge",
        "--no-shconf",
        "--no-telemetry",
        "-m",
        &MEMORY_MIB.to_string(),
        "--file-prefix",
        prefix,
        "--vdev",
        &vdev,
        "--",
        "--forward-mode=rxonly",
        "--nb-cores=1",
        "--auto-start",
        "--stats-period=3600",
        &format!("--total-num-mbufs={MBUFS}"),
    ]
    .map(String::from)
    .to_vec()
}

/// The `RX-packets` and `RX-dropped` of testpmd's accumulated statistics.
pub(super) fn received(exit: &Exited) -> Result<(u64, u64), PeerError> {
    parse_received(&exit.stdout)
        .ok_or_else(|| exit.failed(format!("no `RX-packets` and `RX-dropped` after `{SUMMARY}`")))
}

fn parse_received(stdout: &str) -> Option<(u64, u64)> {
    let (_, summary) = stdout.split_once(SUMMARY)?;
    let field = |name: &str| -> Option<u64> {
        let (_, after) = summary.split_once(name)?;
        after.split_whitespace().next()?.parse().ok()
    };
    Some((field("RX-packets:")?, field("RX-dropped:")?))
}

/// The AF_XDP driver in a DPDK driver directory (`/usr/lib[/<multiarch>]/dpdk/pmds-<abi>/`).
fn af_xdp_pmd() -> Option<PathBuf> {
    let lib_dirs = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with("-linux-gnu"))
        .chain(["/usr/lib", "/usr/lib64", "/usr/local/lib"].map(PathBuf::from));
    lib_dirs
        .flat_map(|lib| std::fs::read_dir(lib.join("dpdk")).into_iter().flatten().flatten())
        .flat_map(|pmds| std::fs::read_dir(pmds.path()).into_iter().flatten().flatten())
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with(AF_XDP_PMD))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accumulated_rx_count_is_read_not_the_per_port_one() {
        let out = "  ---------------------- Forward statistics for port 0  ----------------------\n\
                   RX-packets: 7         RX-dropped: 0             RX-total: 7\n\
                   +++++++++++++++ Accumulated forward statistics for all ports+++++++++++++++\n\
                   RX-packets: 100000         RX-dropped: 3             RX-total: 100003\n\
                   TX-packets: 0              TX-dropped: 0             TX-total: 0\n";
        assert_eq!(parse_received(out), Some((100_000, 3)));
        assert_eq!(parse_received("Port statistics\n  RX-packets: 5\n"), None);
    }

    #[test]
    fn two_lcores_share_the_peer_cpu_and_prefixes_differ() {
        let spec = PeerSpec {
            netns: "ns",
            interface: "veth1",
            cpu: 3,
        };
        let args = testpmd_args(&spec, "p");
        assert_eq!(args[1], "0@3,1@3");
        assert!(args.contains(&"net_af_xdp0,iface=veth1,start_queue=0,queue_count=1".to_owned()));
        assert_ne!(file_prefix(), file_prefix(), "a unique --file-prefix each");
    }
}
