//! AF_XDP sockets for one (interface, rx queue): a shared UMEM, one socket per netstack, one fill ring.
//!
//! Queue locality is the law of AF_XDP: a socket only receives from the rx queue it is bound to, so each
//! netstack gets a socket of its own on every queue, and the XDP classifier picks the slot. Sockets bound to
//! one queue must share one UMEM (a second UMEM on a busy queue gives EBUSY), and only the first of them owns
//! the fill and completion rings. [`open_queue`] binds them and hands back the two halves:
//!
//! - a [`FillRing`] (the UMEM's fill and completion rings), owned by exactly one thread, the queue's
//!   *fill-ring owner*: every frame goes back to the kernel from there;
//! - one [`NetstackSocket`] per netstack (its rx and tx rings), which any one thread may serve; a thread that
//!   does not own the fill ring hands the frames it is done with back to the owner.
//!
//! # Where a frame is
//! A UMEM frame is in exactly one place: the fill ring (or the kernel's hands on its way to an rx ring), an
//! rx ring, a worker's hands, a tx ring, the completion ring, or a queue back to the fill-ring owner. The
//! fill and completion rings are both sized to hold every frame of the UMEM, so neither can ever refuse one:
//! recycling never fails and the kernel never stalls a transmission for want of a completion slot. The tx
//! rings are smaller; a reply that finds its tx ring full is counted and its frame recycled. [`UmemAccount`]
//! keeps the books (frames taken out of the kernel's rings, frames given back) so a run can prove at the end
//! that no frame leaked.
//!
//! # Multi-buffer
//! Sockets are bound with `XDP_USE_SG`: a frame longer than one chunk less the XDP headroom ([`BUFFER_LEN`],
//! 3840 bytes) arrives as a chain of buffers, every one but the last flagged `XDP_PKT_CONTD`. The first
//! buffer holds all the headers. Replies go out the same way: the chain, the head rewritten in place.
//!
//! The XDP program is loaded and attached by [`crate::xdp`] (aya): the sockets are created with libxdp's
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD` and registered in the classifier's XSKMAP by the caller.

mod fill;
mod pool;
mod returns;
mod socket;

pub use fill::{FillRing, UmemAccount};
pub use pool::EgressPool;
pub use returns::ReturnQueue;
pub use socket::NetstackSocket;

use std::fmt;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};

use xsk_rs::config::{BindFlags, FrameSize, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{Socket, Umem};

/// Bytes per UMEM frame (chunk).
pub const FRAME_SIZE: u32 = 4096;

/// Bytes the kernel keeps in front of the packet in every chunk (`XDP_PACKET_HEADROOM`).
pub const XDP_HEADROOM: u32 = 256;

/// Packet bytes one buffer (chunk) holds; longer frames arrive as chains.
pub const BUFFER_LEN: u32 = FRAME_SIZE - XDP_HEADROOM;

/// The longest frame the sockets take whole: 64 KiB, as a chain of up to 18 buffers. No link's MTU comes near
/// it (a vmk's is 9000 at most); the kernel's multi-buffer XDP frames stop short of it too.
pub const MAX_FRAME_LEN: usize = 64 * 1024;

/// Default UMEM frames per queue.
pub const DEFAULT_FRAME_COUNT: u32 = 4096;
/// Fewest UMEM frames per queue: a quarter of them (at least one) is set aside for what the host sends.
pub const MIN_FRAME_COUNT: u32 = 4;
/// Most UMEM frames per queue: the kernel's limit on a ring.
pub const MAX_FRAME_COUNT: u32 = 1 << 20;

/// Descriptors in each netstack's rx ring.
const RX_RING_SIZE: u32 = 2048;

/// Descriptors in each netstack's tx ring (replies; a jumbo reply takes three).
const TX_RING_SIZE: u32 = 1024;

/// How the sockets of a queue are bound.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BindMode {
    /// Zero-copy where the driver supports it, copy mode otherwise (the kernel's own fallback).
    #[default]
    Auto,
    /// Zero-copy or fail.
    ZeroCopy,
}

/// What the kernel chose for a bound socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataPath {
    /// The driver receives straight into the UMEM.
    ZeroCopy,
    /// The kernel copies each frame into the UMEM (veth, generic XDP, drivers without AF_XDP support).
    Copy,
}

impl fmt::Display for DataPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ZeroCopy => "zero-copy",
            Self::Copy => "copy",
        })
    }
}

/// Sizes and mode of the sockets of one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XskConfig {
    /// UMEM frames for the queue, shared by its netstack sockets.
    pub frame_count: u32,
    /// Copy or zero-copy.
    pub bind_mode: BindMode,
}

impl Default for XskConfig {
    fn default() -> Self {
        Self {
            frame_count: DEFAULT_FRAME_COUNT,
            bind_mode: BindMode::Auto,
        }
    }
}

impl XskConfig {
    /// Bytes of UMEM one queue pins.
    pub fn umem_bytes(&self) -> u64 {
        u64::from(self.frame_count) * u64::from(FRAME_SIZE)
    }

    /// The longest frame the sockets receive whole ([`MAX_FRAME_LEN`]: multi-buffer chains).
    pub fn max_frame_len(&self) -> usize {
        MAX_FRAME_LEN
    }
}

/// An error creating the AF_XDP sockets of a queue.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// The frame count is too small to keep frames for the host's own traffic, or its ring would exceed the
    /// kernel's limits.
    #[error(
        "invalid UMEM frame count {0}: use {MIN_FRAME_COUNT} to 2^20 frames per queue (a quarter of the first \
         queue's, up to 256, is kept for what the host sends: ARP, neighbour solicitations, vmkping)"
    )]
    FrameCount(u32),
    /// The UMEM could not be registered.
    #[error(
        "creating the UMEM of {interface} queue {queue} ({bytes} bytes) failed: {}; without CAP_IPC_LOCK \
         the UMEM counts against RLIMIT_MEMLOCK (`ulimit -l`)",
        chain(source.as_ref())
    )]
    Umem {
        /// The interface.
        interface: String,
        /// The rx queue.
        queue: u32,
        /// The UMEM's size.
        bytes: u64,
        /// libxdp's error, with the errno as its source.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A socket could not be created or bound.
    #[error(
        "binding an AF_XDP socket to {interface} queue {queue} for netstack {netstack} failed: {}{hint}",
        chain(source.as_ref())
    )]
    Bind {
        /// The interface.
        interface: String,
        /// The rx queue.
        queue: u32,
        /// The netstack whose ring it is.
        netstack: u32,
        /// What to change, from the errno.
        hint: &'static str,
        /// libxdp's error, with the errno as its source.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Reading the bound socket's options failed.
    #[error("reading the options of the AF_XDP socket on {interface} queue {queue} failed: {source}")]
    Options {
        /// The interface.
        interface: String,
        /// The rx queue.
        queue: u32,
        /// The errno.
        source: std::io::Error,
    },
}

/// The kernel's receive statistics of one socket (`XDP_STATISTICS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketStats {
    /// Frames dropped for other reasons (no free buffers for a whole chain, say).
    pub rx_dropped: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (the frame was dropped).
    pub rx_fill_ring_empty: u64,
    /// Invalid descriptors.
    pub rx_invalid_descs: u64,
    /// Transmit descriptors the kernel refused as invalid.
    pub tx_invalid_descs: u64,
}

