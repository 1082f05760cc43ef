//! One netstack's AF_XDP socket on a queue: its rx ring, and its tx ring for the replies to what it received.
//!
//! A [`NetstackSocket`] never touches the fill or completion ring (those are the [`super::FillRing`]'s): the
//! frames it hands out go back through whoever owns the fill ring. Replies leave on the tx ring of the socket
//! their request came in on, rewritten in place in the request's own frames; in copy mode the kernel sends
//! them only when kicked (`sendto`), once per batch, and a kick sends at most the kernel's tx budget (32), so
//! a socket remembers whether its ring still holds frames the kernel has not taken.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use xsk_rs::{FrameDesc, RxQueue, TxQueue, Umem};

use super::{DataPath, SocketStats, UmemAccount};

/// One netstack's socket on one queue.
#[derive(Debug)]
pub struct NetstackSocket {
    queue: u32,
    netstack: usize,
    rx: RxQueue,
    tx: TxQueue,
    data_path: DataPath,
    /// The tx ring holds frames the kernel has not taken yet: the next kick is due.
    tx_unkicked: bool,
    received: u64,
    transmitted: u64,
    umem: Umem,
}

impl NetstackSocket {
    pub(super) fn new(queue: u32, netstack: usize, umem: Umem, rx: RxQueue, tx: TxQueue, data_path: DataPath) -> Self {
        Self {
            queue,
            netstack,
            rx,
            tx,
            data_path,
            tx_unkicked: false,
            received: 0,
            transmitted: 0,
            umem,
        }
    }

    /// The rx queue the socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// The netstack whose socket it is.
    pub fn netstack(&self) -> usize {
        self.netstack
    }

