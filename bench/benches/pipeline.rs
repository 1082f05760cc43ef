//! Criterion benches of the ingress pipeline on one core: nanoseconds per frame for the testbed's vSphere
//! mix, for 64-byte frames of one service, and for the drop and pass paths.
//!
//! Each iteration runs a whole batch of frames through one worker's `Pipeline` (counters included), the way
//! a worker runs a ring's batch; criterion reports time per frame (`Throughput::Elements`). The mix runs twice:
//! from one heap buffer per frame, and laid out as a multi-buffer AF_XDP worker sees it (each frame's first
//! buffer in a 4 KiB UMEM chunk, judged on its wire length).

use std::hint::black_box;
use std::ops::Range;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use etherparse::PacketBuilder;
use vmknet::model::HostModel;
use vmknet::pipeline::{Outcome, Pipeline, Verdict};
use vmknet_testbed::{DEFAULT_SEED, LabelledFrame, bad_cases, testbed_host, vsphere_mix};

/// Frames per batch, as an AF_XDP worker takes them off a ring.
const BATCH: usize = 64;

fn run(c: &mut Criterion, name: &str, model: &Arc<HostModel>, frames: &[Vec<u8>]) {
    let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    bench_batches(c, name, model, slices.len(), |pipeline, batch, now_ns, outcomes| {
        pipeline.process_batch(black_box(&slices[batch]), now_ns, outcomes);
    });
}

/// Bytes of a UMEM chunk, and the kernel's headroom in front of a received frame.
const CHUNK: usize = 4096;
const HEADROOM: usize = 256;

/// As [`run`], with the frames where a multi-buffer AF_XDP worker finds them: each in a 4 KiB chunk of one
/// arena behind the XDP headroom, only its first buffer (up to 3840 bytes) there, judged on its wire length.
fn run_in_umem(c: &mut Criterion, name: &str, model: &Arc<HostModel>, frames: &[Vec<u8>]) {
    let mut arena = vec![0u8; frames.len() * CHUNK];
    let mut heads_at = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let head_len = frame.len().min(CHUNK - HEADROOM);
        let start = i * CHUNK + HEADROOM;
        arena[start..start + head_len].copy_from_slice(&frame[..head_len]);
        heads_at.push(start..start + head_len);
    }
    let heads: Vec<&[u8]> = heads_at.into_iter().map(|range| &arena[range]).collect();
    let wire_lens: Vec<u32> = frames.iter().map(|f| f.len() as u32).collect();
    bench_batches(c, name, model, heads.len(), |pipeline, batch, now_ns, outcomes| {
        pipeline.process_batch_segmented(black_box(&heads[batch.clone()]), &wire_lens[batch], now_ns, outcomes);
    });
}

/// Benches `process` over `n` frames in batches of [`BATCH`], one fresh worker pipeline, counters checked.
fn bench_batches(
    c: &mut Criterion,
    name: &str,
    model: &Arc<HostModel>,
    n: usize,
    mut process: impl FnMut(&mut Pipeline, Range<usize>, u64, &mut [Outcome]),
) {
    let mut pipeline = Pipeline::new(Arc::clone(model));
    let mut outcomes = [Outcome {
        vmk: None,
        verdict: Verdict::Passed,
    }; BATCH];
    let mut group = c.benchmark_group("ingress");
    group.throughput(Throughput::Elements(n as u64));
    let mut now_ns = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            now_ns += 1_000;
            for start in (0..n).step_by(BATCH) {
                let batch = start..(start + BATCH).min(n);
                let len = batch.len();
                process(&mut pipeline, batch, now_ns, &mut outcomes[..len]);
                black_box(&outcomes);
            }
        })
    });
    group.finish();
    assert!(pipeline.counters().conservation().holds());
}

fn bytes(frames: Vec<LabelledFrame>) -> Vec<Vec<u8>> {
    frames.into_iter().map(|f| f.bytes).collect()
}

/// 64-byte iSCSI frames (target to initiator, from port 3260) to vmk2, 256 distinct flows.
fn iscsi_64b(model: &HostModel) -> Vec<Vec<u8>> {
    let vmk = model.vmk_by_name("vmk2").expect("vmk2 in the default host");
    let dst = vmk.ipv4_cidr().expect("static address").addr.octets();
    (0..256u16)
        .map(|flow| {
            let mut frame = Vec::with_capacity(64);
            PacketBuilder::ethernet2([2, 0, 0, 0, 0x40, 1], vmk.mac.0)
                .single_vlan(vmk.vlan.try_into().expect("valid VLAN"))
                .ipv4([10, 40, 40, 100], dst, 64)
                .tcp(3260, 40000 + flow, 1, 65535)
                .write(&mut frame, &[0u8; 6])
                .expect("build frame");
            debug_assert_eq!(frame.len(), 64);
            frame
        })
        .collect()
}

fn benches(c: &mut Criterion) {
    let default = Arc::new(HostModel::embedded_default());
    let mix = bytes(vsphere_mix(&default, DEFAULT_SEED));
    run(c, "vsphere_mix", &default, &mix);
    run_in_umem(c, "vsphere_mix_umem_first_buffers", &default, &mix);
    run(c, "iscsi_64B", &default, &iscsi_64b(&default));

    let testbed = Arc::new(testbed_host());
    let bad = bad_cases(&testbed);
    let dropped: Vec<Vec<u8>> = bad
        .iter()
        .filter(|f| f.label.verdict == "dropped")
        .map(|f| f.bytes.clone())
        .collect();
    run(c, "drop_paths", &testbed, &dropped);
    let passed: Vec<Vec<u8>> = vsphere_mix(&default, DEFAULT_SEED)
        .into_iter()
        .filter(|f| f.label.verdict == "passed")
        .map(|f| f.bytes)
        .collect();
    run(c, "linux_traffic_passed", &default, &passed);
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
