//! Classic pcap writer for Ethernet frames: per-service captures (`--split-dir`) and generated test traffic.
//!
//! Files are little-endian pcap 2.4, link type ETHERNET, snap length [`MAX_CAPTURED_LEN`]: what tcpdump,
//! Wireshark and this crate's [`CaptureReader`](super::CaptureReader) all read.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::capture::{MAX_CAPTURED_LEN, PCAP_MAGIC_MICROS, PCAP_MAGIC_NANOS};
use super::error::CaptureError;

const NANOS_PER_SEC: u64 = 1_000_000_000;
const LINKTYPE_ETHERNET: u32 = 1;

/// The unit of the fractional part of written timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampPrecision {
    /// Microseconds: the original pcap format, for tools that predate nanosecond files.
    Microseconds,
    /// Nanoseconds: no loss (magic `a1b23c4d`).
    #[default]
    Nanoseconds,
}

/// Writes Ethernet frames to a classic pcap file, buffered.
///
/// Call [`finish`](Self::finish) at the end: it flushes the buffer and reports the last write error, which
/// dropping the writer would silently lose.
///
/// # Examples
///
/// ```no_run
/// use vmknet::io::PcapWriter;
///
/// let mut writer = PcapWriter::create("nfs.pcap")?;
/// writer.write_frame(1_700_000_000_000_000_000, &[0; 60])?;
/// writer.finish()?;
/// # Ok::<(), vmknet::io::CaptureError>(())
/// ```
#[derive(Debug)]
pub struct PcapWriter<W: Write = BufWriter<File>> {
    out: W,
    path: PathBuf,
    precision: TimestampPrecision,
}

impl PcapWriter {
    /// Creates (or truncates) the file at `path` with nanosecond timestamps and writes the file header.
    ///
    /// # Errors
    /// [`CaptureError::Io`] if the file cannot be created or written.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        Self::create_with_precision(path, TimestampPrecision::Nanoseconds)
    }

    /// Like [`create`](Self::create), with timestamps in `precision`.
    ///
    /// # Errors
    /// As [`create`](Self::create).
    pub fn create_with_precision(path: impl AsRef<Path>, precision: TimestampPrecision) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        let file = File::create(path).map_err(|source| CaptureError::Io {
            path: path.to_owned(),
            source,
        })?;
        PcapWriter::new(BufWriter::new(file), path, precision)
    }
}

