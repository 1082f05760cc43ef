//! The AF_XDP fast path end to end on a veth pair with two queues.
//!
//! A network namespace holds the peer end of a veth (MTU 9000 both ends) whose host end the engine serves
//! (classifier attached in native mode, one socket per (queue, netstack) on a shared UMEM per queue, a pinned
//! worker per queue). Two sender threads, pinned to different CPUs and steered to different tx queues by XPS,
//! send a bounded set of frames from the peer with AF_PACKET, a different number each: iSCSI replies to vmk2,
//! vMotion to vmk1 (small, and 3 KB: single-buffer AF_XDP holds up to 4 KiB less the XDP headroom),
//! management to vmk0, vMotion to vmk0 (which the isolation policy drops), one 7 KB vMotion frame
//! (multi-buffer, which the sockets do not take yet: the kernel drops it and counts it in the socket's
//! statistics), and frames to a MAC that is no vmk's. On veth the rx queue is the sender's tx queue, so each
//! worker sees one sender's frames. The test then checks the whole accounting: the workers' counters equal
//! those of a userspace pipeline run over the frames the sockets can hold, each queue received exactly its
//! sender's, the program's redirected count equals what the sockets received plus what the kernel counted
//! lost, the other frames went to Linux, and the program saw every frame sent. It runs twice: with workers
//! sleeping in `poll()` and with workers spinning (`--busy-poll`), and checks that the workers allocate
//! nothing while they serve traffic (a global allocator counts allocations made on their threads).
//!
//! The `vmknet run` command itself is tested in the `vmknet-cli` package (`engine/cli/tests/run.rs`).
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW); without it each test prints why it skips and passes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use etherparse::PacketBuilder;
use vmknet::model::HostModel;
use vmknet::pipeline::{Pipeline, Service, Verdict};
use vmknet::runtime::{CpuList, Engine, EngineConfig, check_capabilities, vlan_offload};
use vmknet::stats::Report;
use vmknet::xdp::AttachMode;
use vmknet_common::XdpVerdict;
use vmknet_testbed::Topology;
use vmknet_testbed::sender::send_from_peer;

/// The UMEMs of a two-queue engine with default sizes.
const UMEM_BYTES: u64 = 2 * 4096 * 4096;
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x77];
const STRANGER_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
/// Frames of each kind sent by sender 0 and by sender 1.
const PER_KIND: [usize; 2] = [40, 25];
/// Payload of the large vMotion frames, which still fit a UMEM frame.
const LARGE: usize = 3000;
/// Payload of the jumbo vMotion frames, which do not.
const JUMBO: usize = 7000;

// ----- allocations on the workers' threads -----

/// Thread ids (gettid) of the workers being watched; 0 is a free slot.
static WATCHED: [AtomicI32; 8] = [const { AtomicI32::new(0) }; 8];
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

/// Watches the engine's worker threads (named `vmknet-q<queue>`) of this process; returns how many.
fn watch_workers() -> usize {
    let mut watched = 0;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let Ok(tid) = task.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if comm.starts_with("vmknet-q") {
            let slot = WATCHED
                .iter()
                .find(|w| w.compare_exchange(0, tid, Ordering::Relaxed, Ordering::Relaxed).is_ok());
            assert!(slot.is_some(), "more workers than watch slots");
            watched += 1;
        }
    }
    watched
}

/// Skips (returning false, with the reason printed) unless the process holds what the engine needs, as the
/// engine itself checks it.
fn privileged(test: &str) -> bool {
    match check_capabilities(UMEM_BYTES) {
        Ok(()) => true,
        Err(err) => {
            println!("skipping {test}: {err}");
            false
        }
    }
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
    /// To vmks, each fitting a UMEM frame.
    ours: Vec<Vec<u8>>,
    /// To a vmk, too long for a UMEM frame.
    jumbo: Vec<Vec<u8>>,
    /// To no vmk.
    not_ours: Vec<Vec<u8>>,
}

