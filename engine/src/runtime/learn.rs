//! Neighbours' announcements into the owners' neighbour caches.
//!
//! A gratuitous ARP or an unsolicited neighbour advertisement is broadcast (or sent to all nodes): it belongs
//! to Linux as much as to the vmks, and the classifier can only redirect a frame *or* pass it. So it passes
//! it, and reports what it announces (VLAN, address, MAC) in its learn ring buffer, only on VLANs that carry
//! a vmk. The [`Learner`], a thread of its own beside the workers, sleeps on the ring buffer's descriptor,
//! and hands each record as a gratuitous [`LearnEvent`] to the owner of every netstack with a vmk on that
//! VLAN, through the queue and doorbell the workers' journals use. The owner merges it into an existing
//! entry only ([`crate::netstack::NeighborCache::update_from_gratuitous`]). The workers do nothing per
//! frame for it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use vmknet_common::Announcement;

use super::local::Shared;
use crate::model::{HostModel, MacAddr, NetstackId};
use crate::netstack::{LearnEvent, Learned};
use crate::xdp::LearnRing;

/// How long the learner sleeps on the ring buffer before it looks at the stop flag again.
const POLL_MS: i32 = 100;

/// Drains the learn ring buffer into the owners' learn queues (see the module doc).
pub(super) struct Learner {
    ring: LearnRing,
    /// (VLAN, netstack) of every vmk, sorted, without repeats.
    vlans: Vec<(u16, NetstackId)>,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
}

impl Learner {
    /// A learner for the vmks of `model`.
    pub(super) fn new(ring: LearnRing, model: &HostModel, shared: Arc<Shared>, stop: Arc<AtomicBool>) -> Self {
        let mut vlans: Vec<(u16, NetstackId)> = model.vmks.iter().map(|v| (v.vlan, v.netstack)).collect();
        vlans.sort_unstable_by_key(|&(vlan, netstack)| (vlan, netstack.index()));
        vlans.dedup();
        Self {
            ring,
            vlans,
            shared,
            stop,
        }
    }

    /// Runs until the stop flag is raised.
    pub(super) fn run(mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            let mut poll = libc::pollfd {
                fd: self.ring.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // Safety: one valid pollfd for the duration of the call. An error or a timeout just leads to a
            // drain that finds nothing.
            unsafe { libc::poll(&raw mut poll, 1, POLL_MS) };
            self.drain();
        }
    }

    /// Hands every record in the ring to the owners.
    fn drain(&mut self) {
        while let Some(item) = self.ring.next() {
            let Some((vlan, event)) = decode(&item) else {
                continue;
            };
            let start = self.vlans.partition_point(|&(v, _)| v < vlan);
            for &(_, netstack) in self.vlans[start..].iter().take_while(|&&(v, _)| v == vlan) {
                self.shared.announce(netstack, event);
            }
        }
    }
}

/// The VLAN and gratuitous learn event of a ring buffer record; `None` for a record of the wrong size or
/// family (a program out of step with the engine).
fn decode(record: &[u8]) -> Option<(u16, LearnEvent)> {
    if record.len() < size_of::<Announcement>() {
        return None;
    }
    // Safety: `record` holds at least one `Announcement`, a `#[repr(C)]` type valid for any bytes; the
    // read is unaligned.
    let announcement = unsafe { record.as_ptr().cast::<Announcement>().read_unaligned() };
    let ip = match announcement.family {
        4 => {
            let [a, b, c, d, ..] = announcement.addr;
            IpAddr::V4(Ipv4Addr::new(a, b, c, d))
        }
        6 => IpAddr::V6(Ipv6Addr::from(announcement.addr)),
        _ => return None,
    };
    let event = LearnEvent {
        ip,
        mac: MacAddr(announcement.mac),
        how: Learned::Gratuitous,
    };
    Some((announcement.vlan, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(record: &Announcement) -> Vec<u8> {
        // Safety: `Announcement` is `#[repr(C)]` with explicit padding: every byte is initialised.
        unsafe { std::slice::from_raw_parts((record as *const Announcement).cast::<u8>(), size_of::<Announcement>()) }
            .to_vec()
    }

    #[test]
    fn records_decode_to_gratuitous_events() {
        let mut record = Announcement {
            vlan: 20,
            family: 4,
            pad: 0,
            mac: [2, 0, 0, 0, 0, 0x99],
            pad2: [0; 2],
            addr: [0; 16],
        };
        record.addr[..4].copy_from_slice(&[10, 0, 0, 50]);
        let (vlan, event) = decode(&bytes(&record)).expect("IPv4");
        assert_eq!(vlan, 20);
        assert_eq!(event.ip, "10.0.0.50".parse::<IpAddr>().unwrap());
        assert_eq!((event.mac, event.how), (MacAddr(record.mac), Learned::Gratuitous));
        record.family = 6;
        record.addr = "fd00::50".parse::<Ipv6Addr>().unwrap().octets();
        let (_, event) = decode(&bytes(&record)).expect("IPv6");
        assert_eq!(event.ip, "fd00::50".parse::<IpAddr>().unwrap());
        assert_eq!(decode(&bytes(&record)[..27]), None, "short record");
        record.family = 5;
        assert_eq!(decode(&bytes(&record)), None);
    }
}
