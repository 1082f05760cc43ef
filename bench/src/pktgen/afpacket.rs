//! The fallback transmit method: AF_PACKET `sendmmsg`, for devices without `ndo_xdp_xmit` and for frames
//! longer than a live frame holds (jumbo frames).
//!
//! Each thread has its own raw socket bound to the interface, with `PACKET_QDISC_BYPASS` (frames go straight
//! to the driver, as pktgen's do) and a fixed set of [`BATCH`] message headers. Flows are made the way the XDP
//! program makes them, by [`rewrite_flow`] on [`BATCH`] copies of the template, so both methods send the same
//! frames in the same order; a replay points the messages at the templates themselves. With stamps (a flow
//! configuration with a [`StampSite`], a replay with `timestamp`) each batch reads the clock once and stamps
//! its frames with [`write_stamp`], the XDP programs' writer; a stamped replay sends from its own copies of the
//! templates. Nothing is allocated after [`PacketTx::new`].
//!
//! Every frame is an skb: 0.3 to 0.65 Mpps per core on the project's machines (0.27 Mpps into a veth whose
//! peer runs XDP, 0.08× live frames in the same run).

use std::borrow::Cow;
use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};

use vmknet_common::pktgen::{FlowCursor, GenConfig, StampSite, rewrite_flow, write_stamp};

use super::PktgenError;
use super::run::Transmit;
use super::stamp::stamp_site;
use vmknet::runtime::monotonic_ns;

/// Most frames per `sendmmsg`.
pub const BATCH: usize = 64;

/// What a [`PacketTx`] sends.
#[derive(Debug)]
pub enum Frames<'a> {
    /// The template with the flows of `config`, in odometer order (stamped at `config.stamp`, if set).
    Flows {
        /// The first flow's frame.
        template: &'a [u8],
        /// The ranges.
        config: GenConfig,
    },
    /// These frames, in order, again and again.
    Replay {
        /// The frames.
        frames: &'a [Vec<u8>],
        /// Stamp each frame that can carry a stamp ([`stamp_site`]) with its send time.
        timestamp: bool,
    },
}

/// One thread's AF_PACKET sender.
#[derive(Debug)]
pub struct PacketTx<'a> {
    socket: OwnedFd,
    source: Source<'a>,
    iovecs: Box<[libc::iovec; BATCH]>,
    messages: Box<[libc::mmsghdr; BATCH]>,
    batch: usize,
    bytes: u64,
}

#[derive(Debug)]
enum Source<'a> {
    Flows {
        config: GenConfig,
        cursor: FlowCursor,
        buffers: Vec<Vec<u8>>,
    },
    Replay {
        /// Owned copies when stamping.
        frames: Cow<'a, [Vec<u8>]>,
        /// Each frame's stamp site; empty without stamps.
        sites: Vec<StampSite>,
        next: usize,
    },
}

impl<'a> PacketTx<'a> {
    /// A sender of `frames` on the interface `ifindex` (in this thread's network namespace), `batch` frames
    /// per `sendmmsg` (1 to [`BATCH`]).
    ///
    /// # Errors
    /// [`PktgenError::Invalid`] for a batch out of range, a replay without frames or a template too short for
    /// its flows; [`PktgenError::Io`] when the socket cannot be made or bound (CAP_NET_RAW needed).
    pub fn new(ifindex: u32, frames: Frames<'a>, batch: u32) -> Result<Self, PktgenError> {
        let batch = usize::try_from(batch)
            .ok()
            .filter(|b| (1..=BATCH).contains(b))
            .ok_or_else(|| PktgenError::Invalid(format!("burst {batch}: AF_PACKET takes 1 to {BATCH}")))?;
        let source = match frames {
            Frames::Flows { template, config }
                if rewrite_flow(template.to_vec().as_mut_slice(), &config, &FlowCursor::default())
                    .and_then(|()| write_stamp(template.to_vec().as_mut_slice(), &config.stamp, 0))
                    .is_none() =>
            {
                return Err(PktgenError::Invalid(format!(
                    "a {}-byte template is too short for the flows' layout or stamp",
                    template.len()
                )));
            }
            Frames::Flows { template, config } => Source::Flows {
                config,
                cursor: FlowCursor::default(),
                buffers: vec![template.to_vec(); BATCH],
            },
            Frames::Replay { frames: [], .. } => return Err(PktgenError::Invalid("no frames to replay".into())),
            Frames::Replay {
                frames,
                timestamp: false,
            } => Source::Replay {
                frames: Cow::Borrowed(frames),
                sites: Vec::new(),
                next: 0,
            },
            Frames::Replay {
                frames,
                timestamp: true,
            } => Source::Replay {
                frames: Cow::Owned(frames.to_vec()),
                sites: frames.iter().map(|f| stamp_site(f).unwrap_or_default()).collect(),
                next: 0,
            },
        };
        let socket = packet_socket(ifindex)?;
        // Safety: all-zero iovecs and message headers are valid (null buffers, no name, no control data);
        // `send` points them at frames before each call.
        let (iovecs, messages) = unsafe { (Box::new(std::mem::zeroed()), Box::new(std::mem::zeroed())) };
        Ok(Self {
            socket,
            source,
            iovecs,
            messages,
            batch,
            bytes: 0,
        })
    }
}

