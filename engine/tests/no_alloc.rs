//! The per-frame path allocates nothing: the whole vSphere mix and every bad case run through a warmed-up
//! pipeline (and, stamped, through the latency probe) under a global allocator that counts allocations made
//! on this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use vmknet::model::HostModel;
use vmknet::pipeline::{Outcome, Pipeline, Verdict};
use vmknet::runtime::{LatencyProbe, monotonic_ns};
use vmknet_common::stamp::{STAMP_LEN, payload_offset, stamp_bytes};
use vmknet_testbed::{DEFAULT_SEED, bad_cases, testbed_host, vsphere_mix};

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct CountingAllocator;

// Safety: every call is forwarded unchanged to the system allocator; counting touches only `const`
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // Safety: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // Safety: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn assert_no_allocation(model: HostModel, frames: &[Vec<u8>]) {
    let mut pipeline = Pipeline::new(Arc::new(model));
    let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut outcomes = vec![
        Outcome {
            vmk: None,
            verdict: Verdict::Passed
        };
        64
    ];
    let allocations = allocations_in(|| {
        for (round, batch) in slices.chunks(64).enumerate() {
            pipeline.process_batch(batch, round as u64 * 1_000, &mut outcomes);
        }
    });
    assert_eq!(allocations, 0, "allocations while processing {} frames", frames.len());
    assert!(pipeline.counters().conservation().holds());
}

#[test]
fn counting_allocator_sees_this_threads_allocations() {
    assert_eq!(allocations_in(|| drop(Box::new([0u8; 64]))), 1);
}

#[test]
fn the_vsphere_mix_allocates_nothing() {
    let model = HostModel::embedded_default();
    let frames: Vec<Vec<u8>> = vsphere_mix(&model, DEFAULT_SEED).into_iter().map(|f| f.bytes).collect();
    assert_no_allocation(model, &frames);
}

#[test]
fn the_bad_cases_allocate_nothing() {
    let model = testbed_host();
    let frames: Vec<Vec<u8>> = bad_cases(&model).into_iter().map(|f| f.bytes).collect();
    assert_no_allocation(model, &frames);
}

/// The latency probe records without allocating: the vSphere mix, stamped wherever a frame has room, timed
/// batch by batch against one clock reading each, as a worker does.
#[test]
fn the_latency_probe_allocates_nothing() {
    let model = HostModel::embedded_default();
    let mut frames: Vec<Vec<u8>> = vsphere_mix(&model, DEFAULT_SEED).into_iter().map(|f| f.bytes).collect();
    let mut stamped = 0u64;
    let sent = monotonic_ns();
    for frame in &mut frames {
        if let Some(at) = payload_offset(frame.as_slice())
            && frame.len() >= at + STAMP_LEN
        {
            frame[at..at + STAMP_LEN].copy_from_slice(&stamp_bytes(sent));
            stamped += 1;
        }
    }
    let mut probe = LatencyProbe::new().expect("fixed bounds");
    let mut recorded = 0u64;
    let allocations = allocations_in(|| {
        for batch in frames.chunks(64) {
            let now = monotonic_ns();
            for frame in batch {
                recorded += u64::from(probe.record(now, frame));
            }
        }
    });
    assert_eq!(allocations, 0, "allocations while timing {} frames", frames.len());
    assert!(
        stamped > frames.len() as u64 / 2,
        "most of the mix is UDP or TCP: {stamped}"
    );
    assert_eq!(recorded, stamped);
    assert_eq!(probe.histogram().len(), stamped);
}

/// The egress path and the ping session allocate nothing per packet: resolution (request written, packet
/// queued, released), frames, fragments, refusals, ICMP errors and reply matching, IPv4 and IPv6.
#[test]
fn the_egress_path_allocates_nothing() {
    use std::net::IpAddr;

    use vmknet::model::{MacAddr, NetstackKey, VmkId};
    use vmknet::netstack::{
        MAX_REQUEST_LEN, NeighborConfig, NetstackTables, Origin, Outcome, PingOptions, PingSession,
    };

    let model = HostModel::embedded_default();
    let default = model.netstack_by_key(&NetstackKey::Default).expect("default stack");
    let mut tables = NetstackTables::compile(&model, default, NeighborConfig::default()).expect("tables");
    let ip = |s: &str| s.parse::<IpAddr>().expect("address");
    // Requests of every kind, built (and their sessions allocated) beforehand.
    let mut packets = Vec::new();
    let mut sessions = Vec::new();
    for (src, dst, size, dont_fragment) in [
        ("10.10.10.11", "10.10.10.50", 56, true),
        ("10.10.10.11", "10.10.10.50", 4000, false),
        ("10.10.10.11", "10.10.10.50", 4000, true),
        ("fd00:10::11", "fd00:10::50", 56, false),
        ("fd00:10::11", "fd00:10::50", 2000, false),
    ] {
        let options = PingOptions {
            size,
            dont_fragment,
            count: 1,
            ..PingOptions::default()
        };
        let mut session = PingSession::new(ip(src), ip(dst), 1, options).expect("session");
        let mut packet = vec![0u8; session.request_len()];
        session.next_request(0, 1, &mut packet).expect("written");
        packets.push(packet);
        sessions.push(session);
    }
    let mut frame = vec![0u8; 9018];
    let mut request = [0u8; MAX_REQUEST_LEN];
    let mut outcomes = [0u32; 4];
    let allocations = allocations_in(|| {
        let mut egress = tables.egress(&model);
        for round in 0..2u64 {
            let now = round * 1_000_000_000;
            for (handle, packet) in packets.iter().enumerate() {
                for origin in [Origin::Local, Origin::Forwarded] {
                    match egress.send(packet, Some(VmkId(0)), origin, handle as u32, now, &mut request) {
                        Ok(Outcome::Send(mut frames)) => {
                            while let Ok(Some(_)) = frames.write_next(&mut frame) {
                                outcomes[0] += 1;
                            }
                        }
                        Ok(Outcome::Unresolved(_)) => outcomes[1] += 1,
                        Ok(Outcome::TooBig(too_big)) => {
                            outcomes[2] += u32::from(egress.write_too_big(packet, too_big, 9, &mut frame).is_ok());
                        }
                        Err(_) => outcomes[3] += 1,
                    }
                }
            }
            for neighbor in ["10.10.10.50", "fd00:10::50"] {
                egress.resolved(ip(neighbor), MacAddr([2, 0, 0, 0, 0, 1]), now, |_| {});
            }
        }
        for (session, packet) in sessions.iter_mut().zip(&packets) {
            let _ = session.on_packet(packet, 1);
        }
    });
    assert_eq!(allocations, 0);
    assert!(
        outcomes.iter().all(|&n| n > 0),
        "every outcome was exercised: {outcomes:?}"
    );
}