impl Frames {
    fn new(model: &HostModel, sender: usize) -> Self {
        let mut frames = Self {
            ours: Vec::new(),
            jumbo: Vec::new(),
            not_ours: Vec::new(),
        };
        for i in 0..PER_KIND[sender] as u32 {
            let seq = (sender as u32) << 16 | i;
            frames.ours.extend([
                tcp_to(model, "vmk2", None, (3260, 50_000), seq, 32), // iSCSI reply
                tcp_to(model, "vmk1", None, (50_001, 8000), seq, 32), // vMotion
                tcp_to(model, "vmk1", None, (50_001, 8000), seq, LARGE),
                tcp_to(model, "vmk0", None, (50_002, 443), seq, 32), // management
                tcp_to(model, "vmk0", None, (50_003, 8000), seq, 32), // vMotion to the management vmk
            ]);
            let stranger = tcp_to(model, "vmk0", Some(STRANGER_MAC), (50_004, 443), seq, 32);
            frames.not_ours.push(stranger);
        }
        frames.jumbo.push(tcp_to(model, "vmk1", None, (50_001, 8000), 1, JUMBO));
        frames
    }

    fn all(&self) -> Vec<Vec<u8>> {
        [&self.ours, &self.jumbo, &self.not_ours]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn len(&self) -> usize {
        self.ours.len() + self.jumbo.len() + self.not_ours.len()
    }
}

#[test]
fn fast_path_delivers_every_vmk_frame_and_passes_the_rest() {
    fast_path_scenario("fast_path_delivers_every_vmk_frame_and_passes_the_rest", 'e', false);
}

#[test]
fn fast_path_busy_polling_delivers_every_vmk_frame_and_passes_the_rest() {
    fast_path_scenario(
        "fast_path_busy_polling_delivers_every_vmk_frame_and_passes_the_rest",
        'b',
        true,
    );
}

/// The scenario of the module docs, with workers that sleep in `poll()` or spin.
fn fast_path_scenario(test: &str, tag: char, busy_poll: bool) {
    if !privileged(test) {
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
        ..EngineConfig::new(topology.host.clone())
    };
    let engine = Engine::start(Arc::clone(&model), &config).expect("start the engine");
    assert_eq!(engine.info().attach, AttachMode::Native);
    assert!(topology.has_xdp_program(), "program attached");
    // The workers have allocated what they need before their loop; from here on they must not allocate.
    std::thread::sleep(Duration::from_millis(50));
    assert!(watch_workers() >= 2, "worker threads found");
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
    let n_jumbo: usize = senders.iter().map(|f| f.jumbo.len()).sum();
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
        ("vmk2", Service::Iscsi, per_kind),
        ("vmk1", Service::Vmotion, 2 * per_kind),
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
    assert_eq!(summary.report.totals.delivered, 4 * per_kind);
    assert_eq!(summary.report.totals.dropped, per_kind, "vMotion to the management vmk");

    // Queue locality: each queue received exactly its sender's vmk frames, and lost its jumbo frames.
    for (queue, frames) in summary.queues.iter().zip(&senders) {
        println!(
            "queue {} on CPU {} ({} mode): rx {} {:?}, sockets {:?}",
            queue.queue,
            queue.cpu,
            queue.data_path,
            queue.rx(),
            queue.netstacks,
            queue.sockets
        );
        assert_eq!(
            queue.rx(),
            frames.ours.len() as u64,
            "queue {} received its sender's frames",
            queue.queue
        );
        let lost: u64 = queue.sockets.iter().map(|s| s.lost()).sum();
        assert_eq!(
            lost,
            frames.jumbo.len() as u64,
            "queue {}: jumbo frames lost and counted",
            queue.queue
        );
    }

    // The kernel's side: redirected = received by the sockets + counted lost in the kernel (the jumbo frames,
    // until multi-buffer sockets land), the rest passed to Linux, every frame sent counted once.
    let xdp = &summary.xdp;
    println!("XDP: {:?}", xdp.iter().filter(|(_, n)| *n > 0).collect::<Vec<_>>());
    assert_eq!(
        summary.socket_lost(),
        n_jumbo as u64,
        "lost between the program and the rings"
    );
    assert_eq!(
        xdp.get(XdpVerdict::Redirected),
        summary.socket_rx() + summary.socket_lost()
    );
    assert_eq!(xdp.get(XdpVerdict::Redirected), (n_ours + n_jumbo) as u64);
    let n_not_ours = n_sent - n_ours - n_jumbo;
    assert_eq!(
        xdp.get(XdpVerdict::PassedNotOurs),
        n_not_ours as u64,
        "not ours, to Linux"
    );
    assert_eq!(xdp.frames(), n_sent as u64, "every frame sent is counted once");
}