impl SocketStats {
    /// Frames the XDP program redirected to the socket that it never received.
    pub fn lost(&self) -> u64 {
        self.rx_dropped + self.rx_ring_full + self.rx_fill_ring_empty
    }

    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &SocketStats) {
        self.rx_dropped += other.rx_dropped;
        self.rx_ring_full += other.rx_ring_full;
        self.rx_fill_ring_empty += other.rx_fill_ring_empty;
        self.rx_invalid_descs += other.rx_invalid_descs;
        self.tx_invalid_descs += other.tx_invalid_descs;
    }
}

/// Creates the UMEM of `interface` queue `queue`, binds one socket per netstack to it (multi-buffer, so jumbo
/// frames arrive whole) and hands every frame but the last `egress_frames` to the kernel through the fill
/// ring; those are the queue's [`EgressPool`] (`egress_frames` must leave at least half the UMEM to the fill
/// ring). The sockets receive nothing until registered in the XSKMAP. Returns the fill-ring half and the
/// sockets, in netstack order.
///
/// # Errors
/// [`XskError::Bind`] with a hint (zero-copy unsupported, queue missing, queue busy);
/// [`XskError::Umem`] when the UMEM cannot be pinned.
pub fn open_queue(
    interface: &str,
    queue: u32,
    n_netstacks: u32,
    config: &XskConfig,
    egress_frames: u32,
) -> Result<(FillRing, Vec<NetstackSocket>), XskError> {
    let frames = NonZeroU32::new(config.frame_count)
        .filter(|n| (MIN_FRAME_COUNT..=MAX_FRAME_COUNT).contains(&n.get()) && egress_frames <= n.get() / 2)
        .ok_or(XskError::FrameCount(config.frame_count))?;
    let ring_size = |n: u32| QueueSize::new(n).map_err(|_| XskError::FrameCount(config.frame_count));
    // Both UMEM rings hold every frame: recycling and completions can never find them full.
    let every_frame = ring_size(frames.get().next_power_of_two())?;
    let umem_config = UmemConfig::builder()
        .frame_size(FrameSize::new(FRAME_SIZE).map_err(|_| XskError::FrameCount(config.frame_count))?)
        .fill_queue_size(every_frame)
        .comp_queue_size(every_frame)
        .build()
        .map_err(|_| XskError::FrameCount(config.frame_count))?;
    let umem_error = |source: Box<dyn std::error::Error + Send + Sync>| XskError::Umem {
        interface: interface.to_owned(),
        queue,
        bytes: config.umem_bytes(),
        source,
    };
    let (umem, descs) = Umem::new(umem_config, frames, false).map_err(|err| umem_error(Box::new(err)))?;
    let name = interface
        .parse()
        .map_err(|_| umem_error("the interface name holds a NUL byte".into()))?;
    let bind_flags = match config.bind_mode {
        BindMode::Auto => BindFlags::XDP_USE_NEED_WAKEUP | BindFlags::XDP_USE_SG,
        BindMode::ZeroCopy => BindFlags::XDP_USE_NEED_WAKEUP | BindFlags::XDP_USE_SG | BindFlags::XDP_ZEROCOPY,
    };
    let socket_config = SocketConfig::builder()
        .rx_queue_size(ring_size(RX_RING_SIZE)?)
        .tx_queue_size(ring_size(TX_RING_SIZE)?)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(bind_flags)
        .build();
    let mut owner = None;
    let mut bound = Vec::with_capacity(n_netstacks as usize);
    for netstack in 0..n_netstacks {
        // Safety: the program is aya's, not libxdp's, and every socket of the queue is created with
        // XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD, which is what sharing a UMEM on one (interface, queue) requires.
        let created = unsafe { Socket::new(socket_config, &umem, &name, queue) };
        let (tx, rx, rings_of_queue) = created.map_err(|err| XskError::Bind {
            interface: interface.to_owned(),
            queue,
            netstack,
            hint: bind_hint(&err, config.bind_mode),
            source: Box::new(err),
        })?;
        if owner.is_none() {
            owner = rings_of_queue;
        }
        bound.push((rx, tx));
    }
    let Some((fill, completion)) = owner else {
        return Err(XskError::Bind {
            interface: interface.to_owned(),
            queue,
            netstack: 0,
            hint: "; another socket of this process already owns the queue's fill ring",
            source: "no fill ring was handed out".into(),
        });
    };
    let data_path = match bound.first() {
        Some((rx, _)) => data_path(rx.fd().as_raw_fd()).map_err(|source| XskError::Options {
            interface: interface.to_owned(),
            queue,
            source,
        })?,
        None => DataPath::Copy,
    };
    let wake_fd = bound.first().map_or(-1, |(rx, _)| rx.fd().as_raw_fd());
    let sockets = bound
        .into_iter()
        .enumerate()
        .map(|(netstack, (rx, tx))| NetstackSocket::new(queue, netstack, umem.clone(), rx, tx, data_path))
        .collect();
    let (for_fill, for_egress) = descs.split_at(descs.len() - egress_frames as usize);
    let pool = (!for_egress.is_empty()).then(|| std::sync::Arc::new(EgressPool::new(for_egress)));
    let fill = FillRing::new(queue, umem, fill, completion, data_path, wake_fd, for_fill).with_egress_pool(pool);
    Ok((fill, sockets))
}

