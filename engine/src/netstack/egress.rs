//! The egress path of a netstack: an IP packet one of its vmks sends, turned into Ethernet frames.
//!
//! ```text
//! packet ─► route (this stack's table; the sending vmk's gateway override) ─► egress vmk, next hop
//!        ─► egress MTU: fits │ IPv4 DF clear: fragments │ DF set / IPv6: refused
//!        ─► neighbour: broadcast/multicast mapped │ resolved MAC │ unresolved: the packet waits, a request goes out
//!        ─► Ethernet header with the vmk's MAC and 802.1Q tag (none on VLAN 0) ─► frame(s) in the caller's buffer
//! ```
//!
//! The MTU is checked before the neighbour so a packet that will be refused never waits for resolution.
//! A refusal is a local error for packets the host generates ([`EgressError::MessageTooLong`], what vmkping
//! prints as `sendto() failed (Message too long)`, fact sheet §4.4) and an [`Outcome::TooBig`] for forwarded
//! ones, answered with [`Egress::write_too_big`]. IPv6 packets are never fragmented here: a router never
//! fragments IPv6 (RFC 8200 §5) and vmknet does not fragment at the source either (no Fragment header is
//! added), so an oversize IPv6 packet is refused in both cases.
//!
//! Packets waiting for a neighbour are the caller's, named by a `u32` handle (a UMEM frame index, say) kept in
//! the neighbour cache's bounded ring; [`Egress::resolved`] hands them back when the reply arrives, and the
//! caller sends each again. Requests are rate-limited by the cache (per destination and per netstack).
//!
//! Nothing here allocates, locks, reads a clock or panics: time is `now_ns`, buffers are the caller's.
//! Stack isolation holds by construction: an [`Egress`] sees one netstack's table and cache, and a vmk of another
//! stack finds no route in them.

use std::net::IpAddr;

use super::fragment::{FragmentError, Fragmenter};
use super::icmp_error::{self, IcmpErrorRefusal};
use super::link::{self, Link};
use super::{Enqueue, Lookup, NeighborCache, Route, RouteTable, Update};
use crate::model::{HostModel, MacAddr, Vmk, VmkId};
use crate::wire::ethernet::{ETH_HEADER_LEN, ETHERTYPE_IPV4, ETHERTYPE_IPV6, VLAN_TAG_LEN};
use crate::wire::{Ipv4Error, Ipv4Packet, Ipv6Error, Ipv6Packet, arp, icmpv6, ipv6};

/// Who generated the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The host itself (vmkping, a service): an oversize refusal is a local error.
    Local,
    /// Another host, forwarded: an oversize refusal is answered with an ICMP error to its source.
    Forwarded,
}

/// Why a packet cannot be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// Neither IPv4 nor IPv6.
    #[error("not an IP packet (version {0})")]
    NotIp(u8),
    /// A malformed IPv4 packet.
    #[error("malformed IPv4 packet: {0}")]
    Ipv4(#[from] Ipv4Error),
    /// A malformed IPv6 packet.
    #[error("malformed IPv6 packet: {0}")]
    Ipv6(#[from] Ipv6Error),
    /// No route to the destination in this netstack (or the sending vmk is not on it).
    #[error("Network is unreachable")]
    NoRoute {
        /// The destination.
        dst: IpAddr,
    },
    /// The egress vmk is not in the host model.
    #[error("no adapter with id {0:?}")]
    UnknownAdapter(VmkId),
    /// The egress vmk is disabled.
    #[error("Network is down")]
    AdapterDown {
        /// The adapter.
        interface: VmkId,
    },
    /// The egress vmk has no address of the destination's family to resolve the next hop from.
    #[error("Can't assign requested address")]
    NoSourceAddress {
        /// The adapter.
        interface: VmkId,
    },
    /// A locally generated packet longer than the egress MTU that may not be fragmented.
    #[error("Message too long")]
    MessageTooLong {
        /// The egress adapter's MTU.
        mtu: u16,
    },
    /// The MTU cannot carry fragments of this packet.
    #[error("{0}")]
    Fragment(FragmentError),
    /// A caller's buffer is too small.
    #[error("buffer of {len} bytes cannot hold {needed} bytes")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        len: usize,
    },
}

/// What became of a packet.
#[derive(Debug)]
pub enum Outcome<'p> {
    /// Ready: write its frames with [`Frames::write_next`].
    Send(Frames<'p>),
    /// The next hop is not resolved yet.
    Unresolved(Unresolved),
    /// A forwarded packet too big for the egress MTU that may not be fragmented: answer it with
    /// [`Egress::write_too_big`].
    TooBig(TooBig),
}

