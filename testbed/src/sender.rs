//! An AF_PACKET sender on the peer end of a [`Topology`]: a thread that joins the namespace, pins itself to a
//! CPU (which, with the topology's XPS, picks the tx queue and so the host end's rx queue) and sends a bounded
//! set of frames, one `sendto` each.
//!
//! skb-based sending tops out at about 0.5–0.65 Mpps per core on these machines: enough for functional runs
//! and the demo, not for throughput measurements.

use std::io;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::thread::JoinHandle;

use crate::topology::{Topology, cvt};

/// Sends each of `frames` once on `interface` (in the calling thread's namespace) with a raw AF_PACKET socket;
/// returns how many were sent.
///
/// # Errors
/// The first failing socket call; frames sent before it stay sent.
pub fn send_frames(interface: &str, frames: &[Vec<u8>]) -> io::Result<u64> {
    let name = std::ffi::CString::new(interface)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in the interface name"))?;
    // Safety: `name` is NUL-terminated.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: plain socket(2); the descriptor is owned at once.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            0,
        ))?)
    };
    // Safety: all-zero is a valid sockaddr_ll; the fields that matter are set next.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    addr.sll_halen = 6;
    let mut sent = 0;
    for frame in frames {
        // Safety: `frame` and `addr` are valid for the lengths passed.
        let n = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&raw const addr).cast(),
                size_of_val(&addr) as libc::socklen_t,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return Err(io::Error::new(
                err.kind(),
                format!("sending frame {sent} ({} bytes): {err}", frame.len()),
            ));
        }
        sent += 1;
    }
    Ok(sent)
}

/// Sends `frames` from the topology's peer end, from a thread pinned to `cpu` inside its namespace; the
/// thread returns how many it sent.
pub fn send_from_peer(topology: &Topology, cpu: usize, frames: Vec<Vec<u8>>) -> JoinHandle<io::Result<u64>> {
    let peer = topology.peer.clone();
    topology.spawn_in_netns(&format!("send-cpu{cpu}"), move || {
        vmknet::runtime::pin_thread(0, cpu)?;
        send_frames(&peer, &frames)
    })
}
