//! Frame backends: reading captures for replay, writing captures of what the pipeline saw.
//!
//! `io` is the only layer that touches files and sockets. The pipeline is pure: it takes frames as byte
//! slices and time as an argument, and never learns whether a frame came from a NIC queue or a file. Here:
//!
//! - [`CaptureReader`] streams a classic pcap or pcapng file as Ethernet [`Frame`]s, lending each from one
//!   reused buffer. Other link layers (Linux cooked v1/v2, raw IP, BSD loopback) get a synthesised Ethernet
//!   header; any other link type is refused with [`CaptureError::UnsupportedLinkType`].
//! - [`CaptureArena`] loads a whole capture into one allocation for looping replay at full speed.
//! - [`PcapWriter`] writes Ethernet frames to a classic pcap (per-service captures, generated traffic).
//! - [`xsk`] binds the AF_XDP sockets of one NIC rx queue: a shared UMEM, one socket per netstack
//!   ([`xsk::NetstackSocket`]), one fill ring ([`xsk::FillRing`]).
//!
//! Captures are input from outside: the reader bounds every length it reads (no record beyond
//! [`MAX_CAPTURED_LEN`]) and reports damage as [`CaptureError::Corrupt`] with a byte offset, never by
//! panicking.
//!
//! # Synthesised Ethernet headers
//!
//! A frame from a link layer other than Ethernet gets a 14-byte Ethernet II header in place of its own:
//!
//! - destination and source MAC `00:00:00:00:00:00` (these link layers carry no Ethernet destination; a zero
//!   MAC is never a VMkernel adapter's, so nothing is decided by an invented address);
//! - EtherType from the protocol field for LINUX_SLL (113) and LINUX_SLL2 (276); 0x0800 for IPV4 (228) and
//!   0x86dd for IPV6 (229); from the IP version nibble of the payload for RAW (101), NULL (0) and LOOP (108),
//!   with 0x0000 (dropped by the pipeline) when it is neither 4 nor 6.
//!
//! [`Frame::orig_len`] counts the synthesised header instead of the original one, so it compares with
//! [`Frame::cap_len`].

mod arena;
mod capture;
mod error;
mod link;
mod writer;
pub mod xsk;

pub use arena::CaptureArena;
pub use capture::{CaptureReader, Frame, MAX_CAPTURED_LEN};
pub use error::{CaptureError, Corruption};
pub use writer::{PcapWriter, TimestampPrecision};