/// A packet waiting for its next hop to be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The address being resolved.
    pub next_hop: IpAddr,
    /// The adapter the packet will leave from.
    pub interface: VmkId,
    /// What the neighbour cache did with the packet's handle: a `Rejected` or `DroppedOldest` handle is the
    /// caller's to free.
    pub queued: Enqueue,
    /// Length of the ARP request or neighbour solicitation frame written at the start of the request
    /// buffer, when one is due now (`None`: rate-limited, one went out recently).
    pub request_len: Option<usize>,
}

/// A forwarded packet refused for its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooBig {
    /// The adapter whose MTU it exceeds.
    pub interface: VmkId,
    /// That MTU.
    pub mtu: u16,
}

/// The frames of one packet, written one at a time into the caller's buffers.
#[derive(Debug)]
pub struct Frames<'p> {
    link: Link,
    body: Body<'p>,
}

#[derive(Debug)]
enum Body<'p> {
    /// IPv4, as one packet or fragments.
    V4(Fragmenter<'p>),
    /// IPv6, whole (`None` once written).
    V6(Option<&'p [u8]>),
}

impl Frames<'_> {
    /// The link the frames go out on.
    pub const fn link(&self) -> &Link {
        &self.link
    }

    /// How many frames remain to be written.
    pub fn remaining(&self) -> usize {
        match &self.body {
            Body::V4(fragments) => fragments.remaining(),
            Body::V6(packet) => usize::from(packet.is_some()),
        }
    }

    /// Writes the next frame into `out` and returns its length, or `None` when all were written.
    ///
    /// # Errors
    /// [`EgressError::BufferTooSmall`] (nothing is consumed: retry with a larger buffer).
    pub fn write_next(&mut self, out: &mut [u8]) -> Result<Option<usize>, EgressError> {
        let header_len = self.link.header_len();
        match &mut self.body {
            Body::V4(fragments) => {
                let Some(ip_len) = fragments.next_len() else {
                    return Ok(None);
                };
                let needed = header_len + ip_len;
                let len = out.len();
                let out = out
                    .get_mut(..needed)
                    .ok_or(EgressError::BufferTooSmall { needed, len })?;
                self.link.write_header(out, ETHERTYPE_IPV4)?;
                fragments
                    .write_next(&mut out[header_len..])
                    .map_err(EgressError::Fragment)?;
                Ok(Some(needed))
            }
            Body::V6(packet) => {
                let Some(bytes) = *packet else {
                    return Ok(None);
                };
                let written = self.link.write_frame(out, ETHERTYPE_IPV6, bytes)?;
                *packet = None;
                Ok(Some(written))
            }
        }
    }
}

/// The longest ARP request or neighbour solicitation frame [`Egress::send`] writes: a tagged Ethernet
/// header, an IPv6 header and a solicitation with its source link-layer address option.
pub const MAX_REQUEST_LEN: usize = ETH_HEADER_LEN + VLAN_TAG_LEN + ipv6::HEADER_LEN + icmpv6::SOLICITATION_LEN;

/// What the neighbour cache says of a next hop.
enum NextHop {
    Resolved(MacAddr),
    Waiting(Unresolved),
}

/// The egress path over one netstack's routing table and neighbour cache (see the module doc).
#[derive(Debug)]
pub struct Egress<'a> {
    model: &'a HostModel,
    routes: &'a RouteTable,
    neighbors: &'a mut NeighborCache,
}

/// What the egress needs of a packet's IP header.
struct Header {
    dst: IpAddr,
    /// The packet's bytes, Ethernet padding removed.
    len: usize,
    /// IPv4 with DF clear.
    fragmentable: bool,
}

impl<'a> Egress<'a> {
    /// The egress of the netstack whose routing table is `routes` and neighbour cache `neighbors` (the cache
    /// the ingress path updates from ARP replies and neighbour advertisements), with the adapters of `model`,
    /// the snapshot the table was compiled from.
    pub const fn new(model: &'a HostModel, routes: &'a RouteTable, neighbors: &'a mut NeighborCache) -> Self {
        Self {
            model,
            routes,
            neighbors,
        }
    }

