//! A whole capture in memory, for replaying it in a loop at full speed.

use std::io::Read;
use std::path::Path;

use super::capture::CaptureReader;
use super::error::CaptureError;

/// The most frame bytes an arena holds: offsets are 32-bit.
const ARENA_LIMIT: u64 = u32::MAX as u64;

/// Every frame of a capture, as Ethernet, back to back in one allocation.
///
/// Replaying from here touches no file and allocates nothing, so a replay loop measures the pipeline rather
/// than the disk. Timestamps are not kept: an arena is for replay as fast as possible, not paced replay.
/// Offsets are 32-bit, so the frames of one arena total at most 4 GiB.
///
/// # Examples
///
/// ```no_run
/// use vmknet::io::CaptureArena;
///
/// let arena = CaptureArena::load("trace.pcap")?;
/// for frame in arena.iter().cycle().take(1_000_000) {
///     assert!(frame.len() <= 262_144);
/// }
/// # Ok::<(), vmknet::io::CaptureError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct CaptureArena {
    data: Vec<u8>,
    /// (offset in `data`, length) of each frame, in capture order.
    frames: Vec<(u32, u32)>,
}

impl CaptureArena {
    /// Reads every frame of the capture file at `path`.
    ///
    /// # Errors
    /// As [`CaptureReader::open`] and [`CaptureReader::next_frame`]; [`CaptureError::TooLargeForArena`] if
    /// the frames total more than 4 GiB.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        Self::from_reader(CaptureReader::open(path)?)
    }

    /// Reads every remaining frame of `reader`.
    ///
    /// # Errors
    /// As [`load`](Self::load), less opening the file.
    pub fn from_reader<R: Read>(mut reader: CaptureReader<R>) -> Result<Self, CaptureError> {
        // Records lose their 16-byte header and gain at most 14 bytes of Ethernet: the file size is a close bound.
        let capacity = reader.total_bytes().map_or(0, |len| len.min(ARENA_LIMIT) as usize);
        let mut arena = Self {
            data: Vec::with_capacity(capacity),
            frames: Vec::new(),
        };
        while let Some(frame) = reader.next_frame()? {
            let offset = arena.data.len();
            if (offset + frame.data.len()) as u64 > ARENA_LIMIT {
                return Err(CaptureError::TooLargeForArena {
                    path: reader.path().to_owned(),
                    limit: ARENA_LIMIT,
                });
            }
            // Both fit in u32: their sum does.
            arena.frames.push((offset as u32, frame.data.len() as u32));
            arena.data.extend_from_slice(frame.data);
        }
        Ok(arena)
    }

    /// The number of frames.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether the capture holds no frame.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The total size of all frames, in bytes.
    pub fn frame_bytes(&self) -> usize {
        self.data.len()
    }

    /// The frames in capture order; cheap to clone, so `iter().cycle()` loops over the capture.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + Clone + '_ {
        self.frames
            .iter()
            .map(|&(offset, len)| &self.data[offset as usize..(offset + len) as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{PcapWriter, TimestampPrecision};

    #[test]
    fn holds_every_frame_in_order() {
        let mut writer = PcapWriter::new(Vec::new(), "mem", TimestampPrecision::Nanoseconds).unwrap();
        let frames: Vec<Vec<u8>> = (1..=5u8).map(|n| vec![n; 60 * usize::from(n)]).collect();
        for frame in &frames {
            writer.write_frame(0, frame).unwrap();
        }
        let file = writer.finish().unwrap();
        let arena = CaptureArena::from_reader(CaptureReader::from_reader(&file[..], "mem").unwrap()).unwrap();
        assert_eq!(arena.len(), 5);
        assert_eq!(arena.frame_bytes(), 60 * 15);
        assert!(arena.iter().eq(frames.iter().map(Vec::as_slice)));
        assert_eq!(arena.iter().cycle().nth(7), Some(&frames[2][..]));
    }

    #[test]
    fn empty_capture_is_an_empty_arena() {
        let file = PcapWriter::new(Vec::new(), "mem", TimestampPrecision::Nanoseconds)
            .unwrap()
            .finish()
            .unwrap();
        let arena = CaptureArena::from_reader(CaptureReader::from_reader(&file[..], "mem").unwrap()).unwrap();
        assert!(arena.is_empty());
        assert_eq!(arena.iter().next(), None);
    }

    #[test]
    fn a_corrupt_record_fails_the_load() {
        let mut writer = PcapWriter::new(Vec::new(), "mem", TimestampPrecision::Nanoseconds).unwrap();
        writer.write_frame(0, &[0; 60]).unwrap();
        let file = writer.finish().unwrap();
        let reader = CaptureReader::from_reader(&file[..file.len() - 1], "mem").unwrap();
        assert!(matches!(
            CaptureArena::from_reader(reader),
            Err(CaptureError::Corrupt { offset: 24, .. })
        ));
    }
}