/// Reads `XDP_OPTIONS` of a bound socket: whether it runs zero-copy.
fn data_path(fd: RawFd) -> std::io::Result<DataPath> {
    let mut options = libc::xdp_options { flags: 0 };
    let mut len = size_of::<libc::xdp_options>() as libc::socklen_t;
    // Safety: `options` and `len` are valid for writes of the sizes given.
    let ret = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            libc::XDP_OPTIONS,
            (&raw mut options).cast(),
            &raw mut len,
        )
    };
    if ret != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(if options.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 {
        DataPath::ZeroCopy
    } else {
        DataPath::Copy
    })
}

/// `err` and its sources, joined: libxdp's errors keep the errno in their source.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        text.push_str(": ");
        text.push_str(&e.to_string());
        current = e.source();
    }
    text
}

/// The hint for a failed bind, from the errno in `err`'s source chain.
fn bind_hint(err: &(dyn std::error::Error + 'static), mode: BindMode) -> &'static str {
    let mut errno = None;
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            errno = io.raw_os_error();
        }
        current = e.source();
    }
    match errno {
        Some(libc::EOPNOTSUPP) if mode == BindMode::ZeroCopy => {
            "; the driver has no zero-copy AF_XDP with multi-buffer (veth and generic XDP never do): run without \
             --zero-copy"
        }
        Some(libc::EINVAL) => {
            "; the queue may not exist (`ethtool -l <if>`, or the veth's numrxqueues), or the kernel is older than \
             6.6 and has no multi-buffer AF_XDP (XDP_USE_SG)"
        }
        Some(libc::EBUSY) => {
            "; another AF_XDP socket or UMEM already holds this queue: is an engine (`vmknet run`) already \
             attached to this interface? `ip link show dev <if>` shows its XDP program"
        }
        Some(libc::EPERM) => "; run as root or grant CAP_NET_RAW and CAP_NET_ADMIN",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_counts_outside_the_limits_are_refused_before_any_system_call() {
        for frame_count in [0, 1, MIN_FRAME_COUNT - 1, MAX_FRAME_COUNT + 1] {
            let config = XskConfig {
                frame_count,
                ..XskConfig::default()
            };
            match open_queue("vmknet-no-such-if", 0, 1, &config, 0) {
                Err(err @ XskError::FrameCount(n)) => {
                    assert_eq!(n, frame_count);
                    assert!(err.to_string().contains("use 4 to 2^20 frames per queue"), "{err}");
                }
                other => panic!("{frame_count} frames: {:?}", other.map(|_| ())),
            }
        }
    }
}