    /// Sends `packet` (an IPv4 or IPv6 packet) through the netstack, from `from` when given (as `vmkping -I`:
    /// the adapter's gateway override applies) or from whichever adapter the route picks. `handle` names the
    /// packet if it must wait for its next hop; `request_out` receives the ARP request or neighbour
    /// solicitation frame then ([`MAX_REQUEST_LEN`] bytes are always enough).
    ///
    /// # Errors
    /// See [`EgressError`]. A local oversize packet that may not be fragmented is
    /// [`EgressError::MessageTooLong`].
    pub fn send<'p>(
        &mut self,
        packet: &'p [u8],
        from: Option<VmkId>,
        origin: Origin,
        handle: u32,
        now_ns: u64,
        request_out: &mut [u8],
    ) -> Result<Outcome<'p>, EgressError> {
        let header = parse(packet)?;
        let packet = packet.get(..header.len).unwrap_or(packet);
        let route = self.route(from, header.dst)?;
        let vmk = self.adapter(route.interface)?;
        if packet.len() > usize::from(vmk.mtu) && !header.fragmentable {
            return match origin {
                Origin::Local => Err(EgressError::MessageTooLong { mtu: vmk.mtu }),
                Origin::Forwarded => Ok(Outcome::TooBig(TooBig {
                    interface: vmk.id,
                    mtu: vmk.mtu,
                })),
            };
        }
        let directed_broadcast = vmk.ipv4_cidr().map(|c| c.broadcast());
        let dst_mac = match link::mapped_mac(header.dst, directed_broadcast) {
            Some(mac) => mac,
            None => match self.neighbor(vmk, route.next_hop, handle, now_ns, request_out)? {
                NextHop::Resolved(mac) => mac,
                NextHop::Waiting(unresolved) => return Ok(Outcome::Unresolved(unresolved)),
            },
        };
        let link = Link::new(vmk, dst_mac);
        let body = match header.dst {
            IpAddr::V4(_) => Body::V4(Fragmenter::new(packet, vmk.mtu).map_err(EgressError::Fragment)?),
            IpAddr::V6(_) => Body::V6(Some(packet)),
        };
        Ok(Outcome::Send(Frames { link, body }))
    }

    /// The route to `dst`, from `from` when given.
    fn route(&self, from: Option<VmkId>, dst: IpAddr) -> Result<Route, EgressError> {
        let routes = self.routes;
        from.map_or_else(|| routes.lookup(dst), |vmk| routes.lookup_from(vmk, dst))
            .ok_or(EgressError::NoRoute { dst })
    }

    fn adapter(&self, id: VmkId) -> Result<&'a Vmk, EgressError> {
        let vmk = self.model.vmks.get(id.index()).ok_or(EgressError::UnknownAdapter(id))?;
        if vmk.enabled {
            Ok(vmk)
        } else {
            Err(EgressError::AdapterDown { interface: id })
        }
    }

    /// The MAC of `next_hop`, or the packet queued and maybe a request written.
    fn neighbor(
        &mut self,
        vmk: &Vmk,
        next_hop: IpAddr,
        handle: u32,
        now_ns: u64,
        request_out: &mut [u8],
    ) -> Result<NextHop, EgressError> {
        if let Some((_, Some(mac))) = self.neighbors.state(next_hop, now_ns) {
            return Ok(NextHop::Resolved(mac));
        }
        // Checked before `lookup`, which counts a request as sent when it answers `NotFound`.
        let source = source_address(vmk, next_hop).ok_or(EgressError::NoSourceAddress { interface: vmk.id })?;
        let needed = request_len(vmk, next_hop);
        if request_out.len() < needed {
            return Err(EgressError::BufferTooSmall {
                needed,
                len: request_out.len(),
            });
        }
        let request_len = match self.neighbors.lookup(next_hop, now_ns) {
            Lookup::Found(mac) => return Ok(NextHop::Resolved(mac)),
            Lookup::NotFound => Some(match (source, next_hop) {
                (IpAddr::V4(src), IpAddr::V4(target)) => link::write_arp_request(vmk, src, target, request_out)?,
                (IpAddr::V6(src), IpAddr::V6(target)) => {
                    link::write_neighbor_solicitation(vmk, src, target, request_out)?
                }
                _ => return Err(EgressError::NoSourceAddress { interface: vmk.id }),
            }),
            Lookup::RateLimited => None,
        };
        Ok(NextHop::Waiting(Unresolved {
            next_hop,
            interface: vmk.id,
            queued: self.neighbors.enqueue(next_hop, handle),
            request_len,
        }))
    }

    /// Records the reply resolving `ip` to `mac` (an ARP reply or solicited neighbour advertisement) and
    /// hands the handles of the packets waiting for it to `release`, as [`Egress::release`] does.
    pub fn resolved(&mut self, ip: IpAddr, mac: MacAddr, now_ns: u64, release: impl FnMut(u32)) -> Update {
        let update = self.neighbors.update_from_reply(ip, mac, now_ns);
        if let Update::Updated { pending } = update
            && pending > 0
        {
            self.neighbors.drain_pending(ip, release);
        }
        update
    }

    /// Hands the handles of the packets waiting for `ip` to `release`, oldest first, once `ip` is resolved
    /// (the pipeline's ingress recorded the reply in the shared cache): send each again with
    /// [`Egress::send`]. Returns how many; none while `ip` is still unresolved.
    pub fn release(&mut self, ip: IpAddr, now_ns: u64, release: impl FnMut(u32)) -> usize {
        match self.neighbors.state(ip, now_ns) {
            Some((_, Some(_))) => self.neighbors.drain_pending(ip, release),
            _ => 0,
        }
    }

    /// Writes the ICMP error answering a forwarded packet refused as [`Outcome::TooBig`]: "fragmentation
    /// needed" for IPv4, Packet Too Big for IPv6, from the address of the adapter the route back to the
    /// packet's source leaves from. Returns the length of the IP packet written; send it with
    /// [`Egress::send`] as a [`Origin::Local`] packet. `ident` is the IPv4 identification of the error
    /// (unused for IPv6).
    ///
    /// # Errors
    /// [`IcmpErrorRefusal`] when no error may be sent (about an error, a non-first fragment, a non-unicast
    /// source), when no address of ours can be its source, or when `out` is too small.
    pub fn write_too_big(
        &self,
        invoking: &[u8],
        too_big: TooBig,
        ident: u16,
        out: &mut [u8],
    ) -> Result<usize, IcmpErrorRefusal> {
        match parse(invoking) {
            Ok(Header { dst: IpAddr::V4(_), .. }) => {
                let source = Ipv4Packet::new_unchecked(invoking).src_addr();
                let ours = self.our_address(IpAddr::V4(source), too_big.interface);
                let Some(IpAddr::V4(ours)) = ours else {
                    return Err(IcmpErrorRefusal::NotUnicast);
                };
                icmp_error::frag_needed(invoking, ours, too_big.mtu, ident, out)
            }
            Ok(Header { dst: IpAddr::V6(_), .. }) => {
                let source = Ipv6Packet::new_unchecked(invoking).src_addr();
                let ours = self.our_address(IpAddr::V6(source), too_big.interface);
                let Some(IpAddr::V6(ours)) = ours else {
                    return Err(IcmpErrorRefusal::NotUnicast);
                };
                icmp_error::packet_too_big(invoking, ours, u32::from(too_big.mtu), out)
            }
            Err(EgressError::Ipv6(e)) => Err(IcmpErrorRefusal::MalformedIpv6(e)),
            Err(EgressError::Ipv4(e)) => Err(IcmpErrorRefusal::MalformedIpv4(e)),
            Err(_) => Err(IcmpErrorRefusal::MalformedIpv4(Ipv4Error::BadVersion)),
        }
    }

    /// Our address facing `peer`: that of the adapter the route to `peer` leaves from, else `fallback`'s.
    fn our_address(&self, peer: IpAddr, fallback: VmkId) -> Option<IpAddr> {
        let interface = self.routes.lookup(peer).map_or(fallback, |r| r.interface);
        let vmk = self.model.vmks.get(interface.index())?;
        source_address(vmk, peer)
    }
}

