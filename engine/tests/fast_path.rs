//! The AF_XDP fast path end to end on a veth pair with two queues.
//!
//! A network namespace holds the peer end of a veth (MTU 9000 both ends) whose host end the engine serves
//! (classifier attached in native mode, one socket per (queue, netstack) on a shared UMEM per queue, a pinned
//! worker per queue). Two sender threads, pinned to different CPUs and steered to different tx queues by XPS,
//! send a bounded set of frames from the peer with AF_PACKET, a different number each: iSCSI replies to vmk2
//! (small, and 8000-byte jumbo frames), vMotion to vmk1 (small, 3 KB, and 9018-byte jumbo frames: the
//! largest a 9000-MTU vmk takes, 802.1Q tag included), management to vmk0, vMotion to vmk0 (which the
//! isolation policy drops), and frames to a MAC that is no vmk's. Frames longer than one UMEM buffer (4 KiB
//! less the XDP headroom) arrive as multi-buffer chains. On veth the rx queue is the sender's tx queue, so
//! each worker sees one sender's frames. The test then checks the whole accounting: the workers' counters
//! (bytes included: a jumbo frame counts its full length) equal those of a userspace pipeline run over the
//! same frames, each queue received exactly its sender's frames and bytes in exactly the buffers they need,
//! the kernel lost none, the program's redirected count equals what the sockets received, the other frames
//! went to Linux, the program saw every frame sent, and every UMEM buffer taken from the kernel went back. It runs
//! three times: with workers sleeping in `poll()`, with workers spinning (`--busy-poll`), and with the vmotion
//! netstack on a worker of its own (which must judge exactly the vMotion frames of both queues), and checks that the workers allocate
//! nothing while they serve traffic (a global allocator counts allocations made on their threads).
//!
//! A second scenario answers from the engine: the switch side's own Linux stack pings an untagged vmk over
//! IPv4 and IPv6 (small and `-M do -s 8972` jumbo echoes): the kernel there resolves the vmk's address with ARP
//! and neighbour discovery, and the engine answers both and every echo on the tx ring of the socket the request
//! came in on (a jumbo reply as a three-buffer chain). It runs twice: with the queue's worker answering, and
//! with the vmk's netstack on a worker of its own (frames and completed replies return to the queue worker).
//!
//! The `vmknet run` command itself is tested in the `vmknet-cli` package (`engine/cli/tests/run.rs`).
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW); without it each test prints why it skips and passes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use vmknet::model::HostModel;
use vmknet::netstack::{PingOptions, PingSession};
use vmknet::pipeline::{Pipeline, Service, Verdict};
use vmknet::runtime::{CpuList, Engine, EngineConfig, Fate, LocalPort, NetstackCpu, vlan_offload};
use vmknet::stats::Report;
use vmknet::xdp::AttachMode;
use vmknet_common::XdpVerdict;
use vmknet_testbed::UNTAGGED_VMK;
use vmknet_testbed::sender::send_from_peer;
use vmknet_testbed::topology::run_command;
use vmknet_testbed::{Topology, ping::ping, testbed_host_toml};

/// The UMEMs of a two-queue engine with default sizes.
mod support;

const UMEM_BYTES: u64 = 2 * 4096 * 4096;
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x77];
const STRANGER_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
/// Frames of each kind sent by sender 0 and by sender 1.
const PER_KIND: [usize; 2] = [40, 25];
/// Payload of the large vMotion frames, which still fit a UMEM buffer.
const LARGE: usize = 3000;
/// Ethernet, 802.1Q, IPv4 and TCP headers of the test frames.
const HEADERS: usize = 14 + 4 + 20 + 20;
/// Payload of the jumbo vMotion frames: 9000 bytes of IP, a 9018-byte frame in three buffers.
const JUMBO_VMOTION: usize = 9000 - 40;
/// Payload of the jumbo iSCSI frames: 8000-byte frames in three buffers.
const JUMBO_ISCSI: usize = 8000 - HEADERS;
/// Packet bytes one UMEM buffer holds.
const BUFFER_LEN: usize = vmknet::io::xsk::BUFFER_LEN as usize;

// ----- allocations on the workers' threads -----

