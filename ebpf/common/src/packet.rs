//! The linear data of the packet an eBPF program runs on, `[data, data_end)`, as [`FrameBytes`]: the bounds
//! check in the one form the verifier learns a range from (packet pointers compared, not lengths), shared by
//! the XDP programs (`ebpf/classifier`, `ebpf/pktgen`) so each does not carry its own copy.

use crate::classify::FrameBytes;
use crate::pktgen::FrameBytesMut;

/// `[data, data_end)` of an XDP packet's linear part (its first buffer).
#[derive(Clone, Copy, Debug)]
pub struct LinearPacket {
    data: usize,
    data_end: usize,
}

impl LinearPacket {
    /// The packet whose linear data spans `[data, data_end)`.
    ///
    /// # Safety
    /// The range must be the linear data of the packet the running program was given (`XdpContext::data`,
    /// `data_end`): readable, and writable where the program writes, for as long as the value is used.
    #[inline(always)]
    pub const unsafe fn new(data: usize, data_end: usize) -> Self {
        Self { data, data_end }
    }
}

impl FrameBytes for LinearPacket {
    #[inline(always)]
    fn len(&self) -> usize {
        self.data_end - self.data
    }

    #[inline(always)]
    fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let start = self.data + offset;
        if start + N > self.data_end {
            return None;
        }
        // Safety: `[start, start + N)` lies inside the packet's linear data (checked just above; `new`'s
        // contract makes the range readable).
        Some(unsafe { (start as *const [u8; N]).read_unaligned() })
    }
}

impl FrameBytesMut for LinearPacket {
    #[inline(always)]
    fn write<const N: usize>(&mut self, offset: usize, bytes: [u8; N]) -> Option<()> {
        let start = self.data + offset;
        if start + N > self.data_end {
            return None;
        }
        // Safety: as in `read`; XDP packet data is writable (`new`'s contract).
        unsafe { (start as *mut [u8; N]).write_unaligned(bytes) };
        Some(())
    }
}
