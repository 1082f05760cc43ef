//! Streaming reader for classic pcap and pcapng files, yielding Ethernet frames.
//!
//! The format is detected from the first four bytes. Classic pcap is read in either byte order with
//! microsecond or nanosecond timestamps. pcapng is read block by block: Section Header Blocks (in either byte
//! order, several per file), Interface Description Blocks (each with its own link type, `if_tsresol` and
//! `if_tsoffset`), Enhanced, Simple and the obsolete Packet Blocks; every other block is skipped unread.
//!
//! The reader trusts nothing in the file: every length is checked against the record or block that holds it
//! before anything is read, a record claiming more than [`MAX_CAPTURED_LEN`] bytes is refused, and damage is
//! reported as [`CaptureError::Corrupt`] with the byte offset of the record, never as a panic.
//!
//! `pcap-file` (a dependency, used here for link-type names and in tests as an independent reader) does not
//! parse: its pcapng reader ignores `if_tsresol` (microsecond timestamps come out 1000 times too small), its
//! checked pcap reader refuses every truncated record (original length above the snap length), it reports no
//! byte offsets, and it allocates 8 MB per reader.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use super::error::{CaptureError, Corruption};
use super::link::{ETHERNET_HEADER_LEN, LinkType};

/// The largest captured length of a single record the reader accepts: tcpdump's default snap length.
pub const MAX_CAPTURED_LEN: u32 = 262_144;

/// Classic pcap magic with microsecond timestamps, as a number (its byte order on disk gives the file's).
pub(super) const PCAP_MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Classic pcap magic with nanosecond timestamps.
pub(super) const PCAP_MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// pcapng Section Header Block type; a palindrome, so it reads the same in both byte orders.
const PCAPNG_SECTION_HEADER: u32 = 0x0a0d_0d0a;
const PCAPNG_BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const PCAPNG_INTERFACE_DESCRIPTION: u32 = 1;
const PCAPNG_PACKET: u32 = 2;
const PCAPNG_SIMPLE_PACKET: u32 = 3;
const PCAPNG_ENHANCED_PACKET: u32 = 6;
const PCAPNG_OPT_END: u16 = 0;
const PCAPNG_OPT_IF_TSRESOL: u16 = 9;
const PCAPNG_OPT_IF_TSOFFSET: u16 = 14;

/// libpcap's LT_LINKTYPE mask: the top bits of a classic pcap link type field carry FCS information.
const PCAP_LINKTYPE_MASK: u32 = 0x03ff_ffff;
/// Read-ahead buffer: large enough that a record rarely needs more than one `read` call.
const READ_BUFFER_LEN: usize = 256 * 1024;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// One frame of a capture, as Ethernet, borrowed from the reader until the next call to
/// [`CaptureReader::next_frame`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The captured bytes, starting with an Ethernet header (synthesised for other link types, see
    /// [the module docs](super)).
    pub data: &'a [u8],
    /// When the frame was captured, in nanoseconds since 1970-01-01 UTC. pcapng Simple Packet Blocks carry
    /// no timestamp and repeat the previous frame's (0 for the first).
    pub timestamp_ns: u64,
    /// The frame's length on the wire, counted as Ethernet like `data`; larger than `data.len()` when the
    /// capture truncated it.
    pub orig_len: u32,
}

impl Frame<'_> {
    /// The number of captured bytes, `data.len()`.
    pub fn cap_len(&self) -> usize {
        self.data.len()
    }

    /// Whether the capture kept fewer bytes than were on the wire (snap length), so the frame is incomplete.
    pub fn is_truncated(&self) -> bool {
        self.data.len() < self.orig_len as usize
    }
}