    /// The socket, to register in the XSKMAP.
    pub fn fd(&self) -> BorrowedFd<'_> {
        // Safety: the descriptor belongs to the socket `self.rx` keeps open; the borrow cannot outlive `self`.
        unsafe { BorrowedFd::borrow_raw(self.raw_fd()) }
    }

    /// The raw descriptor, for `poll()`.
    pub fn raw_fd(&self) -> RawFd {
        self.rx.fd().as_raw_fd()
    }

    /// Takes up to `descs.len()` received buffers from the rx ring into `descs`; returns how many. A buffer
    /// flagged [`FrameDesc::has_more_frames`] continues in the next one. The buffers are the caller's until
    /// given back to the queue's fill ring or transmitted.
    #[inline]
    pub fn receive(&mut self, descs: &mut [FrameDesc]) -> usize {
        // Safety: the rx rings of this queue only ever carry frames of `self.umem`.
        let n = unsafe { self.rx.consume(descs) };
        self.received += n as u64;
        n
    }

    /// The bytes of the received buffer `desc`.
    ///
    /// # Safety
    /// `desc` was taken with [`receive`](Self::receive) from this socket and is neither given back nor
    /// transmitted while the slice lives (until then the kernel does not write the buffer).
    #[inline]
    pub unsafe fn bytes(&self, desc: &FrameDesc) -> &[u8] {
        // Safety: by the caller's contract the buffer is ours and only read.
        unsafe { self.umem.data(desc) }.contents()
    }

    /// Rewrites the received buffer `desc` in place with `build`, which gets the writable buffer from the
    /// packet's start to the chunk's end and the current length, and returns the new length (or `None` to
    /// leave the length as it was). Returns whether `build` gave a length.
    ///
    /// # Safety
    /// `desc` was taken with [`receive`](Self::receive) from this socket, is held by the caller and no slice
    /// from [`bytes`](Self::bytes) of it lives.
    #[inline]
    pub unsafe fn rewrite(&self, desc: &mut FrameDesc, build: impl FnOnce(&mut [u8], usize) -> Option<usize>) -> bool {
        let len = desc.lengths().data();
        // Safety: by the caller's contract nothing else reads or writes the buffer.
        let mut data = unsafe { self.umem.data_mut(desc) };
        // The cursor clamps to the chunk's end: the contents are then the whole writable buffer.
        data.cursor().set_pos(usize::MAX);
        let built = build(data.contents_mut(), len);
        data.cursor().set_pos(built.unwrap_or(len));
        built.is_some()
    }

    /// Writes `bytes` into the free egress frame `desc` (from this queue's [`super::EgressPool`]) and sets
    /// its length; returns how many bytes fit (at most [`super::BUFFER_LEN`]).
    ///
    /// # Safety
    /// `desc` is a frame of this UMEM that neither the kernel nor anyone else uses.
    #[inline]
    pub unsafe fn write(&self, desc: &mut FrameDesc, bytes: &[u8]) -> usize {
        // Safety: by the caller's contract the frame is ours alone.
        let mut data = unsafe { self.umem.data_mut(desc) };
        data.cursor().set_pos(usize::MAX);
        let buf = data.contents_mut();
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        data.cursor().set_pos(n);
        n
    }

    /// Puts the chain `descs` (one frame: every buffer but the last flagged `XDP_PKT_CONTD`) on the tx ring,
    /// all or nothing; returns false when the ring has no room for all of it (the frame stays the caller's).
    #[inline]
    pub fn transmit(&mut self, descs: &[FrameDesc]) -> bool {
        // Safety: `descs` are frames of this UMEM the caller holds; from here the kernel owns them until the
        // completion ring gives them back.
        let queued = unsafe { self.tx.produce(descs) };
        if queued == 0 && !descs.is_empty() {
            return false;
        }
        self.transmitted += queued as u64;
        self.tx_unkicked = true;
        true
    }

    /// Whether the tx ring holds frames that still need a kick.
    #[inline]
    pub fn tx_pending(&self) -> bool {
        self.tx_unkicked
    }

    /// Kicks the kernel to send what the tx ring holds, if it needs a kick: one `sendto` at most. In copy mode
    /// the kernel sends up to its tx budget per kick and says `EAGAIN` when more is left; the socket then stays
    /// pending and the next round kicks again.
    ///
    /// # Errors
    /// An errno other than the transient ones (`EAGAIN`, `EBUSY`, `ENOBUFS`, `ENETDOWN`).
    #[inline]
    pub fn kick(&mut self) -> io::Result<()> {
        if !self.tx_unkicked {
            return Ok(());
        }
        if self.data_path == DataPath::ZeroCopy && !self.tx.needs_wakeup() {
            self.tx_unkicked = false;
            return Ok(());
        }
        // Safety: a zero-length sendto on the socket's own descriptor, which is what AF_XDP takes as a kick.
        let ret = unsafe {
            libc::sendto(
                self.tx.fd().as_raw_fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if ret >= 0 {
            self.tx_unkicked = false;
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS) => Ok(()),
            // The link is down: what the ring holds goes out with the next kick after it comes back.
            Some(libc::ENETDOWN) => {
                self.tx_unkicked = false;
                Ok(())
            }
            _ => Err(err),
        }
    }

    /// The kernel's statistics of the socket.
    ///
    /// # Errors
    /// The errno of `getsockopt(XDP_STATISTICS)`.
    pub fn statistics(&self) -> io::Result<SocketStats> {
        let stats = self.rx.fd().xdp_statistics()?;
        Ok(SocketStats {
            rx_dropped: stats.rx_dropped(),
            rx_ring_full: stats.rx_ring_full(),
            rx_fill_ring_empty: stats.rx_fill_ring_empty_descs(),
            rx_invalid_descs: stats.rx_invalid_descs(),
            tx_invalid_descs: stats.tx_invalid_descs(),
        })
    }

    /// The books so far (the socket's side: buffers received and transmitted).
    pub fn account(&self) -> UmemAccount {
        UmemAccount {
            received: self.received,
            transmitted: self.transmitted,
            ..UmemAccount::default()
        }
    }
}