impl Transmit for PacketTx<'_> {
    fn send(&mut self, n: u32) -> io::Result<u64> {
        let n = (n as usize).min(self.batch);
        let start_cursor = match &mut self.source {
            Source::Flows {
                config,
                cursor,
                buffers,
            } => {
                let start = *cursor;
                // A single flow is the template the buffers hold already, as in the XDP program.
                if config.varies() {
                    for buffer in buffers.iter_mut().take(n) {
                        // Copies of the template `new` checked against the layout: always long enough.
                        let _ = rewrite_flow(buffer.as_mut_slice(), config, cursor);
                        cursor.advance(config);
                    }
                }
                if config.stamp.is_some() {
                    let now = monotonic_ns();
                    for buffer in buffers.iter_mut().take(n) {
                        // Checked by `new` as above.
                        let _ = write_stamp(buffer.as_mut_slice(), &config.stamp, now);
                    }
                }
                for (iovec, buffer) in self.iovecs.iter_mut().zip(buffers.iter_mut()).take(n) {
                    *iovec = libc::iovec {
                        iov_base: buffer.as_mut_ptr().cast(),
                        iov_len: buffer.len(),
                    };
                }
                Some(start)
            }
            Source::Replay { frames, sites, next } => {
                if !sites.is_empty() {
                    let now = monotonic_ns();
                    let frames = frames.to_mut();
                    for i in 0..n {
                        let index = (*next + i) % frames.len();
                        // Sites `stamp_site` found in these very frames: they fit.
                        let _ = write_stamp(frames[index].as_mut_slice(), &sites[index], now);
                    }
                }
                for (i, iovec) in self.iovecs.iter_mut().take(n).enumerate() {
                    let frame = &frames[(*next + i) % frames.len()];
                    // sendmmsg only reads through the pointer.
                    *iovec = libc::iovec {
                        iov_base: frame.as_ptr().cast_mut().cast(),
                        iov_len: frame.len(),
                    };
                }
                None
            }
        };
        for (message, iovec) in self.messages.iter_mut().zip(self.iovecs.iter_mut()).take(n) {
            message.msg_hdr.msg_iov = iovec;
            message.msg_hdr.msg_iovlen = 1;
            message.msg_len = 0;
        }
        // Safety: the first `n` headers point at `n` iovecs over live buffers, all owned by `self` or borrowed
        // for 'a; the socket is bound, so no address is needed.
        let sent = unsafe { libc::sendmmsg(self.socket.as_raw_fd(), self.messages.as_mut_ptr(), n as u32, 0) };
        let sent = if sent < 0 {
            let err = io::Error::last_os_error();
            // A full device queue: nothing sent this time, try again.
            if err.raw_os_error() != Some(libc::ENOBUFS) {
                return Err(err);
            }
            0
        } else {
            sent as usize
        };
        self.bytes += self.iovecs[..sent]
            .iter()
            .map(|iovec| iovec.iov_len as u64)
            .sum::<u64>();
        match &mut self.source {
            Source::Flows { config, cursor, .. } => {
                // Frames the kernel did not take are made again next time.
                *cursor = start_cursor.unwrap_or_default();
                for _ in 0..sent {
                    cursor.advance(config);
                }
            }
            Source::Replay { frames, next, .. } => *next = (*next + sent) % frames.len(),
        }
        Ok(sent as u64)
    }

    fn bytes(&self) -> Option<u64> {
        Some(self.bytes)
    }
}

/// A raw AF_PACKET socket bound to `ifindex`, bypassing the qdisc.
fn packet_socket(ifindex: u32) -> Result<OwnedFd, PktgenError> {
    let fail = |action: &str| PktgenError::io(format!("AF_PACKET socket: {action}"), io::Error::last_os_error());
    // Safety: plain socket(2); protocol 0 receives nothing. The descriptor is owned at once.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(fail("creating it (CAP_NET_RAW needed)"));
    }
    // Safety: `fd` is a new descriptor nobody else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    let one: libc::c_int = 1;
    // Safety: a valid int option of the right size.
    let ret = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_PACKET,
            libc::PACKET_QDISC_BYPASS,
            (&raw const one).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(fail("PACKET_QDISC_BYPASS"));
    }
    // Safety: all-zero is a valid sockaddr_ll; family and interface are set next.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    // Safety: `addr` is a valid sockaddr_ll of the size passed.
    let ret = unsafe {
        libc::bind(
            fd,
            (&raw const addr).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if ret < 0 {
        return Err(fail("binding it to the interface"));
    }
    Ok(socket)
}
