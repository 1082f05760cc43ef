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

/// The bytes of a frame in the first buffer of a multi-buffer AF_XDP frame (a 4 KiB chunk less the headroom).
const FIRST_BUFFER: usize = 4096 - 256;

/// Judging a frame from its first buffer and wire length gives the verdict of the whole frame, for every frame
/// of the mix and every bad case; every frame judged `Replied` is turned into a reply.
#[test]
fn first_buffers_get_the_verdicts_of_whole_frames_and_replies_are_built() {
    for (model, frames, is_mix) in [
        (
            HostModel::embedded_default(),
            vsphere_mix(&HostModel::embedded_default(), DEFAULT_SEED),
            true,
        ),
        (testbed_host(), bad_cases(&testbed_host()), false),
    ] {
        let model = Arc::new(model);
        let mut whole = Pipeline::new(Arc::clone(&model));
        let mut segmented = Pipeline::new(Arc::clone(&model));
        let (mut multi_buffer, mut replied) = (0, 0);
        for chunk in frames.chunks(64) {
            let bytes: Vec<&[u8]> = chunk.iter().map(|f| f.bytes.as_slice()).collect();
            let heads: Vec<&[u8]> = bytes.iter().map(|b| &b[..b.len().min(FIRST_BUFFER)]).collect();
            let wire_lens: Vec<u32> = bytes.iter().map(|b| b.len() as u32).collect();
            let blank = Outcome {
                vmk: None,
                verdict: Verdict::Passed,
            };
            let (mut expected, mut got) = (vec![blank; chunk.len()], vec![blank; chunk.len()]);
            whole.process_batch(&bytes, 1_000, &mut expected);
            segmented.process_batch_segmented(&heads, &wire_lens, 1_000, &mut got);
            for (i, frame) in chunk.iter().enumerate() {
                assert_eq!(got[i], expected[i], "{}", frame.label.scenario);
                multi_buffer += usize::from(heads[i].len() < bytes[i].len());
                if matches!(got[i].verdict, Verdict::Replied(_)) {
                    replied += 1;
                    let mut buf = heads[i].to_vec();
                    buf.resize(FIRST_BUFFER, 0);
                    assert!(
                        segmented.build_reply(&got[i], &mut buf, heads[i].len()).is_some(),
                        "no reply built for {}",
                        frame.label.scenario
                    );
                }
            }
        }
        assert_eq!(
            whole.counters().frames_in(),
            segmented.counters().frames_in(),
            "wire bytes counted"
        );
        assert!(segmented.counters().conservation().holds());
        if is_mix {
            assert!(
                multi_buffer > 1000 && replied > 10,
                "{multi_buffer} multi-buffer, {replied} replied"
            );
        }
    }
}
