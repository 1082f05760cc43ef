//! The end-to-end benchmark's comparison peers on a veth pair (root): each peer runs in the testbed namespace
//! on the peer end (one queue), the generator sends a bounded burst of live frames from the host end, and the
//! peer must count exactly the frames sent. The pair's MTU is 1500 (the peers' XDP programs are single-buffer),
//! IPv6 is off on both ends, so nothing else crosses the pair; the
//! burst is rate-limited to bursts of 500 frames, which the peer's 2 048-entry AF_XDP ring always holds.
//!
//! Without the privileges, or without the peer's binaries (CI's `scripts/test.sh` does not run
//! `scripts/install-bench-deps.sh`), each test says why it skips, and passes.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vmknet::runtime::{CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, Capability, missing_capabilities};
use vmknet_bench::e2e::peers::{
    PeerCount, PeerError, PeerSpec, RunningPeer, dpdk_available, start_dpdk, start_xdp_bench_drop, xdp_bench_available,
};
use vmknet_bench::pktgen::{Generator, IpRange, LiveTx, Method, Pace, PortRange, UdpFlows, ifindex, run};
use vmknet_testbed::Topology;
use vmknet_testbed::topology::run_command;

const CAPS: [Capability; 3] = [CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF];
const FRAMES: u64 = 50_000;
/// Frames per second: 500 per millisecond round.
const RATE: u64 = 500_000;
/// Time for the peer to take the last frames off its ring before it is stopped.
const DRAIN: Duration = Duration::from_millis(300);

/// Why the test cannot run here, if it cannot.
fn skip_reason(available: fn() -> Result<(), String>) -> Option<String> {
    let missing = missing_capabilities(&CAPS);
    if !missing.is_empty() {
        return Some(format!("missing {}", missing.join(", ")));
    }
    available().err()
}

/// Starts a peer on a fresh pair, sends [`FRAMES`] to it and returns what it counted.
fn count_a_burst(prefix: &str, start: fn(&PeerSpec<'_>) -> Result<RunningPeer, PeerError>) -> PeerCount {
    let topology = Topology::create(prefix, 1).expect("topology");
    std::fs::write(format!("/proc/sys/net/ipv6/conf/{}/disable_ipv6", topology.host), "1")
        .expect("IPv6 off on the host end");
    // The peers attach single-buffer XDP programs, which veth refuses while its peer's MTU is jumbo.
    for args in [
        ["link", "set", &topology.host, "mtu", "1500"].as_slice(),
        &["-n", &topology.netns, "link", "set", &topology.peer, "mtu", "1500"],
    ] {
        run_command("ip", args).expect("MTU 1500");
    }
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    let spec = PeerSpec {
        netns: &topology.netns,
        interface: &topology.peer,
        cpu: cpus.min(2) - 1,
    };
    let peer = start(&spec).unwrap_or_else(|err| panic!("starting the peer: {err}"));
    let flows = UdpFlows {
        size: 64,
        vlan: None,
        src_mac: [0x02, 0, 0, 0, 0, 1],
        dst_mac: [0x02, 0, 0, 0, 0, 2],
        src_ip: IpRange {
            first: "10.0.0.1".parse().expect("address"),
            count: 1,
        },
        dst_ip: IpRange {
            first: "10.0.0.2".parse().expect("address"),
            count: 1,
        },
        src_port: PortRange { first: 9, count: 1 },
        dst_port: PortRange { first: 9, count: 16 },
        timestamp: true,
    };
    let generator = Generator::flows(&flows, ifindex(&topology.host).expect("host end")).expect("generator");
    let pace = Pace {
        count: FRAMES,
        duration: Some(Duration::from_secs(10)),
        rate: RATE,
        cpus: vec![0],
    };
    let report = run(Method::XdpLive, &pace, &AtomicBool::new(false), |_| {
        LiveTx::new(&generator, 64)
    })
    .expect("send");
    assert_eq!(report.offered, FRAMES);
    std::thread::sleep(DRAIN);
    let count = peer.stop().unwrap_or_else(|err| panic!("stopping the peer: {err}"));
    println!(
        "{prefix}: sent {FRAMES} at {:.3} Mpps, the peer counted {} (ring drops {:?}), peak RSS {:?} KiB",
        report.pps() / 1e6,
        count.frames,
        count.ring_drops,
        count.peak_rss_kib
    );
    assert!(count.peak_rss_kib.is_some_and(|kib| kib > 0), "wait4 gave the peak RSS");
    count
}

#[test]
fn dpdk_testpmd_counts_every_frame_sent() {
    if let Some(why) = skip_reason(dpdk_available) {
        println!("skipping dpdk_testpmd_counts_every_frame_sent: {why}");
        return;
    }
    let count = count_a_burst("pdk", start_dpdk);
    // testpmd polls from a CPU shared with whatever else the machine runs: when it is off the CPU for longer
    // than its ring lasts, the socket drops frames, which testpmd reports. Every frame is accounted for
    // exactly, and most are received.
    let drops = count.ring_drops.expect("testpmd reports its socket's drops");
    assert_eq!(count.frames + drops, FRAMES, "{count:?}");
    assert!(count.frames >= FRAMES / 2, "{count:?}");
}

#[test]
fn xdp_bench_drop_counts_every_frame_sent() {
    if let Some(why) = skip_reason(xdp_bench_available) {
        println!("skipping xdp_bench_drop_counts_every_frame_sent: {why}");
        return;
    }
    let count = count_a_burst("pxb", start_xdp_bench_drop);
    assert_eq!((count.frames, count.ring_drops), (FRAMES, None));
}
