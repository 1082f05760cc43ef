//! The whole pipeline on arbitrary frames: no panic, every frame gets exactly one counted verdict, and every
//! frame judged `Replied` is turned into a reply (in a buffer with a UMEM chunk's room behind it).
#![no_main]

use std::sync::{Arc, LazyLock, Mutex};

use libfuzzer_sys::fuzz_target;
use vmknet::model::HostModel;
use vmknet::pipeline::{Pipeline, Verdict};

static PIPELINE: LazyLock<Mutex<Pipeline>> =
    LazyLock::new(|| Mutex::new(Pipeline::new(Arc::new(HostModel::embedded_default()))));

fuzz_target!(|data: &[u8]| {
    let mut pipeline = PIPELINE.lock().unwrap_or_else(|e| e.into_inner());
    // The first two bytes pick the time, so fragment expiry is exercised too.
    let now_ns = u64::from(u16::from_le_bytes([data.first().copied().unwrap_or(0), data.get(1).copied().unwrap_or(0)]))
        * 1_000_000_000;
    let outcome = pipeline.process(data, now_ns);
    assert!(pipeline.counters().conservation().holds());
    if matches!(outcome.verdict, Verdict::Replied(_)) {
        let mut buf = data.to_vec();
        buf.resize(data.len() + 64, 0);
        assert!(pipeline.build_reply(&outcome, &mut buf, data.len()).is_some());
    }
});
