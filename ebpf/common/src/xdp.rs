//! The XDP program's interface to userspace: its verdict counters and its configuration record.
//!
//! Map *names* and sizes live with the program (`ebpf/classifier`) and its loader (`engine/src/xdp`); what both
//! sides must agree on byte for byte lives here.

use crate::reason::DropReason;

/// What the XDP program did with a frame. Each frame gets exactly one, so the counters add up to frames seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XdpVerdict {
    /// Steered to a vmk and handed to `bpf_redirect_map` with a socket in the slot (`XDP_REDIRECT`).
    Redirected,
    /// Not a VMkernel frame: passed to Linux.
    PassedNotOurs,
    /// Steered to a vmk but no AF_XDP socket is registered in the slot: passed to Linux.
    PassedNoSocket,
    /// Steered to a vmk and discarded (`XDP_DROP`) instead of redirected: the classifier runs in ceiling mode
    /// ([`XdpConfig::ceiling`]), which measures what classifying alone costs.
    Discarded,
    /// Dropped in the XDP program.
    Dropped(DropReason),
}

impl XdpVerdict {
    /// Length of the per-CPU counter array: four redirect/pass/discard counters and one per drop reason.
    pub const COUNTERS: u32 = DROPPED_FROM + DropReason::COUNT as u32;

    /// Index of this verdict's counter.
    pub const fn counter(self) -> u32 {
        match self {
            Self::Redirected => 0,
            Self::PassedNotOurs => 1,
            Self::PassedNoSocket => 2,
            Self::Discarded => 3,
            Self::Dropped(reason) => DROPPED_FROM + reason as u32,
        }
    }

    /// The verdict counted at `index`, the inverse of [`counter`](Self::counter).
    pub const fn from_counter(index: u32) -> Option<Self> {
        match index {
            0 => Some(Self::Redirected),
            1 => Some(Self::PassedNotOurs),
            2 => Some(Self::PassedNoSocket),
            3 => Some(Self::Discarded),
            i if i < Self::COUNTERS => Some(Self::Dropped(DropReason::ALL[(i - DROPPED_FROM) as usize])),
            _ => None,
        }
    }
}

/// Index of the first drop counter: the verdicts before it are not drops.
const DROPPED_FROM: u32 = 4;

/// Index of the learn counter of announcements written to the learn ring buffer.
pub const LEARN_REPORTED: u32 = 0;
/// Index of the learn counter of announcements lost because the learn ring buffer was full.
pub const LEARN_RING_FULL: u32 = 1;
/// Length of the per-CPU learn counter array.
pub const LEARN_COUNTERS: u32 = 2;

/// The program's configuration, the single element of its config array.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct XdpConfig {
    /// Number of netstacks: the XSKMAP slot of a frame is `rx_queue * n_netstacks + netstack`.
    pub n_netstacks: u32,
    /// Ceiling mode when non-zero: every frame is classified as usual, but one steered to a vmk is dropped and
    /// counted [`XdpVerdict::Discarded`] instead of redirected; passes and drops are unchanged. The benchmark's
    /// "XDP ceiling": what the classifier costs with no socket behind it. A `u32`, not a `bool`, so that every
    /// bit pattern of the record is valid.
    pub ceiling: u32,
}

impl XdpConfig {
    /// The configuration for `n_netstacks` netstacks, in ceiling mode or not.
    pub const fn new(n_netstacks: u32, ceiling: bool) -> Self {
        Self {
            n_netstacks,
            ceiling: ceiling as u32,
        }
    }
}

// Safety: `#[repr(C)]` over two `u32`s: no padding, every bit pattern valid.
#[cfg(feature = "user")]
unsafe impl aya::Pod for XdpConfig {}

/// The XSKMAP slot of the socket that serves `netstack` on `rx_queue`.
pub const fn socket_slot(rx_queue: u32, n_netstacks: u32, netstack: u32) -> u32 {
    rx_queue.wrapping_mul(n_netstacks).wrapping_add(netstack)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_indices_are_dense_and_invertible() {
        for index in 0..XdpVerdict::COUNTERS {
            let verdict = XdpVerdict::from_counter(index).expect("dense");
            assert_eq!(verdict.counter(), index);
        }
        assert_eq!(XdpVerdict::from_counter(XdpVerdict::COUNTERS), None);
        assert_eq!(
            XdpVerdict::from_counter(DROPPED_FROM),
            Some(XdpVerdict::Dropped(DropReason::ALL[0]))
        );
    }

    #[test]
    fn the_config_record_has_no_padding() {
        assert_eq!(size_of::<XdpConfig>(), 8);
        assert_eq!(
            XdpConfig::new(3, true),
            XdpConfig {
                n_netstacks: 3,
                ceiling: 1
            }
        );
        assert_eq!(XdpConfig::new(3, false).ceiling, 0);
    }
}