/// A streaming reader of a classic pcap or pcapng file that yields every record as an Ethernet [`Frame`].
///
/// Frames are lent, not allocated: each one lives in a buffer owned by the reader and is valid until the
/// next call to [`next_frame`](Self::next_frame). For replay loops that need all frames at once, see
/// [`CaptureArena`](super::CaptureArena).
///
/// # Examples
///
/// ```no_run
/// use vmknet::io::CaptureReader;
///
/// let mut reader = CaptureReader::open("trace.pcapng")?;
/// while let Some(frame) = reader.next_frame()? {
///     println!("{} {} bytes", frame.timestamp_ns, frame.cap_len());
/// }
/// # Ok::<(), vmknet::io::CaptureError>(())
/// ```
#[derive(Debug)]
pub struct CaptureReader<R = BufReader<File>> {
    source: Source<R>,
    format: Format,
    /// Headroom for a synthesised Ethernet header, then the record as captured.
    buf: Box<[u8]>,
    /// For Simple Packet Blocks, which have no timestamp of their own.
    last_timestamp_ns: u64,
    /// Set by the first error: the position in the file is then unknown, so reading stops.
    failed: bool,
    total_bytes: Option<u64>,
}

impl CaptureReader {
    /// Opens the capture file at `path` and reads its file header (pcap) or first section header (pcapng).
    ///
    /// # Errors
    /// [`CaptureError::Io`] if the file cannot be opened or read, [`CaptureError::NotACapture`] if it is
    /// neither pcap nor pcapng, [`CaptureError::UnsupportedLinkType`] for a classic pcap of a link type that
    /// cannot be mapped to Ethernet, [`CaptureError::Corrupt`] if the header is cut short or invalid.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, CaptureError> {
        let path = path.as_ref();
        let io_error = |source| CaptureError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io_error)?;
        let total_bytes = file.metadata().map_err(io_error)?.len();
        let mut reader = Self::from_reader(BufReader::with_capacity(READ_BUFFER_LEN, file), path)?;
        reader.total_bytes = Some(total_bytes);
        Ok(reader)
    }
}

impl<R: Read> CaptureReader<R> {
    /// Reads a capture from `input` (a pipe, or bytes in memory); `name` stands for the file in errors.
    ///
    /// `input` should be buffered: the reader makes a few small reads per record.
    ///
    /// # Errors
    /// As [`CaptureReader::open`].
    pub fn from_reader(input: R, name: impl Into<PathBuf>) -> Result<Self, CaptureError> {
        let mut source = Source {
            input,
            path: name.into(),
            offset: 0,
        };
        let mut magic = [0; 4];
        let found = source.read_up_to(&mut magic)?;
        if found < magic.len() {
            return Err(CaptureError::NotACapture {
                path: source.path,
                found: magic[..found].to_vec(),
            });
        }
        let format = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (PCAP_MAGIC_MICROS, _) => source.pcap_header(ByteOrder::Little, 1_000)?,
            (_, PCAP_MAGIC_MICROS) => source.pcap_header(ByteOrder::Big, 1_000)?,
            (PCAP_MAGIC_NANOS, _) => source.pcap_header(ByteOrder::Little, 1)?,
            (_, PCAP_MAGIC_NANOS) => source.pcap_header(ByteOrder::Big, 1)?,
            (PCAPNG_SECTION_HEADER, _) => {
                let mut len = [0; 4];
                source.read_exact(&mut len, 0, "the pcapng section header")?;
                Format::PcapNg(Section::read(&mut source, 0, len)?)
            }
            _ => {
                return Err(CaptureError::NotACapture {
                    path: source.path,
                    found: magic.to_vec(),
                });
            }
        };
        Ok(Self {
            source,
            format,
            buf: vec![0; ETHERNET_HEADER_LEN + MAX_CAPTURED_LEN as usize].into_boxed_slice(),
            last_timestamp_ns: 0,
            failed: false,
            total_bytes: None,
        })
    }

    /// The next frame, or `None` at the end of the capture.
    ///
    /// # Errors
    /// [`CaptureError::Io`] if reading fails, [`CaptureError::Corrupt`] for a damaged record (including a file
    /// that ends inside one), [`CaptureError::UnsupportedLinkType`] for a pcapng interface whose link type
    /// cannot be mapped to Ethernet. After an error the reader returns `Ok(None)`: where the next record
    /// starts is unknown.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        if self.failed {
            return Ok(None);
        }
        let record = match &mut self.format {
            Format::Pcap {
                order,
                nanos_per_unit,
                link,
            } => read_pcap_record(&mut self.source, &mut self.buf, *order, *nanos_per_unit, *link),
            Format::PcapNg(section) => read_pcapng_packet(&mut self.source, &mut self.buf, section),
        };
        let record = match record {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.failed = true;
                return Err(error);
            }
        };
        let timestamp_ns = record.timestamp_ns.unwrap_or(self.last_timestamp_ns);
        self.last_timestamp_ns = timestamp_ns;
        let captured = &mut self.buf[..ETHERNET_HEADER_LEN + record.cap_len as usize];
        match record.link.to_ethernet(captured) {
            Ok(data) => Ok(Some(Frame {
                data,
                timestamp_ns,
                orig_len: record.link.ethernet_len(record.orig_len),
            })),
            Err(reason) => {
                self.failed = true;
                Err(CaptureError::Corrupt {
                    path: self.source.path.clone(),
                    offset: record.offset,
                    reason,
                })
            }
        }
    }

    /// How many bytes of the file have been consumed so far, for progress reports.
    pub fn bytes_read(&self) -> u64 {
        self.source.offset
    }

    /// The size of the file, when known (always for [`open`](CaptureReader::open), never for
    /// [`from_reader`](Self::from_reader)).
    pub fn total_bytes(&self) -> Option<u64> {
        self.total_bytes
    }

    /// The file's path, or the name given to [`from_reader`](Self::from_reader).
    pub fn path(&self) -> &Path {
        &self.source.path
    }
}