/// Thread ids (gettid) of the workers being watched; 0 is a free slot.
static WATCHED: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];
/// Allocations made on watched threads.
static WORKER_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's id, read once (0 until then).
    static TID: Cell<i32> = const { Cell::new(0) };
}

fn count_if_watched() {
    let tid = TID.with(|tid| {
        if tid.get() == 0 {
            // Safety: gettid(2) has no preconditions.
            tid.set(unsafe { libc::gettid() });
        }
        tid.get()
    });
    if WATCHED.iter().any(|w| w.load(Ordering::Relaxed) == tid) {
        WORKER_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

struct CountingAllocator;

// Safety: every call is forwarded unchanged to the system allocator; counting touches only a `const`
// thread-local and atomics, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_if_watched();
        // Safety: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_if_watched();
        // Safety: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Watches the engine's worker threads (named `vmknet-q<queue>`, or `vmknet-n<netstack>` for a netstack's own)
/// of this process; returns how many.
fn watch_workers() -> usize {
    let mut watched = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Ok(tid) = task.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if comm.starts_with("vmknet-q") || comm.starts_with("vmknet-n") {
            watched += 1;
            if WATCHED.iter().any(|w| w.load(Ordering::Relaxed) == tid) {
                // Another test of this process watches it already.
                continue;
            }
            let slot = WATCHED
                .iter()
                .find(|w| w.compare_exchange(0, tid, Ordering::Relaxed, Ordering::Relaxed).is_ok());
            assert!(slot.is_some(), "more workers than watch slots");
        }
    }
    watched
}

/// A TCP segment with `len` bytes of payload from a peer in `vmk`'s subnet to `vmk` on its VLAN, or to
/// `dst_mac` instead of the vmk's MAC.
fn tcp_to(model: &HostModel, vmk: &str, dst_mac: Option<[u8; 6]>, ports: (u16, u16), seq: u32, len: usize) -> Vec<u8> {
    let v = model.vmk_by_name(vmk).expect("vmk of the default host");
    let dst = v.ipv4_cidr().expect("static IPv4").addr;
    let src = Ipv4Addr::from(u32::from(dst) + 10);
    let builder = PacketBuilder::ethernet2(PEER_MAC, dst_mac.unwrap_or(v.mac.0))
        .single_vlan(v.vlan.try_into().expect("VLAN id"))
        .ipv4(src.octets(), dst.octets(), 64)
        .tcp(ports.0, ports.1, seq, 65535);
    let mut frame = Vec::new();
    builder.write(&mut frame, &vec![0u8; len]).expect("build the frame");
    frame
}

/// What one sender sends.
struct Frames {
    /// To vmks.
    ours: Vec<Vec<u8>>,
    /// To no vmk.
    not_ours: Vec<Vec<u8>>,
}

impl Frames {
    fn new(model: &HostModel, sender: usize) -> Self {
        let mut frames = Self {
            ours: Vec::new(),
            not_ours: Vec::new(),
        };
        for i in 0..PER_KIND[sender] as u32 {
            let seq = (sender as u32) << 16 | i;
            frames.ours.extend([
                tcp_to(model, "vmk2", None, (3260, 50_000), seq, 32), // iSCSI reply
                tcp_to(model, "vmk2", None, (3260, 50_000), seq, JUMBO_ISCSI),
                tcp_to(model, "vmk1", None, (50_001, 8000), seq, 32), // vMotion
                tcp_to(model, "vmk1", None, (50_001, 8000), seq, LARGE),
                tcp_to(model, "vmk1", None, (50_001, 8000), seq, JUMBO_VMOTION),
                tcp_to(model, "vmk0", None, (50_002, 443), seq, 32), // management
                tcp_to(model, "vmk0", None, (50_003, 8000), seq, 32), // vMotion to the management vmk
            ]);
            let stranger = tcp_to(model, "vmk0", Some(STRANGER_MAC), (50_004, 443), seq, 32);
            frames.not_ours.push(stranger);
        }
        frames
    }

    fn all(&self) -> Vec<Vec<u8>> {
        [&self.ours, &self.not_ours].into_iter().flatten().cloned().collect()
    }

    fn len(&self) -> usize {
        self.ours.len() + self.not_ours.len()
    }
}

#[test]
fn fast_path_delivers_every_vmk_frame_and_passes_the_rest() {
    fast_path_scenario(
        "fast_path_delivers_every_vmk_frame_and_passes_the_rest",
        'e',
        false,
        false,
    );
}

#[test]
fn fast_path_busy_polling_delivers_every_vmk_frame_and_passes_the_rest() {
    fast_path_scenario(
        "fast_path_busy_polling_delivers_every_vmk_frame_and_passes_the_rest",
        'b',
        true,
        false,
    );
}

#[test]
fn fast_path_with_a_dedicated_vmotion_worker_delivers_every_vmk_frame() {
    fast_path_scenario(
        "fast_path_with_a_dedicated_vmotion_worker_delivers_every_vmk_frame",
        'd',
        false,
        true,
    );
}

/// The scenario of the module docs, with workers that sleep in `poll()` or spin; with `dedicated`, the
/// vmotion netstack has a worker of its own (on the second CPU), which serves its ring on both queues and
/// returns the frames to the queue workers.
fn fast_path_scenario(test: &str, tag: char, busy_poll: bool, dedicated: bool) {
    if !support::privileged(test, UMEM_BYTES) {
        return;
    }
    let allowed = CpuList::allowed();
    let cpus: Vec<usize> = (0..2).map(|i| allowed.for_worker(i)).collect();
    if cpus[0] == cpus[1] {
        println!("skipping {test}: needs two CPUs");
        return;
    }
    let topology = Topology::create(&format!("fp{tag}"), 2).expect("create the veth pair");
    let offload = vlan_offload(&topology.host).expect("ethtool");
    println!(
        "{}: driver {}, rx-vlan-offload {}",
        topology.host, offload.driver, offload.rx_vlan_offload
    );
    assert_eq!(offload.driver, "veth");
    assert!(
        offload.rx_vlan_offload && !offload.hides_tags(),
        "veth reports rxvlan on, which must not stop the engine"
    );

    let model = Arc::new(HostModel::embedded_default());
    let config = EngineConfig {
        queues: Some(2),
        cpus: Some(format!("{},{}", cpus[0], cpus[1]).parse().expect("CPU list")),
        attach: AttachMode::Native,
        busy_poll,
        netstack_cpus: if dedicated {
            vec![NetstackCpu {
                netstack: "vmotion".into(),
                cpu: cpus[1],
            }]
        } else {
            Vec::new()
        },
        ..EngineConfig::new(topology.host.clone())
    };
    let engine = Engine::start(Arc::clone(&model), &config).expect("start the engine");
    let vmotion = model
        .netstacks
        .iter()
        .position(|n| n.key.to_string() == "vmotion")
        .expect("the vmotion netstack");
    if dedicated {
        assert_eq!(engine.info().dedicated, [(vmotion, cpus[1])]);
    }
    assert_eq!(engine.info().attach, AttachMode::Native);
    assert!(topology.has_xdp_program(), "program attached");
    // The workers have allocated what they need before their loop; from here on they must not allocate.
    std::thread::sleep(Duration::from_millis(50));
    // Tests run in parallel in this process: the other tests' workers are watched too.
    assert!(watch_workers() >= 2 + usize::from(dedicated), "worker threads found");
    let allocations_before = WORKER_ALLOCATIONS.load(Ordering::Relaxed);

    let senders: Vec<Frames> = (0..2).map(|s| Frames::new(&model, s)).collect();
    let threads: Vec<_> = senders
        .iter()
        .zip(&cpus)
        .map(|(frames, &cpu)| send_from_peer(&topology, cpu, frames.all()))
        .collect();
    for thread in threads {
        thread.join().expect("sender thread").expect("send from the peer");
    }
    let n_ours: usize = senders.iter().map(|f| f.ours.len()).sum();
    let n_sent: usize = senders.iter().map(Frames::len).sum();

    let deadline = Instant::now() + Duration::from_secs(5);
    while engine.live().iter().map(|n| n.rx).sum::<u64>() < n_ours as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let allocations = WORKER_ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    assert_eq!(allocations, 0, "the workers allocated while serving traffic");
    let summary = engine.finish().expect("stop the engine");
    assert!(!topology.has_xdp_program(), "program detached when the engine stops");

    // What the userspace pipeline makes of the vmk frames is what the workers must have counted.
    let mut reference = Pipeline::new(Arc::clone(&model));
    let mut delivered = std::collections::BTreeMap::<(String, Service), u64>::new();
    for frame in senders.iter().flat_map(|f| &f.ours) {
        let outcome = reference.process(frame, 0);
        if let (Some(vmk), Verdict::Delivered(service)) = (outcome.vmk, outcome.verdict) {
            let name = model.vmks[vmk.index()].name.clone();
            *delivered.entry((name, service)).or_default() += 1;
        }
    }
    let per_kind = PER_KIND.iter().sum::<usize>() as u64;
    let want_delivered = [
        ("vmk2", Service::Iscsi, 2 * per_kind),
        ("vmk1", Service::Vmotion, 3 * per_kind),
        ("vmk0", Service::Management, per_kind),
    ];
    assert_eq!(
        delivered,
        want_delivered
            .iter()
            .map(|&(vmk, service, n)| ((vmk.to_owned(), service), n))
            .collect(),
        "the reference pipeline delivers what the test means to send"
    );
    let expected = Report::new(&model, reference.counters(), reference.fragment_stats());
    println!("{}", summary.report.to_text());
    assert!(summary.report.conservation_holds);
    assert_eq!(summary.report.frames_in, n_ours as u64, "frames the workers received");
    assert_eq!(summary.report.cells, expected.cells, "per vmk, service and verdict");
    assert_eq!(summary.report.totals.delivered, 6 * per_kind);
    assert_eq!(summary.report.totals.dropped, per_kind, "vMotion to the management vmk");

    // Who served what: with a dedicated worker, it judged exactly the vmotion netstack's frames (those to
    // vmk1) on both queues, and the queue workers everything else.
    let to_vmotion = 3 * per_kind;
    for worker in &summary.workers {
        println!("worker {worker:?}");
    }
    let frames_of = |prefix: &str| -> u64 {
        summary
            .workers
            .iter()
            .filter(|w| w.name.starts_with(prefix))
            .map(|w| w.frames)
            .sum()
    };
    if dedicated {
        let own: Vec<_> = summary
            .workers
            .iter()
            .filter(|w| w.name.starts_with("vmknet-n"))
            .collect();
        assert_eq!(own.len(), 1);
        assert_eq!(own[0].cpu, cpus[1]);
        assert_eq!(own[0].rings, [(0, vmotion), (1, vmotion)]);
        assert_eq!(own[0].frames, to_vmotion, "the vMotion frames, on the dedicated worker");
        assert_eq!(
            frames_of("vmknet-q"),
            n_ours as u64 - to_vmotion,
            "the others, on the queue workers"
        );
    } else {
        assert_eq!(frames_of("vmknet-q"), n_ours as u64);
    }

    // Queue locality: each queue received exactly its sender's vmk frames, whole, and lost none.
    for (queue, frames) in summary.queues.iter().zip(&senders) {
        println!(
            "queue {} on CPU {} ({} mode): rx {} {:?}, sockets {:?}, UMEM {:?}",
            queue.queue,
            queue.cpu,
            queue.data_path,
            queue.rx(),
            queue.netstacks,
            queue.sockets,
            queue.umem
        );
        assert_eq!(
            queue.rx(),
            frames.ours.len() as u64,
            "queue {} received its sender's frames",
            queue.queue
        );
        let bytes: u64 = queue.netstacks.iter().map(|n| n.rx_bytes).sum();
        let sent_bytes: usize = frames.ours.iter().map(Vec::len).sum();
        assert_eq!(bytes, sent_bytes as u64, "queue {}: every byte arrived", queue.queue);
        let buffers: usize = frames.ours.iter().map(|f| f.len().div_ceil(BUFFER_LEN)).sum();
        assert_eq!(
            queue.umem.received, buffers as u64,
            "queue {}: one buffer per 3840 bytes",
            queue.queue
        );
        assert_eq!(queue.umem.leaked(), 0, "queue {}: every buffer went back", queue.queue);
        assert_eq!(queue.umem.held, 0, "queue {}: no chain left unfinished", queue.queue);
        let lost: u64 = queue.sockets.iter().map(|s| s.lost()).sum();
        assert_eq!(lost, 0, "queue {}: nothing lost in the kernel", queue.queue);
    }

    // The kernel's side: everything redirected was received, the rest passed to Linux, every frame sent
    // counted once.
    let xdp = &summary.xdp;
    println!("XDP: {:?}", xdp.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>());
    assert_eq!(summary.socket_lost(), 0, "lost between the program and the rings");
    assert_eq!(xdp.get(XdpVerdict::Redirected), summary.socket_rx());
    assert_eq!(xdp.get(XdpVerdict::Redirected), n_ours as u64);
    let n_not_ours = n_sent - n_ours;
    assert_eq!(
        xdp.get(XdpVerdict::PassedNotOurs),
        n_not_ours as u64,
        "not ours, to Linux"
    );
    assert_eq!(xdp.frames(), n_sent as u64, "every frame sent is counted once");
}

#[test]
fn fast_path_answers_arp_nd_and_pings_from_the_switch_side() {
    answers_scenario("fast_path_answers_arp_nd_and_pings_from_the_switch_side", 'r', false);
}

#[test]
fn fast_path_answers_from_a_dedicated_netstack_worker() {
    answers_scenario("fast_path_answers_from_a_dedicated_netstack_worker", 's', true);
}

/// A veth pair with `queues` queues whose peer is a Linux host on the untagged vmk's subnets (10.100.100.50,
/// fd00:100::50 without DAD).
fn untagged_peer(prefix: &str, queues: u32) -> Topology {
    let topology = Topology::create(prefix, queues).expect("create the veth pair");
    let ns = topology.netns.as_str();
    let peer = topology.peer.as_str();
    let ipv6_on = format!("net.ipv6.conf.{peer}.disable_ipv6=0");
    run_command("ip", &["netns", "exec", ns, "sysctl", "-qw", &ipv6_on]).expect("IPv6 on the peer");
    run_command("ip", &["-n", ns, "addr", "add", "10.100.100.50/24", "dev", peer]).expect("IPv4 address");
    run_command(
        "ip",
        &["-n", ns, "addr", "add", "fd00:100::50/64", "dev", peer, "nodad"],
    )
    .expect("IPv6 address");
    topology
}

/// The answering scenario of the module docs; with `dedicated`, the vmk's netstack (the default stack) has a
/// worker of its own, whose frames and completed replies go back through the queue worker's fill ring.
fn answers_scenario(test: &str, tag: char, dedicated: bool) {
    if !support::privileged(test, UMEM_BYTES) {
        return;
    }
    let toml = format!("{}{UNTAGGED_VMK}", testbed_host_toml());
    let model = Arc::new(HostModel::from_toml("<test host>", &toml).expect("the test host"));
    let topology = untagged_peer(&format!("fp{tag}"), 1);
    let (ns, peer) = (topology.netns.as_str(), topology.peer.as_str());
    let dedicated_cpu = CpuList::allowed().for_worker(1);
    let config = EngineConfig {
        queues: Some(1),
        attach: AttachMode::Native,
        netstack_cpus: if dedicated {
            vec![NetstackCpu {
                netstack: "defaultTcpipStack".into(),
                cpu: dedicated_cpu,
            }]
        } else {
            Vec::new()
        },
        ..EngineConfig::new(topology.host.clone())
    };
    let engine = Engine::start(Arc::clone(&model), &config).expect("start the engine");
    std::thread::sleep(Duration::from_millis(50));
    assert!(watch_workers() > usize::from(dedicated), "worker threads found");
    let allocations_before = WORKER_ALLOCATIONS.load(Ordering::Relaxed);

    // (destination, payload, don't fragment): ping, then ping -M do -s 8972 (a 9000-byte IP packet).
    let pings: [(&str, usize, bool); 4] = [
        ("10.100.100.11", 56, false),
        ("10.100.100.11", 8972, true),
        ("fd00:100::11", 56, false),
        ("fd00:100::11", 8952, false),
    ];
    let answered = topology
        .spawn_in_netns("pinger", move || {
            pings
                .iter()
                .map(|&(dst, payload, df)| ping(dst.parse().expect("address"), payload, df, Duration::from_secs(3)))
                .collect::<io::Result<Vec<usize>>>()
        })
        .join()
        .expect("pinger thread")
        .expect("every ping answered");
    assert_eq!(answered, [56, 8972, 56, 8952], "each reply echoes its request whole");
    let neighbours = run_command("ip", &["-n", ns, "neigh", "show", "dev", peer]).expect("ip neigh");
    println!("{neighbours}");
    for address in ["10.100.100.11 ", "fd00:100::11 "] {
        let entry = neighbours.lines().find(|l| l.starts_with(address));
        assert!(
            entry.is_some_and(|l| l.contains("lladdr 00:50:56:6a:a0:10")),
            "{address}resolved to the vmk's MAC by the engine's answer: {neighbours}"
        );
    }

    let allocations = WORKER_ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    assert_eq!(allocations, 0, "the workers allocated while answering");
    let summary = engine.finish().expect("stop the engine");
    println!("{}", summary.report.to_text());
    let default_stack = &summary.queues[0].netstacks[0];
    println!("{default_stack:?} {:?}", summary.queues[0].umem);
    // At least an ARP reply, a neighbour advertisement and four echo replies (the kernel may probe again).
    assert!(default_stack.replied >= 6, "{default_stack:?}");
    assert_eq!(default_stack.tx_dropped, 0);
    assert_eq!(summary.report.totals.replied, default_stack.replied);
    let umem = summary.umem();
    // The two jumbo echo replies went out as chains of three buffers.
    assert!(umem.transmitted >= default_stack.replied + 4, "{umem:?}");
    assert_eq!(umem.leaked(), 0, "{umem:?}");
    assert!(summary.report.conservation_holds);
    // Who answered: the default stack's own worker when it has one, the queue's worker otherwise.
    let frames_of = |name: &str| summary.workers.iter().find(|w| w.name == name).map(|w| w.frames);
    if dedicated {
        assert_eq!(frames_of("vmknet-n0"), Some(default_stack.rx), "{:?}", summary.workers);
        assert_eq!(frames_of("vmknet-q0"), Some(0), "{:?}", summary.workers);
    } else {
        assert_eq!(frames_of("vmknet-q0"), Some(default_stack.rx), "{:?}", summary.workers);
    }
}

/// The host's own traffic: vmk10 pings the switch side's Linux stack through the engine's local port, over
/// IPv4 and IPv6, with the first queue's worker on the second CPU and the second queue's on the first. The
/// worker that sends (the first queue's: it owns the default stack's egress) kicks its tx ring from the second
/// CPU, so the peer answers on its second tx queue and the ARP reply, the neighbour advertisement and the
/// echo replies land on the *other* worker's queue: resolution reaches the owner only through the learn
/// events that worker forwards. Then the owner's cache, as `show neighbors` reads it, holds the peer.
#[test]
fn local_egress_resolves_across_queues_and_gets_replies() {
    let test = "local_egress_resolves_across_queues_and_gets_replies";
    if !support::privileged(test, UMEM_BYTES) {
        return;
    }
    let allowed = CpuList::allowed();
    if allowed.for_worker(0) == allowed.for_worker(1) {
        println!("skipping {test}: needs two CPUs");
        return;
    }
    let toml = format!("{}{UNTAGGED_VMK}", testbed_host_toml());
    let model = Arc::new(HostModel::from_toml("<test host>", &toml).expect("the test host"));
    let vmk = model.vmk_by_name("vmk10").expect("vmk10");
    let topology = untagged_peer("fpl", 2);
    let (ns, peer) = (topology.netns.as_str(), topology.peer.as_str());
    let swapped: CpuList = format!("{},{}", allowed.for_worker(1), allowed.for_worker(0))
        .parse()
        .expect("CPU list");
    let config = EngineConfig {
        queues: Some(2),
        cpus: Some(swapped),
        attach: AttachMode::Native,
        ..EngineConfig::new(topology.host.clone())
    };
    let mut engine = Engine::start(Arc::clone(&model), &config).expect("start the engine");
    let mut port = engine.local_port().expect("the local port");
    assert!(engine.local_port().is_none(), "one port per engine");
    std::thread::sleep(Duration::from_millis(50));
    // At least: the other tests of this file run their engines' workers in this process at the same time.
    assert!(watch_workers() >= 2, "two queue workers");
    let allocations_before = WORKER_ALLOCATIONS.load(Ordering::Relaxed);

    let epoch = Instant::now();
    let now_ns = || epoch.elapsed().as_nanos() as u64;
    for (src, dst, size) in [
        ("10.100.100.11", "10.100.100.50", 56),
        ("10.100.100.11", "10.100.100.50", 8972),
        ("fd00:100::11", "fd00:100::50", 56),
    ] {
        let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let options = PingOptions {
            count: 3,
            size,
            dont_fragment: true,
            ..PingOptions::default()
        };
        let ident = 0x4c00 + size as u16;
        let mut session = PingSession::new(src, dst, ident, options).expect("session");
        port.listen_echo(ident);
        let mut packet = vec![0u8; session.request_len()];
        let mut fates = Vec::new();
        for seq in 0..3u16 {
            let len = session.next_request(now_ns(), seq, &mut packet).unwrap().expect("due");
            port.submit(vmk.id, u64::from(seq), &packet[..len]).expect("submitted");
            let deadline = Instant::now() + Duration::from_secs(2);
            let mut answered = false;
            while !answered && Instant::now() < deadline {
                port.collect(|tag, fate| fates.push((tag, fate)));
                while port.next_echo_reply(|ip| answered |= session.on_packet(ip, now_ns()).is_some()) {}
                std::thread::sleep(Duration::from_millis(1));
            }
            assert!(answered, "{dst} -s {size}: request {seq} answered; fates {fates:?}");
        }
        port.collect(|tag, fate| fates.push((tag, fate)));
        let sent: Vec<_> = fates.iter().filter(|(_, f)| matches!(f, Fate::Sent { .. })).collect();
        assert_eq!(sent.len(), 3, "{dst}: every request sent: {fates:?}");
        assert_eq!(session.statistics().received, 3);
    }
    let snapshot = port.neighbors(Duration::from_secs(2)).expect("owners answer");
    let text = snapshot.view(Some("defaultTcpipStack")).to_text();
    println!("{text}");
    for address in ["10.100.100.50", "fd00:100::50"] {
        let row = snapshot.rows.iter().find(|r| r.neighbor.to_string() == address);
        let row = row.unwrap_or_else(|| panic!("{address} in the owner's cache: {text}"));
        assert_eq!(row.vmknic.as_deref(), Some("vmk10"));
        assert_eq!(row.state, "Reachable", "{text}");
        let peer_mac = run_command("ip", &["-n", ns, "link", "show", peer]).expect("peer link");
        let mac = row.mac.as_deref().expect("resolved");
        assert!(peer_mac.contains(mac), "{address} at the peer's MAC {mac}: {peer_mac}");
    }
    announcements_update_the_owner(&engine, &port, &topology, allowed.for_worker(0));
    let allocations = WORKER_ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    assert_eq!(allocations, 0, "the workers allocated while sending");

    let summary = engine.finish().expect("stop the engine");
    let egress = summary.egress[vmk.netstack.index()];
    println!(
        "{egress:?} learn dropped {} egress frames {:?}",
        summary.learn_dropped, summary.egress_frames
    );
    assert_eq!(egress.sent, 9, "{egress:?}");
    assert_eq!(egress.frames, 9, "{egress:?}");
    assert_eq!(
        (egress.requests, egress.waiting),
        (2, 2),
        "one ARP request, one solicitation: {egress:?}"
    );
    assert_eq!(
        egress.refused + egress.rejected + egress.dropped_oldest + egress.tx_dropped,
        0
    );
    assert_eq!(summary.learn_dropped, 0);
    // The answers came in on the second queue, served by the worker that does not own the stack.
    let q1 = &summary.queues[1].netstacks[vmk.netstack.index()];
    assert!(q1.rx >= 11, "ARP reply, NA and nine echo replies on queue 1: {q1:?}");
    for queue in &summary.queues {
        assert_eq!(queue.umem.leaked(), 0, "queue {}: {:?}", queue.queue, queue.umem);
    }
    // Every egress frame is back in its pool or, sent, still in the kernel's rings (counted by the books).
    assert_eq!(summary.egress_frames.0, 256);
    assert!(summary.report.conservation_holds);
}

/// The MAC the peer announces after the engine learnt its real one.
const MOVED_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

/// A broadcast gratuitous ARP request: `ip` is at `mac`.
fn gratuitous_arp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame.extend_from_slice(&mac);
    frame.extend_from_slice(&ip.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&ip.octets());
    frame.resize(60, 0);
    frame
}