/// The destination, length and fragmentability of an IP packet.
fn parse(packet: &[u8]) -> Result<Header, EgressError> {
    match packet.first().map(|b| b >> 4) {
        Some(4) => {
            let ip = Ipv4Packet::new_checked(packet)?;
            Ok(Header {
                dst: IpAddr::V4(ip.dst_addr()),
                len: usize::from(ip.total_len()),
                fragmentable: !ip.dont_frag(),
            })
        }
        Some(6) => {
            let ip = Ipv6Packet::new_checked(packet)?;
            Ok(Header {
                dst: IpAddr::V6(ip.dst_addr()),
                len: ipv6::HEADER_LEN + usize::from(ip.payload_len()),
                fragmentable: false,
            })
        }
        Some(version) => Err(EgressError::NotIp(version)),
        None => Err(EgressError::Ipv4(Ipv4Error::Truncated)),
    }
}

/// The address `vmk` speaks from towards `peer`: its IPv4 address, or the IPv6 address whose subnet holds
/// `peer` (else its first).
pub fn source_address(vmk: &Vmk, peer: IpAddr) -> Option<IpAddr> {
    match peer {
        IpAddr::V4(_) => vmk.ipv4_cidr().map(|c| IpAddr::V4(c.addr)),
        IpAddr::V6(ip) => {
            let addresses = &vmk.ipv6.addresses;
            let on_link = addresses.iter().find(|c| c.contains(ip));
            on_link.or(addresses.first()).map(|c| IpAddr::V6(c.addr))
        }
    }
}

/// Length of the request frame resolving `next_hop` from `vmk`.
fn request_len(vmk: &Vmk, next_hop: IpAddr) -> usize {
    Link::new(vmk, link::BROADCAST).header_len()
        + match next_hop {
            IpAddr::V4(_) => arp::PACKET_LEN,
            IpAddr::V6(_) => ipv6::HEADER_LEN + icmpv6::SOLICITATION_LEN,
        }
}
