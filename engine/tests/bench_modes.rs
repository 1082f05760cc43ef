//! The engine's modes for the end-to-end benchmark, on a one-queue veth pair.
//!
//! A network namespace holds the peer end of a veth whose host end the engine (or the classifier alone)
//! serves; a thread in the namespace sends a bounded set of vSAN frames (UDP to vmk8 of the embedded default
//! host, VLAN 80, port 12321) with AF_PACKET, in small paced chunks so the rx ring never overflows, stamping
//! each chunk with `CLOCK_MONOTONIC` just before sending it.
//!
//! - Processing off: every frame is counted as received (frames and bytes), none is judged, the UMEM books
//!   balance, and the latency probe times every stamped frame.
//! - The latency probe with the pipeline: exactly the delivered stamped frames are timed (not the unstamped
//!   ones, nor the stamped ones the pipeline drops), with plausible values.
//! - Ceiling mode of the classifier: every steered frame is discarded in XDP and counted `Discarded`, none
//!   redirected, while frames for no vmk still pass to Linux; dropping the [`Ceiling`] detaches it.
//!
//! No timing is asserted beyond loose sanity bounds. Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW); without
//! it each test prints why it skips and passes.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use hdrhistogram::Histogram;
use vmknet::model::HostModel;
use vmknet::pipeline::{Pipeline, Verdict};
use vmknet::runtime::{CpuList, Engine, EngineConfig, Processing, RunSummary, monotonic_ns};
use vmknet::xdp::{AttachMode, Ceiling};
use vmknet_common::XdpVerdict;
use vmknet_common::stamp::{STAMP_LEN, payload_offset, stamp_bytes};
use vmknet_testbed::Topology;
use vmknet_testbed::sender::send_frames;

/// The UMEM of a one-queue engine with default sizes.
mod support;

const UMEM_BYTES: u64 = 4096 * 4096;
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x78];
const STRANGER_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 2];
/// The vSAN port.
const VSAN_PORT: u16 = 12321;
/// Frames sent per chunk, and the pause after each: far below what fills the 2048-slot rx ring.
const CHUNK: usize = 100;
const PAUSE: Duration = Duration::from_millis(2);

/// A frame to send, and whether it is stamped when sent.
#[derive(Clone)]
struct Frame {
    bytes: Vec<u8>,
    stamped: bool,
}

/// Where a test frame goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum To {
    /// vmk8: steered and delivered.
    Vmk8,
    /// vmk8's MAC but an address its netstack does not have: steered, then dropped by the pipeline.
    NotLocal,
    /// A MAC that is no vmk's: passed to Linux by the classifier.
    Stranger,
}

/// A vSAN datagram (UDP to port 12321) from a peer in vmk8's subnet on VLAN 80, with 64 bytes of payload that
/// has room for a stamp.
fn vsan(model: &HostModel, to: To, stamped: bool) -> Frame {
    let vmk = model.vmk_by_name("vmk8").expect("vmk8 of the default host");
    let ip = vmk.ipv4_cidr().expect("static IPv4").addr;
    let src = Ipv4Addr::from(u32::from(ip) + 40);
    let dst = if to == To::NotLocal {
        Ipv4Addr::from(u32::from(ip) + 41)
    } else {
        ip
    };
    let dst_mac = if to == To::Stranger { STRANGER_MAC } else { vmk.mac.0 };
    let builder = PacketBuilder::ethernet2(PEER_MAC, dst_mac)
        .single_vlan(vmk.vlan.try_into().expect("VLAN id"))
        .ipv4(src.octets(), dst.octets(), 64)
        .udp(40_000, VSAN_PORT);
    let mut bytes = Vec::new();
    builder.write(&mut bytes, &[0u8; 64]).expect("build the frame");
    Frame { bytes, stamped }
}