/// How the rest of the file is laid out, from its file header or current section header.
#[derive(Debug)]
enum Format {
    Pcap {
        order: ByteOrder,
        /// 1000 for microsecond files, 1 for nanosecond files.
        nanos_per_unit: u64,
        link: LinkType,
    },
    PcapNg(Section),
}

/// The state of the current pcapng section.
#[derive(Debug)]
struct Section {
    order: ByteOrder,
    interfaces: Vec<Interface>,
}

/// A pcapng interface, from its Interface Description Block.
#[derive(Debug)]
struct Interface {
    link: LinkType,
    /// Timestamp units per second, from `if_tsresol` (default 10^6). At most 2^127, so it fits.
    units_per_sec: u128,
    /// Seconds to add to every timestamp, from `if_tsoffset`.
    offset_sec: i64,
}

/// A record read into the reader's buffer, before its link header is mapped to Ethernet.
#[derive(Debug)]
struct Record {
    /// Byte offset of the record or block in the file, for errors.
    offset: u64,
    link: LinkType,
    cap_len: u32,
    orig_len: u32,
    /// `None` for pcapng Simple Packet Blocks.
    timestamp_ns: Option<u64>,
}

/// Byte order of the numbers in a pcap file or pcapng section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn u16(self, bytes: [u8; 2]) -> u16 {
        match self {
            Self::Little => u16::from_le_bytes(bytes),
            Self::Big => u16::from_be_bytes(bytes),
        }
    }

    fn u32(self, bytes: [u8; 4]) -> u32 {
        match self {
            Self::Little => u32::from_le_bytes(bytes),
            Self::Big => u32::from_be_bytes(bytes),
        }
    }

    fn u64(self, bytes: [u8; 8]) -> u64 {
        match self {
            Self::Little => u64::from_le_bytes(bytes),
            Self::Big => u64::from_be_bytes(bytes),
        }
    }
}

/// The `N` bytes at `at` in a fixed-size header; the offsets are constants, so this never panics.
fn field<const N: usize>(header: &[u8], at: usize) -> [u8; N] {
    let mut bytes = [0; N];
    bytes.copy_from_slice(&header[at..at + N]);
    bytes
}

/// The input, with the count of bytes consumed and the name to put in errors.
#[derive(Debug)]
struct Source<R> {
    input: R,
    path: PathBuf,
    offset: u64,
}

