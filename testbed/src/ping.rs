//! Echo requests through the kernel's own stack, as `ping` sends them: a raw ICMP or ICMPv6 socket in the
//! calling thread's namespace (run it in the switch side with [`Topology::spawn_in_netns`]).
//!
//! The kernel resolves the destination first (ARP, or neighbour discovery for IPv6), so an answer proves the
//! neighbour resolution too. No `ping` binary is needed (iputils is not part of the build's dependencies).
//!
//! [`Topology::spawn_in_netns`]: crate::Topology::spawn_in_netns

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::time::Duration;

use crate::topology::cvt;

/// ICMP header bytes before the echo payload.
const ECHO_HEADER: usize = 8;
/// Replies to look at before giving up (other ICMP traffic reaches a raw socket too).
const MAX_READS: usize = 64;

/// Sends one echo request with `payload` bytes to `dst` and waits up to `timeout` for its reply; returns the
/// reply's payload length after checking that it echoes the request's bytes. With `dont_fragment` (IPv4), the
/// request must leave in one piece (`ping -M do`): a payload the path MTU cannot carry is an error.
///
/// # Errors
/// A socket error, `TimedOut` when no matching reply came, `InvalidData` when the reply's payload differs.
pub fn ping(dst: IpAddr, payload: usize, dont_fragment: bool, timeout: Duration) -> io::Result<usize> {
    let (domain, protocol, request_type, reply_type) = match dst {
        IpAddr::V4(_) => (libc::AF_INET, libc::IPPROTO_ICMP, 8u8, 0u8),
        IpAddr::V6(_) => (libc::AF_INET6, libc::IPPROTO_ICMPV6, 128, 129),
    };
    // Safety: plain socket(2); the descriptor is owned at once.
    let fd = unsafe {
        OwnedFd::from_raw_fd(cvt(libc::socket(
            domain,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        ))?)
    };
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(timeout.subsec_micros()),
    };
    set_option(&fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)?;
    if dont_fragment && dst.is_ipv4() {
        set_option(&fd, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, &libc::IP_PMTUDISC_DO)?;
    }
    let id = (std::process::id() & 0xffff) as u16;
    let seq = (payload & 0xffff) as u16;
    let mut request = vec![0u8; ECHO_HEADER + payload];
    request[0] = request_type;
    request[4..6].copy_from_slice(&id.to_be_bytes());
    request[6..8].copy_from_slice(&seq.to_be_bytes());
    for (i, byte) in request[ECHO_HEADER..].iter_mut().enumerate() {
        *byte = (i % 251) as u8;
    }
    if dst.is_ipv4() {
        // ICMPv6 raw sockets get their checksum from the kernel; ICMP ones do not.
        let sum = checksum(&request);
        request[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    let (addr, addr_len) = sockaddr(SocketAddr::new(dst, 0));
    // Safety: `request` and `addr` are valid for the lengths passed.
    let sent = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            request.as_ptr().cast(),
            request.len(),
            0,
            (&raw const addr).cast(),
            addr_len,
        )
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 65_536];
    for _ in 0..MAX_READS {
        // Safety: `buf` is valid for writes of its length.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.kind() {
                io::ErrorKind::WouldBlock => {
                    io::Error::new(io::ErrorKind::TimedOut, format!("no echo reply from {dst}"))
                }
                _ => err,
            });
        }
        let packet = &buf[..n as usize];
        // An IPv4 raw socket hands over the IP header too; an IPv6 one does not.
        let icmp = match dst {
            IpAddr::V4(_) => packet.get(usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4..),
            IpAddr::V6(_) => Some(packet),
        };
        let Some(icmp) = icmp.filter(|icmp| icmp.len() >= ECHO_HEADER) else {
            continue;
        };
        if icmp[0] != reply_type || icmp[4..6] != id.to_be_bytes() || icmp[6..8] != seq.to_be_bytes() {
            continue;
        }
        if icmp[ECHO_HEADER..] != request[ECHO_HEADER..] {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "echo reply from {dst} carries {} bytes that differ from the request's",
                    icmp.len() - ECHO_HEADER
                ),
            ));
        }
        return Ok(icmp.len() - ECHO_HEADER);
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no echo reply from {dst} among {MAX_READS} packets"),
    ))
}

/// The Internet checksum (RFC 1071) of `bytes`.
fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn set_option<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // Safety: `value` is valid for reads of its size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `addr` as a `sockaddr_storage` and its length.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // Safety: all-zero is a valid sockaddr_storage.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // Safety: sockaddr_storage is larger than and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from(*v4.ip()).to_be();
            size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // Safety: sockaddr_storage is larger than and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&raw mut storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_an_echo_request_verifies() {
        let mut request = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1, 0xde, 0xad, 0xbe];
        let sum = checksum(&request);
        request[2..4].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(checksum(&request), 0, "a packet with its checksum sums to zero");
        // RFC 1071's example: 0x0001 + 0xf203 + 0xf4f5 + 0xf6f7 = 0xddf2 (folded), complemented.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
    }
}
