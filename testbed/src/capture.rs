//! Capture files: a classic pcap (Ethernet link type, microsecond timestamps) and a JSON-lines sidecar with one
//! label per frame, in frame order.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use vmknet::io::{CaptureError, CaptureReader, PcapWriter, TimestampPrecision};

use crate::label::{Label, LabelledFrame};

/// Timestamp of the first frame: 2025-01-01T00:00:00Z.
pub const CAPTURE_EPOCH: Duration = Duration::from_secs(1_735_689_600);
/// Gap between consecutive frames.
pub const FRAME_SPACING: Duration = Duration::from_micros(10);

/// One sidecar line: the 1-based frame number (as Wireshark counts) and the label.
#[derive(Serialize)]
struct LabelLine<'a> {
    frame: usize,
    #[serde(flatten)]
    label: &'a Label,
}

fn capture_error(err: CaptureError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err)
}

/// Writes `dir/name.pcap` and `dir/name.labels.jsonl`; returns their paths.
///
/// # Errors
/// Any I/O error creating or writing either file.
pub fn write_capture(dir: &Path, name: &str, frames: &[LabelledFrame]) -> io::Result<(PathBuf, PathBuf)> {
    let pcap_path = dir.join(format!("{name}.pcap"));
    let labels_path = dir.join(format!("{name}.labels.jsonl"));
    let mut pcap =
        PcapWriter::create_with_precision(&pcap_path, TimestampPrecision::Microseconds).map_err(capture_error)?;
    let mut labels = BufWriter::new(File::create(&labels_path)?);
    for (i, frame) in frames.iter().enumerate() {
        let timestamp = CAPTURE_EPOCH + FRAME_SPACING * u32::try_from(i).unwrap_or(u32::MAX);
        pcap.write_frame(timestamp.as_nanos() as u64, &frame.bytes)
            .map_err(capture_error)?;
        serde_json::to_writer(
            &mut labels,
            &LabelLine {
                frame: i + 1,
                label: &frame.label,
            },
        )?;
        labels.write_all(b"\n")?;
    }
    pcap.finish().map_err(capture_error)?.flush()?;
    labels.flush()?;
    Ok((pcap_path, labels_path))
}

/// Reads every frame of a classic pcap file, with its timestamp.
///
/// # Errors
/// I/O errors, and `InvalidData` for a malformed file.
pub fn read_pcap(path: &Path) -> io::Result<Vec<(Duration, Vec<u8>)>> {
    let mut reader = CaptureReader::open(path).map_err(capture_error)?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame().map_err(capture_error)? {
        frames.push((Duration::from_nanos(frame.timestamp_ns), frame.data.to_vec()));
    }
    Ok(frames)
}

/// Reads a `.labels.jsonl` sidecar.
///
/// # Errors
/// I/O errors, and `InvalidData` for a line that is not a label.
pub fn read_labels(path: &Path) -> io::Result<Vec<Label>> {
    BufReader::new(File::open(path)?)
        .lines()
        .filter(|line| !matches!(line, Ok(l) if l.trim().is_empty()))
        .map(|line| serde_json::from_str(&line?).map_err(io::Error::from))
        .collect()
}

/// Reads a capture written by [`write_capture`] back into labelled frames.
///
/// # Errors
/// As [`read_pcap`] and [`read_labels`], and `InvalidData` when the counts differ.
pub fn read_capture(pcap: &Path, labels: &Path) -> io::Result<Vec<LabelledFrame>> {
    let frames = read_pcap(pcap)?;
    let labels = read_labels(labels)?;
    if frames.len() != labels.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} frames but {} labels", frames.len(), labels.len()),
        ));
    }
    Ok(frames
        .into_iter()
        .zip(labels)
        .map(|((_, bytes), label)| LabelledFrame { bytes, label })
        .collect())
}