impl<R: Read> Source<R> {
    fn io_error(&self, source: io::Error) -> CaptureError {
        CaptureError::Io {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, offset: u64, reason: Corruption) -> CaptureError {
        CaptureError::Corrupt {
            path: self.path.clone(),
            offset,
            reason,
        }
    }

    /// Fills `buf` unless the input ends first; returns how many bytes were read.
    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, CaptureError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(self.io_error(error)),
            }
        }
        self.offset += filled as u64;
        Ok(filled)
    }

    /// Fills `buf`; the input ending first means the structure `what` starting at `start` was cut.
    fn read_exact(&mut self, buf: &mut [u8], start: u64, what: &'static str) -> Result<(), CaptureError> {
        if self.read_up_to(buf)? < buf.len() {
            return Err(self.corrupt(start, Corruption::UnexpectedEnd { what }));
        }
        Ok(())
    }

    /// Like [`read_exact`](Self::read_exact), but `Ok(false)` if the input ends cleanly before the first byte.
    fn read_or_end(&mut self, buf: &mut [u8], what: &'static str) -> Result<bool, CaptureError> {
        let start = self.offset;
        match self.read_up_to(buf)? {
            0 => Ok(false),
            n if n == buf.len() => Ok(true),
            _ => Err(self.corrupt(start, Corruption::UnexpectedEnd { what })),
        }
    }

    /// Consumes `len` bytes without keeping them, however large `len` is.
    fn skip(&mut self, len: u64, start: u64, what: &'static str) -> Result<(), CaptureError> {
        let skipped = io::copy(&mut (&mut self.input).take(len), &mut io::sink()).map_err(|e| self.io_error(e))?;
        self.offset += skipped;
        if skipped < len {
            return Err(self.corrupt(start, Corruption::UnexpectedEnd { what }));
        }
        Ok(())
    }

    /// Reads the rest of a classic pcap file header, after the magic.
    fn pcap_header(&mut self, order: ByteOrder, nanos_per_unit: u64) -> Result<Format, CaptureError> {
        // version major, version minor, thiszone, sigfigs, snaplen, link type.
        let mut header = [0; 20];
        self.read_exact(&mut header, 0, "the pcap file header")?;
        let (major, minor) = (order.u16(field(&header, 0)), order.u16(field(&header, 2)));
        if major != 2 {
            return Err(self.corrupt(
                0,
                Corruption::UnsupportedVersion {
                    format: "pcap",
                    major,
                    minor,
                },
            ));
        }
        let link_type = order.u32(field(&header, 16)) & PCAP_LINKTYPE_MASK;
        let link = LinkType::from_number(link_type).ok_or_else(|| CaptureError::UnsupportedLinkType {
            path: self.path.clone(),
            link_type,
        })?;
        Ok(Format::Pcap {
            order,
            nanos_per_unit,
            link,
        })
    }
}

/// Reads the next classic pcap record into `buf`.
fn read_pcap_record<R: Read>(
    source: &mut Source<R>,
    buf: &mut [u8],
    order: ByteOrder,
    nanos_per_unit: u64,
    link: LinkType,
) -> Result<Option<Record>, CaptureError> {
    let offset = source.offset;
    // ts_sec, ts_frac, incl_len, orig_len.
    let mut header = [0; 16];
    if !source.read_or_end(&mut header, "a pcap record header")? {
        return Ok(None);
    }
    let cap_len = order.u32(field(&header, 8));
    read_captured(source, buf, cap_len, offset, "a pcap record")?;
    // Cannot overflow: (2^32 - 1) * 10^9 + (2^32 - 1) * 10^3 < 2^64.
    let timestamp_ns = u64::from(order.u32(field(&header, 0))) * NANOS_PER_SEC
        + u64::from(order.u32(field(&header, 4))) * nanos_per_unit;
    Ok(Some(Record {
        offset,
        link,
        cap_len,
        orig_len: order.u32(field(&header, 12)),
        timestamp_ns: Some(timestamp_ns),
    }))
}

/// Reads `cap_len` captured bytes into `buf` after the Ethernet headroom, refusing oversized records.
fn read_captured<R: Read>(
    source: &mut Source<R>,
    buf: &mut [u8],
    cap_len: u32,
    offset: u64,
    what: &'static str,
) -> Result<(), CaptureError> {
    if cap_len > MAX_CAPTURED_LEN {
        return Err(source.corrupt(
            offset,
            Corruption::RecordTooLong {
                cap_len,
                limit: MAX_CAPTURED_LEN,
            },
        ));
    }
    source.read_exact(
        &mut buf[ETHERNET_HEADER_LEN..ETHERNET_HEADER_LEN + cap_len as usize],
        offset,
        what,
    )
}