/// Sends `frames` from the peer in paced chunks, stamping the stamped ones of each chunk with the clock just
/// before the chunk goes out; waits until they are sent.
fn send(topology: &Topology, mut frames: Vec<Frame>) {
    let peer = topology.peer.clone();
    let sent = topology
        .spawn_in_netns("bench-modes-send", move || {
            vmknet::runtime::pin_thread(0, CpuList::allowed().for_worker(0))?;
            let mut sent = 0;
            for chunk in frames.chunks_mut(CHUNK) {
                let now = monotonic_ns();
                for frame in chunk.iter_mut().filter(|f| f.stamped) {
                    let at = payload_offset(frame.bytes.as_slice()).expect("a UDP frame");
                    frame.bytes[at..at + STAMP_LEN].copy_from_slice(&stamp_bytes(now));
                }
                let bytes: Vec<Vec<u8>> = chunk.iter().map(|f| f.bytes.clone()).collect();
                sent += send_frames(&peer, &bytes)?;
                std::thread::sleep(PAUSE);
            }
            Ok(sent)
        })
        .join()
        .expect("sender thread")
        .expect("send from the peer");
    println!("sent {sent} frames from {}", topology.peer);
}

/// Runs the engine with `processing` and the latency probe on over `frames`, of which `steered` are for vmks;
/// returns the summary of the run.
fn run_engine(tag: &str, processing: Processing, frames: Vec<Frame>, steered: u64) -> RunSummary {
    let topology = Topology::create(tag, 1).expect("create the veth pair");
    let model = Arc::new(HostModel::embedded_default());
    let config = EngineConfig {
        queues: Some(1),
        cpus: Some(CpuList::allowed().for_worker(0).to_string().parse().expect("CPU list")),
        attach: AttachMode::Native,
        processing,
        latency: true,
        ..EngineConfig::new(topology.host.clone())
    };
    let engine = Engine::start(model, &config).expect("start the engine");
    send(&topology, frames);
    let deadline = Instant::now() + Duration::from_secs(5);
    while engine.live().iter().map(|n| n.rx).sum::<u64>() < steered && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let summary = engine.finish().expect("stop the engine");
    assert!(!topology.has_xdp_program(), "program detached when the engine stops");
    println!(
        "processing {}: rx {}, lost {}, UMEM {:?}, XDP {:?}",
        summary.processing,
        summary.socket_rx(),
        summary.socket_lost(),
        summary.umem(),
        summary.xdp.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>()
    );
    assert_eq!(summary.processing, processing);
    assert_eq!(summary.socket_lost(), 0, "nothing lost in the kernel");
    assert_eq!(summary.socket_rx(), steered, "every steered frame received");
    assert_eq!(summary.xdp.get(XdpVerdict::Redirected), steered);
    let umem = summary.umem();
    assert_eq!(umem.received, steered, "one buffer per frame");
    assert_eq!(umem.leaked(), 0, "every buffer went back");
    assert_eq!(umem.held, 0);
    summary
}

/// Loose sanity bounds on measured latencies: more than nothing, less than a second.
fn assert_plausible(latency: &Histogram<u64>) {
    println!(
        "latency (ns): n {}, min {}, p50 {}, p99 {}, max {}",
        latency.len(),
        latency.min(),
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99),
        latency.max()
    );
    assert!(latency.value_at_quantile(0.5) > 0);
    assert!(latency.max() < 1_000_000_000, "under a second");
}

#[test]
fn processing_off_counts_every_frame_received_and_balances_the_umem() {
    if !support::privileged(
        "processing_off_counts_every_frame_received_and_balances_the_umem",
        UMEM_BYTES,
    ) {
        return;
    }
    let model = HostModel::embedded_default();
    // 2000 vSAN frames, three in four stamped.
    let frames: Vec<Frame> = (0..2000).map(|i| vsan(&model, To::Vmk8, i % 4 != 0)).collect();
    let bytes: u64 = frames.iter().map(|f| f.bytes.len() as u64).sum();
    let summary = run_engine("mo0", Processing::Off, frames, 2000);
    let live = summary.queues[0].netstacks.iter().fold((0, 0, 0), |acc, n| {
        (
            acc.0 + n.rx_bytes,
            acc.1 + n.delivered + n.dropped + n.replied,
            acc.2 + n.tx_dropped,
        )
    });
    assert_eq!(live, (bytes, 0, 0), "bytes counted, no verdict, nothing sent");
    assert_eq!(summary.report.frames_in, 0, "no frame judged");
    assert_eq!(summary.report.totals.total(), 0, "no verdict");
    assert!(summary.workers.iter().all(|w| w.frames == 0));
    let latency = summary.latency.expect("the probe was on");
    assert_eq!(latency.len(), 1500, "every stamped frame timed");
    assert_plausible(&latency);
}