impl<W: Write> PcapWriter<W> {
    /// Writes a pcap to `out` (which should be buffered); `name` stands for the file in errors.
    ///
    /// # Errors
    /// [`CaptureError::Io`] if the file header cannot be written.
    pub fn new(out: W, name: impl Into<PathBuf>, precision: TimestampPrecision) -> Result<Self, CaptureError> {
        let magic = match precision {
            TimestampPrecision::Microseconds => PCAP_MAGIC_MICROS,
            TimestampPrecision::Nanoseconds => PCAP_MAGIC_NANOS,
        };
        let mut header = [0; 24];
        header[0..4].copy_from_slice(&magic.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0, as every modern writer leaves them.
        header[16..20].copy_from_slice(&MAX_CAPTURED_LEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        let mut writer = Self {
            out,
            path: name.into(),
            precision,
        };
        writer.write(&header)?;
        Ok(writer)
    }

    /// Appends `frame`, captured at `timestamp_ns` nanoseconds since 1970.
    ///
    /// A frame longer than [`MAX_CAPTURED_LEN`] is stored truncated to it, with its full length as the
    /// original length, as a capture with that snap length would have stored it.
    ///
    /// # Errors
    /// [`CaptureError::TimestampOutOfRange`] for instants after 2106-02-07 (nothing is written then),
    /// [`CaptureError::Io`] if writing fails.
    pub fn write_frame(&mut self, timestamp_ns: u64, frame: &[u8]) -> Result<(), CaptureError> {
        let Ok(seconds) = u32::try_from(timestamp_ns / NANOS_PER_SEC) else {
            return Err(CaptureError::TimestampOutOfRange {
                path: self.path.clone(),
                timestamp_ns,
            });
        };
        let nanos = timestamp_ns % NANOS_PER_SEC;
        let fraction = match self.precision {
            TimestampPrecision::Microseconds => nanos / 1_000,
            TimestampPrecision::Nanoseconds => nanos,
        };
        let captured = &frame[..frame.len().min(MAX_CAPTURED_LEN as usize)];
        let mut header = [0; 16];
        header[0..4].copy_from_slice(&seconds.to_le_bytes());
        // Below 10^9: fits.
        header[4..8].copy_from_slice(&(fraction as u32).to_le_bytes());
        // At most MAX_CAPTURED_LEN: fits.
        header[8..12].copy_from_slice(&(captured.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&u32::try_from(frame.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.write(&header)?;
        self.write(captured)
    }

    /// Flushes the buffer and returns the underlying writer.
    ///
    /// # Errors
    /// [`CaptureError::Io`] if flushing fails.
    pub fn finish(mut self) -> Result<W, CaptureError> {
        match self.out.flush() {
            Ok(()) => Ok(self.out),
            Err(source) => Err(CaptureError::Io {
                path: self.path,
                source,
            }),
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), CaptureError> {
        self.out.write_all(bytes).map_err(|source| CaptureError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::CaptureReader;

    /// Frames of every size class: minimum, jumbo, a BIG TCP super-frame, one beyond the snap length.
    fn frames() -> Vec<(u64, Vec<u8>)> {
        [60, 9014, 80_066, MAX_CAPTURED_LEN as usize + 100]
            .into_iter()
            .enumerate()
            .map(|(i, len)| {
                let timestamp_ns = 1_700_000_000_123_456_789 + i as u64 * 1_001;
                (timestamp_ns, (0..len).map(|b| (b % 251) as u8).collect())
            })
            .collect()
    }

    fn write(precision: TimestampPrecision) -> Vec<u8> {
        let mut writer = PcapWriter::new(Vec::new(), "out.pcap", precision).unwrap();
        for (timestamp_ns, frame) in frames() {
            writer.write_frame(timestamp_ns, &frame).unwrap();
        }
        writer.finish().unwrap()
    }

    #[test]
    fn round_trip_through_the_reader() {
        for (precision, unit) in [
            (TimestampPrecision::Nanoseconds, 1),
            (TimestampPrecision::Microseconds, 1_000),
        ] {
            let file = write(precision);
            let mut reader = CaptureReader::from_reader(&file[..], "out.pcap").unwrap();
            for (timestamp_ns, frame) in frames() {
                let read = reader.next_frame().unwrap().unwrap();
                let kept = frame.len().min(MAX_CAPTURED_LEN as usize);
                assert_eq!(read.data, &frame[..kept]);
                assert_eq!(read.orig_len as usize, frame.len());
                assert_eq!(read.is_truncated(), kept < frame.len());
                assert_eq!(read.timestamp_ns, timestamp_ns / unit * unit, "{precision:?}");
            }
            assert_eq!(reader.next_frame().unwrap(), None);
        }
    }

    /// pcap-file is an independent reader: what it reads back proves the format, not just our symmetry.
    #[test]
    fn pcap_file_crate_reads_it() {
        let file = write(TimestampPrecision::Nanoseconds);
        let mut reader = pcap_file::pcap::PcapReader::new(&file[..]).unwrap();
        let header = reader.header();
        assert_eq!(header.datalink, pcap_file::DataLink::ETHERNET);
        assert_eq!(header.snaplen, MAX_CAPTURED_LEN);
        assert_eq!(header.ts_resolution, pcap_file::TsResolution::NanoSecond);
        for (timestamp_ns, frame) in frames() {
            // The raw record: pcap-file's checked one refuses orig_len > snaplen, which is the point here.
            let raw = reader.next_raw_packet().unwrap().unwrap();
            assert_eq!(
                u64::from(raw.ts_sec) * NANOS_PER_SEC + u64::from(raw.ts_frac),
                timestamp_ns
            );
            assert_eq!(raw.orig_len as usize, frame.len());
            assert_eq!(raw.data.len(), frame.len().min(MAX_CAPTURED_LEN as usize));
        }
        assert!(reader.next_raw_packet().is_none());
    }

    #[test]
    fn timestamp_after_2106_is_refused() {
        let mut writer = PcapWriter::new(Vec::new(), "out.pcap", TimestampPrecision::Microseconds).unwrap();
        let error = writer
            .write_frame((u64::from(u32::MAX) + 1) * NANOS_PER_SEC, &[0; 60])
            .unwrap_err();
        assert!(matches!(error, CaptureError::TimestampOutOfRange { .. }), "{error:?}");
        assert_eq!(
            writer.finish().unwrap().len(),
            24,
            "nothing but the file header was written"
        );
    }

    #[test]
    fn create_writes_a_file_open_reads() {
        let path = std::env::temp_dir().join(format!("vmknet-io-writer-{}.pcap", std::process::id()));
        let mut writer = PcapWriter::create(&path).unwrap();
        writer.write_frame(42, &[7; 60]).unwrap();
        writer.finish().unwrap();
        let mut reader = CaptureReader::open(&path).unwrap();
        assert_eq!(reader.total_bytes(), Some(24 + 16 + 60));
        let frame = reader.next_frame().unwrap().unwrap();
        assert_eq!((frame.timestamp_ns, frame.data), (42, &[7; 60][..]));
        std::fs::remove_file(&path).unwrap();
    }
}