/// Reads pcapng blocks until the next packet, which it leaves in `buf`, or the end of the file.
fn read_pcapng_packet<R: Read>(
    source: &mut Source<R>,
    buf: &mut [u8],
    section: &mut Section,
) -> Result<Option<Record>, CaptureError> {
    loop {
        let offset = source.offset;
        let mut head = [0; 8];
        if !source.read_or_end(&mut head, "a pcapng block header")? {
            return Ok(None);
        }
        let block_type = section.order.u32(field(&head, 0));
        if block_type == PCAPNG_SECTION_HEADER {
            *section = Section::read(source, offset, field(&head, 4))?;
            continue;
        }
        let len = section.order.u32(field(&head, 4));
        // The body is everything between the 8-byte head and the 4-byte trailing length.
        let body_len = len
            .checked_sub(12)
            .filter(|&body_len| len.is_multiple_of(4) && body_len as usize >= fixed_body_len(block_type))
            .ok_or_else(|| source.corrupt(offset, Corruption::BadBlockLength { block_type, len }))?;
        let block = Block { offset, len, body_len };
        let record = match block_type {
            PCAPNG_INTERFACE_DESCRIPTION => {
                let interface = read_interface(source, section.order, block)?;
                section.interfaces.push(interface);
                None
            }
            PCAPNG_ENHANCED_PACKET | PCAPNG_PACKET => Some(section.read_packet(source, buf, block_type, block)?),
            PCAPNG_SIMPLE_PACKET => Some(section.read_simple_packet(source, buf, block)?),
            _ => {
                source.skip(u64::from(body_len), offset, "a pcapng block")?;
                None
            }
        };
        check_trailer(source, section.order, offset, len)?;
        if record.is_some() {
            return Ok(record);
        }
    }
}

/// Where a pcapng block starts, and its lengths, for the functions that read its body.
#[derive(Debug, Clone, Copy)]
struct Block {
    offset: u64,
    /// Block Total Length.
    len: u32,
    /// The body: the block less its type and its leading and trailing lengths.
    body_len: u32,
}

/// Interface Description Block: link type, reserved, snap length.
const INTERFACE_FIXED_LEN: usize = 8;
/// (Enhanced) Packet Block: interface id (32 bits, or 16 and a drop count), timestamp high and low, captured
/// length, original length.
const PACKET_FIXED_LEN: usize = 20;
/// Simple Packet Block: original length.
const SIMPLE_PACKET_FIXED_LEN: usize = 4;

/// The length of the fixed fields that start a block type's body, which every such block must hold.
fn fixed_body_len(block_type: u32) -> usize {
    match block_type {
        PCAPNG_INTERFACE_DESCRIPTION => INTERFACE_FIXED_LEN,
        PCAPNG_ENHANCED_PACKET | PCAPNG_PACKET => PACKET_FIXED_LEN,
        PCAPNG_SIMPLE_PACKET => SIMPLE_PACKET_FIXED_LEN,
        _ => 0,
    }
}

/// Reads the captured bytes of a packet block into `buf`, after its fixed fields, then skips its padding and
/// options.
fn read_block_packet<R: Read>(
    source: &mut Source<R>,
    buf: &mut [u8],
    block: Block,
    fixed_len: usize,
    cap_len: u32,
) -> Result<(), CaptureError> {
    // fixed_body_len checked body_len >= fixed_len.
    let rest = block.body_len - fixed_len as u32;
    let Some(after) = rest.checked_sub(cap_len) else {
        let reason = Corruption::PacketOutsideBlock {
            cap_len,
            block_len: block.len,
        };
        return Err(source.corrupt(block.offset, reason));
    };
    read_captured(source, buf, cap_len, block.offset, "a pcapng packet block")?;
    source.skip(u64::from(after), block.offset, "a pcapng packet block")
}

