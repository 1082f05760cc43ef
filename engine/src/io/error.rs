//! The one error type of the capture backend, and what exactly was wrong with a corrupt file.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::link::{LinkType, link_type_name};

/// Why a capture file could not be read or written.
///
/// Every variant names the file (or the name given to an in-memory source), so the message is enough to act on.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The operating system refused a read, write, open or flush.
    #[error("{}: {source}", path.display())]
    Io {
        /// The capture file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file starts with neither a classic pcap nor a pcapng magic number.
    #[error("{}: not a capture file: {}", path.display(), describe_start(found))]
    NotACapture {
        /// The capture file.
        path: PathBuf,
        /// The first bytes of the file (up to 4; fewer if the file is shorter).
        found: Vec<u8>,
    },
    /// The capture (or one pcapng interface of it) uses a link layer vmknet cannot turn into Ethernet.
    #[error(
        "{}: unsupported link type {link_type} ({}); supported link types: {}",
        path.display(),
        link_type_name(*link_type),
        LinkType::supported_list()
    )]
    UnsupportedLinkType {
        /// The capture file.
        path: PathBuf,
        /// The LINKTYPE_ number from the file header or Interface Description Block.
        link_type: u32,
    },
    /// The file is damaged or hostile; reading stops at the first such record.
    #[error("{}: corrupt capture at byte offset {offset}: {reason}", path.display())]
    Corrupt {
        /// The capture file.
        path: PathBuf,
        /// Where the offending file header, record or block starts.
        offset: u64,
        /// What is wrong with it.
        reason: Corruption,
    },
    /// [`CaptureArena`](super::CaptureArena) addresses frames with 32-bit offsets.
    #[error("{}: the frames of this capture exceed the in-memory replay limit of {limit} bytes", path.display())]
    TooLargeForArena {
        /// The capture file.
        path: PathBuf,
        /// The largest total of frame bytes an arena holds.
        limit: u64,
    },
    /// Classic pcap stores seconds in 32 bits: it cannot hold instants after 2106-02-07.
    #[error("{}: timestamp {timestamp_ns} ns since 1970 is past what a classic pcap can store", path.display())]
    TimestampOutOfRange {
        /// The file being written.
        path: PathBuf,
        /// The timestamp given to [`PcapWriter::write_frame`](super::PcapWriter::write_frame).
        timestamp_ns: u64,
    },
}

/// What is wrong with a corrupt record, block or file header (see [`CaptureError::Corrupt`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Corruption {
    /// The file ends in the middle of a header, record or block.
    #[error("the file ends inside {what}")]
    UnexpectedEnd {
        /// The structure that was cut, e.g. "a packet record".
        what: &'static str,
    },
    /// A record claims more captured bytes than any real frame has; refused before allocating or reading.
    #[error("record of {cap_len} captured bytes exceeds the {limit}-byte limit")]
    RecordTooLong {
        /// The captured length the record claims.
        cap_len: u32,
        /// [`MAX_CAPTURED_LEN`](super::MAX_CAPTURED_LEN).
        limit: u32,
    },
    /// A pcapng block length that is not a multiple of 4 or is shorter than its block type's fixed fields.
    #[error("pcapng block type {block_type:#010x} has an invalid total length of {len} bytes")]
    BadBlockLength {
        /// The block type.
        block_type: u32,
        /// The leading Block Total Length.
        len: u32,
    },
    /// The trailing copy of a pcapng block length disagrees with the leading one.
    #[error("pcapng block length {leading} at the start and {trailing} at the end disagree")]
    LengthMismatch {
        /// The leading Block Total Length.
        leading: u32,
        /// The trailing Block Total Length.
        trailing: u32,
    },
    /// A packet block whose captured bytes run past the end of the block.
    #[error("packet of {cap_len} captured bytes does not fit in its {block_len}-byte pcapng block")]
    PacketOutsideBlock {
        /// The captured length the block claims.
        cap_len: u32,
        /// The Block Total Length.
        block_len: u32,
    },
    /// A pcapng packet names an interface that no Interface Description Block of its section declared.
    #[error("packet names interface {id} but its section declares {declared} interface(s)")]
    UnknownInterface {
        /// The interface id in the packet block (0 for a Simple Packet Block).
        id: u32,
        /// How many interfaces the section declares.
        declared: usize,
    },
    /// A pcapng Section Header Block whose byte-order magic is neither 0x1a2b3c4d nor its byte swap.
    #[error("pcapng section header has byte-order magic {found:#010x}, expected 0x1a2b3c4d in either byte order")]
    BadByteOrderMagic {
        /// The magic read big-endian.
        found: u32,
    },
    /// A format version this reader does not know (classic pcap 2.x and pcapng 1.x are supported).
    #[error("{format} version {major}.{minor} is not supported")]
    UnsupportedVersion {
        /// "pcap" or "pcapng".
        format: &'static str,
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
    /// A pcapng option whose length is wrong for its code or runs past its block.
    #[error("pcapng option {code} of {len} bytes is malformed")]
    BadOption {
        /// The option code.
        code: u16,
        /// The option length.
        len: u16,
    },
    /// A timestamp that does not fit in 64-bit nanoseconds since 1970 (before it or after 2554).
    #[error("timestamp out of range for nanoseconds since 1970")]
    TimestampOutOfRange,
    /// A record too short to hold the link-layer header that must be replaced by Ethernet.
    #[error("record of {captured} captured bytes is shorter than its {needed}-byte {link} header")]
    ShortLinkHeader {
        /// The link type's name.
        link: &'static str,
        /// The length of the link-layer header.
        needed: usize,
        /// The captured length.
        captured: usize,
    },
}

/// Describes the first bytes of a file that is not a capture, with a hint when the cause is obvious.
fn describe_start(found: &[u8]) -> String {
    if found.is_empty() {
        return "the file is empty".to_owned();
    }
    let mut text = String::from("it starts with");
    for byte in found {
        let _ = write!(text, " {byte:02x}");
    }
    text.push_str(", expected a pcap magic (a1b2c3d4 or a1b23c4d, either byte order) or pcapng (0a0d0d0a)");
    if found.starts_with(&[0x1f, 0x8b]) {
        text.push_str("; it looks gzip-compressed: decompress it first");
    }
    text
}