/// An unsolicited neighbour advertisement to ff02::1 with the Override flag: `ip` is at `mac`.
fn unsolicited_na(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    use etherparse::{Icmpv6Type, icmpv6::NeighborAdvertisementHeader};
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let advertisement = NeighborAdvertisementHeader {
        router: false,
        solicited: false,
        r#override: true,
    };
    let mut body = ip.octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&mac);
    let builder = PacketBuilder::ethernet2(mac, [0x33, 0x33, 0, 0, 0, 1])
        .ipv6(ip.octets(), all_nodes.octets(), 255)
        .icmpv6(Icmpv6Type::NeighborAdvertisement(advertisement));
    let mut frame = Vec::with_capacity(builder.size(body.len()));
    builder.write(&mut frame, &body).expect("build the advertisement");
    frame
}

/// `frame` with an 802.1Q tag for `vlan`.
fn on_vlan(vlan: u16, mut frame: Vec<u8>) -> Vec<u8> {
    let tag = [0x81, 0x00, (vlan >> 8) as u8, vlan as u8];
    frame.splice(12..12, tag);
    frame
}

/// The peer announces a new MAC for both its addresses, for addresses the engine never talked to, and on a
/// VLAN without a vmk: within a bounded wait the owner's cache shows the new MAC for the known ones and
/// creates nothing for the others, every announcement went on to Linux, and only those on the vmk's VLAN
/// were reported.
fn announcements_update_the_owner(engine: &Engine, port: &LocalPort, topology: &Topology, cpu: usize) {
    let known: [IpAddr; 2] = ["10.100.100.50".parse().unwrap(), "fd00:100::50".parse().unwrap()];
    let unknown: [IpAddr; 2] = ["10.100.100.77".parse().unwrap(), "fd00:100::77".parse().unwrap()];
    let frames: Vec<Vec<u8>> = known
        .iter()
        .chain(&unknown)
        .map(|ip| match ip {
            IpAddr::V4(ip) => gratuitous_arp(MOVED_MAC, *ip),
            IpAddr::V6(ip) => unsolicited_na(MOVED_MAC, *ip),
        })
        .chain(std::iter::once(on_vlan(
            999,
            gratuitous_arp(MOVED_MAC, "10.100.100.50".parse().unwrap()),
        )))
        .collect();
    let passed_before = engine
        .xdp_counters()
        .expect("XDP counters")
        .get(XdpVerdict::PassedNotOurs);
    let reported_before = engine.learn_counts().expect("learn counts");
    let sent = send_from_peer(topology, cpu, frames)
        .join()
        .expect("sender thread")
        .expect("send");
    assert_eq!(sent, 5);
    let moved = vmknet::model::MacAddr(MOVED_MAC).to_string();
    let deadline = Instant::now() + Duration::from_secs(3);
    let snapshot = loop {
        let snapshot = port.neighbors(Duration::from_secs(2)).expect("owners answer");
        let updated = known.iter().all(|ip| {
            snapshot
                .rows
                .iter()
                .any(|r| r.neighbor == *ip && r.mac.as_deref() == Some(moved.as_str()))
        });
        if updated || Instant::now() >= deadline {
            break snapshot;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = snapshot.view(Some("defaultTcpipStack")).to_text();
    println!("after the announcements:\n{text}");
    for ip in known {
        let row = snapshot.rows.iter().find(|r| r.neighbor == ip).expect("still cached");
        assert_eq!(row.mac.as_deref(), Some(moved.as_str()), "{ip} moved: {text}");
        assert_eq!(row.state, "Stale", "a new MAC is not a confirmation: {text}");
    }
    for ip in unknown {
        assert!(
            !snapshot.rows.iter().any(|r| r.neighbor == ip),
            "{ip} never talked to: {text}"
        );
    }
    let passed = engine
        .xdp_counters()
        .expect("XDP counters")
        .get(XdpVerdict::PassedNotOurs)
        - passed_before;
    assert!(passed >= 5, "the announcements went on to Linux: {passed}");
    let reported = engine.learn_counts().expect("learn counts");
    assert_eq!(reported.ring_full, reported_before.ring_full);
    // The announcement on VLAN 999, which carries no vmk, is not reported.
    assert_eq!(reported.reported - reported_before.reported, 4, "{reported:?}");
}