/// Reads a block's trailing length and checks it against the leading one.
fn check_trailer<R: Read>(source: &mut Source<R>, order: ByteOrder, offset: u64, len: u32) -> Result<(), CaptureError> {
    let mut trailer = [0; 4];
    source.read_exact(&mut trailer, offset, "a pcapng block")?;
    let trailing = order.u32(trailer);
    if trailing != len {
        return Err(source.corrupt(offset, Corruption::LengthMismatch { leading: len, trailing }));
    }
    Ok(())
}

impl Section {
    /// Reads a Section Header Block whose type has been read, given its still-undecoded length field.
    fn read<R: Read>(source: &mut Source<R>, offset: u64, raw_len: [u8; 4]) -> Result<Self, CaptureError> {
        // Byte-order magic, major version, minor version, section length.
        let mut fixed = [0; 16];
        source.read_exact(&mut fixed, offset, "a pcapng section header")?;
        let order = match u32::from_be_bytes(field(&fixed, 0)) {
            PCAPNG_BYTE_ORDER_MAGIC => ByteOrder::Big,
            magic if magic.swap_bytes() == PCAPNG_BYTE_ORDER_MAGIC => ByteOrder::Little,
            found => return Err(source.corrupt(offset, Corruption::BadByteOrderMagic { found })),
        };
        let len = order.u32(raw_len);
        // Type, length, the 16 fixed bytes, trailing length.
        if !len.is_multiple_of(4) || len < 28 {
            return Err(source.corrupt(
                offset,
                Corruption::BadBlockLength {
                    block_type: PCAPNG_SECTION_HEADER,
                    len,
                },
            ));
        }
        let (major, minor) = (order.u16(field(&fixed, 4)), order.u16(field(&fixed, 6)));
        if major != 1 {
            return Err(source.corrupt(
                offset,
                Corruption::UnsupportedVersion {
                    format: "pcapng",
                    major,
                    minor,
                },
            ));
        }
        source.skip(u64::from(len - 28), offset, "a pcapng section header")?;
        check_trailer(source, order, offset, len)?;
        Ok(Self {
            order,
            interfaces: Vec::new(),
        })
    }

    fn interface(&self, id: u32) -> Result<&Interface, Corruption> {
        let declared = self.interfaces.len();
        usize::try_from(id)
            .ok()
            .and_then(|index| self.interfaces.get(index))
            .ok_or(Corruption::UnknownInterface { id, declared })
    }

    /// Reads the body of an Enhanced Packet Block or an obsolete Packet Block.
    fn read_packet<R: Read>(
        &self,
        source: &mut Source<R>,
        buf: &mut [u8],
        block_type: u32,
        block: Block,
    ) -> Result<Record, CaptureError> {
        let order = self.order;
        let mut fixed = [0; PACKET_FIXED_LEN];
        source.read_exact(&mut fixed, block.offset, "a pcapng packet block")?;
        let interface_id = match block_type {
            PCAPNG_PACKET => u32::from(order.u16(field(&fixed, 0))),
            _ => order.u32(field(&fixed, 0)),
        };
        let units = (u64::from(order.u32(field(&fixed, 4))) << 32) | u64::from(order.u32(field(&fixed, 8)));
        let (link, timestamp_ns) = self
            .interface(interface_id)
            .and_then(|interface| Ok((interface.link, interface.timestamp_ns(units)?)))
            .map_err(|reason| source.corrupt(block.offset, reason))?;
        let cap_len = order.u32(field(&fixed, 12));
        read_block_packet(source, buf, block, PACKET_FIXED_LEN, cap_len)?;
        Ok(Record {
            offset: block.offset,
            link,
            cap_len,
            orig_len: order.u32(field(&fixed, 16)),
            timestamp_ns: Some(timestamp_ns),
        })
    }

