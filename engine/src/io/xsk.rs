//! AF_XDP sockets for one (interface, rx queue): a shared UMEM, one socket per netstack, one fill ring.
//!
//! Queue locality is the law of AF_XDP: a socket only receives from the rx queue it is bound to, so each
//! netstack gets a socket of its own on every queue, and the XDP classifier picks the slot. Sockets bound to
//! one queue must share one UMEM (a second UMEM on a busy queue gives EBUSY), and only the first of them owns
//! the fill and completion rings. [`QueueSockets`] holds all of that for one queue and is meant to be owned by
//! the one worker that serves the queue: every received frame goes back into the single fill ring from that
//! thread, so exactly one thread produces into it.
//!
//! The fill ring is sized to hold every frame of the UMEM, so recycling a batch can never find it full (a
//! frame is either in the fill ring, in flight in the kernel, in an rx ring or in the worker's hands).
//!
//! The XDP program is loaded and attached by [`crate::xdp`] (aya): the sockets are created with libxdp's
//! `XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD` and registered in the classifier's XSKMAP by the caller.
//!
//! Single-buffer only: a frame longer than [`XskConfig::max_frame_len`] ([`FRAME_SIZE`] less
//! [`XDP_HEADROOM`]) does not reach the socket (the kernel counts it in the socket's `rx_dropped`).
//! Multi-buffer (`XDP_USE_SG`) is future work.

use std::fmt;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use xsk_rs::config::{BindFlags, FrameSize, LibxdpFlags, QueueSize, SocketConfig, UmemConfig};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

/// Bytes per UMEM frame (one chunk holds one frame: single-buffer AF_XDP).
pub const FRAME_SIZE: u32 = 4096;

/// Bytes the kernel keeps in front of each received frame in its UMEM chunk (`XDP_PACKET_HEADROOM`).
pub const XDP_HEADROOM: u32 = 256;

/// Default UMEM frames per queue.
pub const DEFAULT_FRAME_COUNT: u32 = 4096;

/// Descriptors in each netstack's rx ring.
const RX_RING_SIZE: u32 = 2048;

/// Descriptors in each socket's tx ring: nothing is transmitted yet, but the kernel wants a ring.
const TX_RING_SIZE: u32 = 64;

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

    /// The longest frame the sockets receive whole; the kernel drops a longer one and counts it in the
    /// socket's `rx_dropped`. Single-buffer: one chunk less the XDP headroom.
    pub fn max_frame_len(&self) -> usize {
        (FRAME_SIZE - XDP_HEADROOM) as usize
    }
}

/// An error creating the AF_XDP sockets of a queue.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// The frame count is zero or its ring would exceed the kernel's limits.
    #[error("invalid UMEM frame count {0}: use 1 to 2^20 frames per queue")]
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
    /// Frames dropped for other reasons (too long for a chunk, say).
    pub rx_dropped: u64,
    /// Frames dropped because the rx ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty (the frame was dropped).
    pub rx_fill_ring_empty: u64,
    /// Invalid descriptors.
    pub rx_invalid_descs: u64,
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
    }
}

/// One netstack's socket on the queue.
#[derive(Debug)]
struct NetstackRing {
    rx: RxQueue,
    /// Kept open: the socket lives as long as its last queue handle.
    _tx: TxQueue,
}

/// The AF_XDP sockets of one (interface, rx queue): a shared UMEM and one socket per netstack.
#[derive(Debug)]
pub struct QueueSockets {
    queue: u32,
    umem: Umem,
    fill: FillQueue,
    /// Owned with the fill ring by the first socket; unused until the transmit path lands.
    _completion: CompQueue,
    rings: Vec<NetstackRing>,
    data_path: DataPath,
}

