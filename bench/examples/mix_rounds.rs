//! Runs the testbed's vSphere mix through one worker's pipeline N times (N = the first argument, 10 by
//! default), in batches of 64, and nothing else: the workload `bench/scripts/instructions-per-frame.sh` counts
//! instructions of under callgrind. Instruction counts are deterministic, so they compare changes to the
//! pipeline on a noisy shared machine where wall-clock benches cannot.

use std::hint::black_box;
use std::sync::Arc;

use vmknet::model::HostModel;
use vmknet::pipeline::{Outcome, Pipeline, Verdict};
use vmknet_testbed::{DEFAULT_SEED, vsphere_mix};

fn main() {
    let model = Arc::new(HostModel::embedded_default());
    let frames: Vec<Vec<u8>> = vsphere_mix(&model, DEFAULT_SEED).into_iter().map(|f| f.bytes).collect();
    let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut pipeline = Pipeline::new(Arc::clone(&model));
    let mut outcomes = [Outcome {
        vmk: None,
        verdict: Verdict::Passed,
    }; 64];
    let rounds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    for round in 0..rounds {
        for batch in slices.chunks(outcomes.len()) {
            pipeline.process_batch(black_box(batch), round * 1000, &mut outcomes);
            black_box(&outcomes);
        }
    }
    println!("{}", slices.len());
}