    /// Reads the body of a Simple Packet Block, a packet of interface 0 with neither timestamp nor captured
    /// length.
    fn read_simple_packet<R: Read>(
        &self,
        source: &mut Source<R>,
        buf: &mut [u8],
        block: Block,
    ) -> Result<Record, CaptureError> {
        let mut fixed = [0; SIMPLE_PACKET_FIXED_LEN];
        source.read_exact(&mut fixed, block.offset, "a pcapng simple packet block")?;
        let link = self
            .interface(0)
            .map_err(|reason| source.corrupt(block.offset, reason))?
            .link;
        let orig_len = self.order.u32(fixed);
        // The captured length is what the block holds, less any padding beyond the original length.
        let cap_len = orig_len.min(block.body_len - SIMPLE_PACKET_FIXED_LEN as u32);
        read_block_packet(source, buf, block, SIMPLE_PACKET_FIXED_LEN, cap_len)?;
        Ok(Record {
            offset: block.offset,
            link,
            cap_len,
            orig_len,
            timestamp_ns: None,
        })
    }
}

/// Reads the body of an Interface Description Block.
fn read_interface<R: Read>(source: &mut Source<R>, order: ByteOrder, block: Block) -> Result<Interface, CaptureError> {
    let offset = block.offset;
    let mut fixed = [0; INTERFACE_FIXED_LEN];
    source.read_exact(&mut fixed, offset, "a pcapng interface description")?;
    let link_type = u32::from(order.u16(field(&fixed, 0)));
    let link = LinkType::from_number(link_type).ok_or_else(|| CaptureError::UnsupportedLinkType {
        path: source.path.clone(),
        link_type,
    })?;
    let mut interface = Interface {
        link,
        units_per_sec: 1_000_000,
        offset_sec: 0,
    };
    // Options are streamed rather than buffered, so no option length needs a limit.
    // fixed_body_len checked body_len >= INTERFACE_FIXED_LEN.
    let mut rest = block.body_len - INTERFACE_FIXED_LEN as u32;
    while rest >= 4 {
        let mut head = [0; 4];
        source.read_exact(&mut head, offset, "a pcapng interface description")?;
        rest -= 4;
        let (code, len) = (order.u16(field(&head, 0)), order.u16(field(&head, 2)));
        let padded = (u32::from(len) + 3) & !3;
        let bad_option = Corruption::BadOption { code, len };
        if code == PCAPNG_OPT_END {
            break;
        }
        if padded > rest {
            return Err(source.corrupt(offset, bad_option));
        }
        rest -= padded;
        match (code, len) {
            (PCAPNG_OPT_IF_TSRESOL, 1) => {
                let mut value = [0; 4];
                source.read_exact(&mut value, offset, "a pcapng interface description")?;
                // High bit set: a negative power of 2; clear: a negative power of 10.
                let exponent = u32::from(value[0] & 0x7f);
                interface.units_per_sec = match value[0] & 0x80 {
                    0 => 10u128
                        .checked_pow(exponent)
                        .ok_or_else(|| source.corrupt(offset, bad_option))?,
                    _ => 1 << exponent,
                };
            }
            (PCAPNG_OPT_IF_TSOFFSET, 8) => {
                let mut value = [0; 8];
                source.read_exact(&mut value, offset, "a pcapng interface description")?;
                interface.offset_sec = order.u64(value).cast_signed();
            }
            (PCAPNG_OPT_IF_TSRESOL | PCAPNG_OPT_IF_TSOFFSET, _) => return Err(source.corrupt(offset, bad_option)),
            _ => source.skip(u64::from(padded), offset, "a pcapng interface description")?,
        }
    }
    source.skip(u64::from(rest), offset, "a pcapng interface description")?;
    Ok(interface)
}

impl Interface {
    /// Converts a packet's timestamp, in this interface's units, to nanoseconds since 1970.
    fn timestamp_ns(&self, units: u64) -> Result<u64, Corruption> {
        // u128 holds units * 10^9 (< 2^94), and the quotient is at most that.
        let since_offset = u128::from(units) * u128::from(NANOS_PER_SEC) / self.units_per_sec;
        let nanos = i128::try_from(since_offset)
            .ok()
            .and_then(|n| n.checked_add(i128::from(self.offset_sec) * i128::from(NANOS_PER_SEC)));
        nanos
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(Corruption::TimestampOutOfRange)
    }
}

#[cfg(test)]
mod tests;