impl QueueSockets {
    /// Creates the UMEM of `interface` queue `queue`, binds one socket per netstack to it and hands every frame
    /// to the kernel through the fill ring. The sockets receive nothing until registered in the XSKMAP.
    ///
    /// # Errors
    /// [`XskError::Bind`] with a hint (zero-copy unsupported, queue missing, queue busy);
    /// [`XskError::Umem`] when the UMEM cannot be pinned.
    pub fn open(interface: &str, queue: u32, n_netstacks: u32, config: &XskConfig) -> Result<Self, XskError> {
        let frames = NonZeroU32::new(config.frame_count)
            .filter(|n| n.get() <= 1 << 20)
            .ok_or(XskError::FrameCount(config.frame_count))?;
        let ring_size = |n: u32| QueueSize::new(n).map_err(|_| XskError::FrameCount(config.frame_count));
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|_| XskError::FrameCount(config.frame_count))?)
            .fill_queue_size(ring_size(frames.get().next_power_of_two())?)
            .comp_queue_size(ring_size(TX_RING_SIZE)?)
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
            BindMode::Auto => BindFlags::XDP_USE_NEED_WAKEUP,
            BindMode::ZeroCopy => BindFlags::XDP_USE_NEED_WAKEUP | BindFlags::XDP_ZEROCOPY,
        };
        let socket_config = SocketConfig::builder()
            .rx_queue_size(ring_size(RX_RING_SIZE)?)
            .tx_queue_size(ring_size(TX_RING_SIZE)?)
            .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
            .bind_flags(bind_flags)
            .build();
        let mut owner = None;
        let mut rings = Vec::with_capacity(n_netstacks as usize);
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
            rings.push(NetstackRing { rx, _tx: tx });
        }
        let Some((mut fill, completion)) = owner else {
            return Err(XskError::Bind {
                interface: interface.to_owned(),
                queue,
                netstack: 0,
                hint: "; another socket of this process already owns the queue's fill ring",
                source: "no fill ring was handed out".into(),
            });
        };
        let first = rings.first().map(|r| r.rx.fd().as_raw_fd());
        let data_path = match first {
            Some(fd) => data_path(fd).map_err(|source| XskError::Options {
                interface: interface.to_owned(),
                queue,
                source,
            })?,
            None => DataPath::Copy,
        };
        // Safety: `descs` are this UMEM's frames, none of them in use; the ring holds them all (sized above).
        let given = unsafe { fill.produce(&descs) };
        debug_assert_eq!(given, descs.len(), "the fill ring holds every frame");
        Ok(Self {
            queue,
            umem,
            fill,
            _completion: completion,
            rings,
            data_path,
        })
    }

    /// The rx queue the sockets are bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// Copy or zero-copy, as the kernel chose.
    pub fn data_path(&self) -> DataPath {
        self.data_path
    }

    /// Netstack rings on this queue (one per netstack, in netstack order).
    pub fn n_rings(&self) -> usize {
        self.rings.len()
    }

    /// The socket of `netstack`'s ring, to register in the XSKMAP.
    pub fn socket_fd(&self, netstack: usize) -> Option<BorrowedFd<'_>> {
        let ring = self.rings.get(netstack)?;
        // Safety: the descriptor belongs to the socket `ring` keeps open, and the borrow cannot outlive `self`.
        Some(unsafe { BorrowedFd::borrow_raw(ring.rx.fd().as_raw_fd()) })
    }

    /// Raw descriptors of every ring, in netstack order, for `poll()`.
    pub fn raw_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        self.rings.iter().map(|r| r.rx.fd().as_raw_fd())
    }

    /// Takes up to `descs.len()` received frames from `netstack`'s rx ring into `descs`; returns how many. The
    /// frames are the caller's until handed back with [`recycle`](Self::recycle).
    #[inline]
    pub fn receive(&mut self, netstack: usize, descs: &mut [FrameDesc]) -> usize {
        match self.rings.get_mut(netstack) {
            // Safety: the rx rings of this queue only ever carry frames of `self.umem`.
            Some(ring) => unsafe { ring.rx.consume(descs) },
            None => 0,
        }
    }

    /// The bytes of received frames `descs`, written to `out` in order (as many as both hold).
    #[inline]
    pub fn frames<'a>(&'a self, descs: &[FrameDesc], out: &mut [&'a [u8]]) {
        for (desc, slot) in descs.iter().zip(out.iter_mut()) {
            // Safety: `desc` came from `receive` on this UMEM and has not been recycled (the caller holds it),
            // so the kernel does not write the frame while the shared borrow of `self` lives: recycling needs
            // `&mut self`.
            *slot = unsafe { self.umem.data(desc) }.contents();
        }
    }

    /// Hands frames taken with [`receive`](Self::receive) back to the kernel through the fill ring.
    #[inline]
    pub fn recycle(&mut self, descs: &[FrameDesc]) {
        // Safety: `descs` are frames of this UMEM the caller received and no longer reads.
        let given = unsafe { self.fill.produce(descs) };
        debug_assert_eq!(given, descs.len(), "the fill ring holds every frame");
    }

    /// Whether the kernel asks for a wakeup to take frames from the fill ring (`XDP_USE_NEED_WAKEUP`).
    #[inline]
    pub fn fill_needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    /// The kernel's receive statistics of every ring, in netstack order.
    ///
    /// # Errors
    /// The errno of `getsockopt(XDP_STATISTICS)`.
    pub fn statistics(&self) -> std::io::Result<Vec<SocketStats>> {
        self.rings
            .iter()
            .map(|ring| {
                let stats = ring.rx.fd().xdp_statistics()?;
                Ok(SocketStats {
                    rx_dropped: stats.rx_dropped(),
                    rx_ring_full: stats.rx_ring_full(),
                    rx_fill_ring_empty: stats.rx_fill_ring_empty_descs(),
                    rx_invalid_descs: stats.rx_invalid_descs(),
                })
            })
            .collect()
    }
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
            "; the driver has no zero-copy AF_XDP (veth and generic XDP never do): run without --zero-copy"
        }
        Some(libc::EINVAL) => "; the queue may not exist: check `ethtool -l <if>` or the veth's numrxqueues",
        Some(libc::EBUSY) => "; another AF_XDP socket or UMEM already holds this queue",
        Some(libc::EPERM) => "; run as root or grant CAP_NET_RAW and CAP_NET_ADMIN",
        _ => "",
    }
}