#[test]
fn latency_probe_times_exactly_the_delivered_stamped_frames() {
    if !support::privileged("latency_probe_times_exactly_the_delivered_stamped_frames", UMEM_BYTES) {
        return;
    }
    let model = HostModel::embedded_default();
    let mut frames = Vec::new();
    for i in 0..300 {
        frames.push(vsan(&model, To::Vmk8, true));
        frames.push(vsan(&model, To::NotLocal, true)); // dropped, so not timed
        if i % 3 == 0 {
            frames.push(vsan(&model, To::Vmk8, false));
        }
    }
    let mut reference = Pipeline::new(Arc::new(model));
    let delivered =
        |f: &Frame, reference: &mut Pipeline| matches!(reference.process(&f.bytes, 0).verdict, Verdict::Delivered(_));
    let timed = frames
        .iter()
        .filter(|f| f.stamped && delivered(f, &mut reference))
        .count() as u64;
    let stamped_not_delivered = frames
        .iter()
        .filter(|f| f.stamped && !delivered(f, &mut reference))
        .count();
    assert_eq!(timed, 300, "the reference pipeline delivers the vSAN frames");
    assert_eq!(stamped_not_delivered, 300, "and not those to another address");
    let n = frames.len() as u64;
    let summary = run_engine("ml0", Processing::Pipeline, frames, n);
    assert_eq!(summary.report.frames_in, n);
    assert_eq!(summary.report.totals.delivered, 400);
    assert_eq!(summary.report.totals.dropped, 300);
    let latency = summary.latency.expect("the probe was on");
    assert_eq!(latency.len(), timed, "the delivered stamped frames, each once");
    assert_plausible(&latency);
}

#[test]
fn ceiling_mode_discards_every_steered_frame_and_passes_the_rest() {
    if !support::privileged(
        "ceiling_mode_discards_every_steered_frame_and_passes_the_rest",
        UMEM_BYTES,
    ) {
        return;
    }
    let model = HostModel::embedded_default();
    let topology = Topology::create("mc0", 1).expect("create the veth pair");
    let ceiling = Ceiling::attach(&model, &topology.host, AttachMode::Native).expect("attach in ceiling mode");
    assert_eq!(ceiling.mode(), AttachMode::Native);
    assert!(topology.has_xdp_program());
    let mut frames: Vec<Frame> = (0..500).map(|_| vsan(&model, To::Vmk8, true)).collect();
    frames.extend((0..50).map(|_| vsan(&model, To::Stranger, false)));
    send(&topology, frames);
    let deadline = Instant::now() + Duration::from_secs(5);
    let counters = loop {
        let counters = ceiling.counters().expect("counters");
        if counters.frames() >= 550 || Instant::now() > deadline {
            break counters;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!(
        "ceiling: {:?}",
        counters.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>()
    );
    assert_eq!(
        counters.get(XdpVerdict::Discarded),
        500,
        "every steered frame discarded"
    );
    assert_eq!(counters.get(XdpVerdict::Redirected), 0);
    assert_eq!(counters.get(XdpVerdict::PassedNoSocket), 0);
    // Linux may send a frame of its own; it can only be "not ours".
    assert!(
        counters.get(XdpVerdict::PassedNotOurs) >= 50,
        "frames for no vmk still pass"
    );
    assert_eq!(
        counters.frames() - counters.get(XdpVerdict::PassedNotOurs),
        500,
        "no other verdict"
    );
    drop(ceiling);
    assert!(!topology.has_xdp_program(), "detached on drop");
}
