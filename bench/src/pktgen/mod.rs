//! vmknet-pktgen: a packet generator built on XDP live frames, with pktgen's knobs.
//!
//! skb-based senders (AF_PACKET, trafgen, tcpreplay) stop at about 0.6 Mpps per core on the project's machines;
//! the kernel's pktgen is often not built. The fast method is xdp-trafficgen's: a tiny XDP program that returns
//! `bpf_redirect(ifindex, 0)`, run by `BPF_PROG_TEST_RUN` with `BPF_F_TEST_XDP_LIVE_FRAMES` (kernel 5.18 or
//! later). The kernel then builds each frame in a page-pool page straight from the template, runs the program
//! and hands what it redirects to the interface's `ndo_xdp_xmit`, in batches (`batch_size`, at most 256) and
//! `repeat` frames per system call, with no skb at all. One thread per CPU, each pinned.
//!
//! - [`frame`]: the UDP template and the ranges varied per frame ([`UdpFlows`]).
//! - [`templates`]: the frames a replay plays, from a pcap/pcapng capture or the testbed's vSphere mix.
//! - [`programs`]: loader of the XDP programs (`ebpf/pktgen`): the flow generator, the replayer and the
//!   counting [`Sink`] a receiver attaches; the live-frame size limit probe.
//! - [`run`](mod@run): the per-thread send loop shared by both transmit methods: count, duration, rate, stop.
//! - [`afpacket`]: the fallback transmit method for devices without `ndo_xdp_xmit`: AF_PACKET `sendmmsg`.
//! - [`stamp`](mod@stamp): the send-time stamps (`--timestamp`), the end-to-end benchmark's latency probe: which
//!   templates can carry one, and the clock.
//!
//! Counting: the generator reports the frames the kernel ran (`offered`, the sum of completed `repeat`s) and
//! the frames its program redirected (per-CPU counters, exact even when a run is interrupted); what arrived is
//! the receiver's to say, with the [`Sink`] (frames and bytes per CPU) or its own counters.

pub mod afpacket;
pub mod frame;
pub mod programs;
pub mod run;
pub mod stamp;
pub mod templates;

use std::io;

pub use frame::{IpRange, PortRange, UdpFlows};
pub use programs::{Generator, LiveTx, Sink, SinkAction, live_frame_limit};
pub use run::{Method, Pace, Report, run};
pub use vmknet_common::pktgen::GenCounters;

/// An error of the packet generator, saying what to change where it can.
#[derive(Debug, thiserror::Error)]
pub enum PktgenError {
    /// The parameters cannot make the traffic asked for.
    #[error("{0}")]
    Invalid(String),
    /// No interface has this name.
    #[error("interface `{0}` not found (see `ip link`)")]
    InterfaceNotFound(String),
    /// Loading the embedded XDP programs or their maps failed.
    #[error("loading the packet generator's XDP object failed (root, or CAP_BPF and CAP_NET_ADMIN, needed)")]
    Load(#[source] aya::EbpfError),
    /// An operation on a program failed.
    #[error("{action} failed{hint}")]
    Program {
        /// What was attempted.
        action: String,
        /// What to change, where known.
        hint: &'static str,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// Reading or writing a map failed.
    #[error("map `{name}`: {action} failed")]
    Map {
        /// The map.
        name: &'static str,
        /// What was attempted.
        action: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    /// The embedded object lacks a map or program: the build is out of step.
    #[error("the embedded XDP object has no `{0}`; rebuild vmknet-bench")]
    Missing(&'static str),
    /// A capture could not be read.
    #[error(transparent)]
    Capture(#[from] vmknet::io::CaptureError),
    /// A system call failed.
    #[error("{action}: {source}")]
    Io {
        /// What was attempted.
        action: String,
        /// The error.
        #[source]
        source: io::Error,
    },
}

impl PktgenError {
    fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }
}

/// The index of the interface `name` in this thread's network namespace.
///
/// # Errors
/// [`PktgenError::InterfaceNotFound`].
pub fn ifindex(name: &str) -> Result<u32, PktgenError> {
    let c_name = std::ffi::CString::new(name).map_err(|_| PktgenError::InterfaceNotFound(name.to_owned()))?;
    // Safety: `c_name` is NUL-terminated.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(PktgenError::InterfaceNotFound(name.to_owned())),
        index => Ok(index),
    }
}

/// The MAC address of the interface `name` in this process's network namespace.
///
/// # Errors
/// [`PktgenError::Io`] when sysfs has no such interface.
pub fn interface_mac(name: &str) -> Result<[u8; 6], PktgenError> {
    let path = format!("/sys/class/net/{name}/address");
    let text = std::fs::read_to_string(&path).map_err(|err| PktgenError::io(format!("reading {path}"), err))?;
    parse_mac(text.trim()).map_err(PktgenError::Invalid)
}

/// Parses `aa:bb:cc:dd:ee:ff`.
///
/// # Errors
/// A message naming the text when it is not six colon-separated hex bytes.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("`{text}` is not a MAC address (aa:bb:cc:dd:ee:ff)");
    let mut mac = [0; 6];
    let mut parts = text.split(':');
    for byte in &mut mac {
        let part = parts.next().filter(|p| (1..=2).contains(&p.len())).ok_or_else(bad)?;
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse_and_bad_ones_are_named() {
        assert_eq!(parse_mac("00:50:56:6a:20:01"), Ok([0, 0x50, 0x56, 0x6a, 0x20, 1]));
        for bad in [
            "",
            "00:50:56:6a:20",
            "00:50:56:6a:20:01:02",
            "00:50:56:6a:20:1ff",
            "zz:50:56:6a:20:01",
        ] {
            assert!(parse_mac(bad).unwrap_err().contains(bad), "{bad}");
        }
    }
}
