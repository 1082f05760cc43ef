//! The capture reader on arbitrary files: errors, never panics, and never yields a frame beyond the bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmknet::io::{CaptureReader, MAX_CAPTURED_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = CaptureReader::from_reader(data, "fuzz") else { return };
    while let Ok(Some(frame)) = reader.next_frame() {
        assert!(frame.data.len() <= MAX_CAPTURED_LEN as usize + 14);
    }
});
