//! The testbed's labelled vSphere traffic, written to captures and replayed as `vmknet replay` does: every
//! frame must get exactly the verdict its label states. The labels come from the testbed's own statement of
//! the VMkernel rules, not from this pipeline.

use std::path::PathBuf;
use std::sync::Arc;

use vmknet::io::CaptureReader;
use vmknet::model::HostModel;
use vmknet::pipeline::{Outcome, Pipeline, Verdict};
use vmknet_testbed::{DEFAULT_SEED, Label, LabelledFrame, bad_cases, testbed_host, vsphere_mix, write_capture};

/// A scratch directory removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vmknet-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Self(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The label an outcome amounts to, in the testbed's vocabulary (the scenario is taken from `expected`).
fn as_label(model: &HostModel, outcome: Outcome, expected: &Label) -> Label {
    let (verdict, reason) = match outcome.verdict {
        Verdict::Delivered(_) => ("delivered", None),
        Verdict::Replied(_) => ("replied", None),
        Verdict::Forwarded(_) => ("forwarded", None),
        Verdict::Passed => ("passed", None),
        Verdict::Dropped { reason, .. } => ("dropped", Some(reason.name().to_owned())),
    };
    Label {
        verdict: verdict.to_owned(),
        service: outcome.verdict.service().map(|s| s.name().to_owned()),
        reason,
        vmk: outcome.vmk.map(|id| model.vmks[id.index()].name.clone()),
        scenario: expected.scenario.clone(),
    }
}

/// Writes `frames` as a capture, replays it through a pipeline for `model`, and compares every frame.
fn replay_and_compare(model: HostModel, name: &str, frames: &[LabelledFrame]) {
    let scratch = ScratchDir::new(name);
    let (pcap, _labels) = write_capture(&scratch.0, name, frames).expect("write capture");
    let model = Arc::new(model);
    let mut pipeline = Pipeline::new(Arc::clone(&model));
    let mut reader = CaptureReader::open(&pcap).expect("open capture");
    let mut mismatches = Vec::new();
    let mut index = 0;
    while let Some(frame) = reader.next_frame().expect("read frame") {
        let outcome = pipeline.process(frame.data, frame.timestamp_ns);
        let expected = &frames[index].label;
        let got = as_label(&model, outcome, expected);
        if &got != expected {
            mismatches.push(format!(
                "frame {} ({}): expected {expected:?}, got {got:?}",
                index + 1,
                expected.scenario
            ));
        }
        index += 1;
    }
    assert_eq!(index, frames.len(), "frames read back");
    let conservation = pipeline.counters().conservation();
    assert_eq!(conservation.frames_in.packets, frames.len() as u64);
    assert!(conservation.holds(), "{conservation:?}");
    assert!(
        mismatches.is_empty(),
        "{} of {} frames differ:\n{}",
        mismatches.len(),
        frames.len(),
        mismatches.join("\n")
    );
}

#[test]
fn vsphere_mix_gets_its_labelled_verdicts() {
    let model = HostModel::embedded_default();
    let frames = vsphere_mix(&model, DEFAULT_SEED);
    assert!(frames.len() > 2000);
    replay_and_compare(model, "vsphere-mix", &frames);
}

#[test]
fn every_bad_case_gets_its_labelled_verdict() {
    let model = testbed_host();
    let frames = bad_cases(&model);
    replay_and_compare(model, "bad-cases", &frames);
}
