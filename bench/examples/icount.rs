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
    for r in 0..rounds {
        for batch in slices.chunks(64) {
            pipeline.process_batch(std::hint::black_box(batch), r * 1000, &mut outcomes);
            std::hint::black_box(&outcomes);
        }
    }
    eprintln!("{} frames x {rounds}", slices.len());
}
