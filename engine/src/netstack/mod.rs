//! Per-netstack behaviour on the way out: the routing table and the neighbour (ARP/ND) cache of each TCP/IP
//! stack, and the egress path that uses them.
//!
//! Each ESXi netstack is an isolated IP instance with its own routing table, default gateway and neighbour
//! table (fact sheet §1.1). [`NetstackTables::compile`] builds one stack's tables from a [`HostModel`]
//! snapshot: [`routes::RouteTable`] from [`HostModel::route_entries`] (connected subnets, static routes,
//! default gateways) plus each adapter's gateway override, and an empty [`neighbors::NeighborCache`] of
//! configured capacity. [`compile_all`] does it for every stack, indexed by [`NetstackId`].
//!
//! The modules, each with one job:
//! - [`routes`]: longest-prefix match (IPv4 DIR-16-8-8 trie, IPv6 binary search on prefix lengths; see it
//!   for the memory budget) and the choice of next hop and adapter.
//! - [`neighbors`]: the neighbour state machine with its pending-frame rings, request rate limits and
//!   eviction.
//! - [`egress`]: a packet a vmk sends, through route, egress MTU, neighbour and VLAN to Ethernet frames in
//!   the caller's buffers; [`link`] writes the link layer and the ARP requests / neighbour solicitations,
//!   [`fragment`] splits IPv4 packets for the MTU, [`icmp_error`] builds "fragmentation needed" and Packet
//!   Too Big.
//! - [`ping`]: vmkping as a state machine (echo requests, reply matching, its output).
//! - [`view`]: `show neighbors` from a snapshot of the caches.
//!
//! What it must never do: I/O of any kind, read a clock (time is always an argument, `now_ns`), allocate,
//! lock or panic on the packet path, or consult another netstack's tables. Putting frames on a ring is the
//! caller's job; the cache only says when a request may go out and which queued handles are ready.
//!
//! Memory per netstack with the defaults: 256 KiB for the IPv4 first level plus 1 KiB per trie chunk, a few
//! hundred bytes for IPv6, and 92 KiB for a 1024-entry neighbour cache (64-byte entries, 4 queued handles
//! each): 350-355 KiB per stack of the embedded default host, 1.4 MiB for its four stacks.

pub mod egress;
pub mod fragment;
pub mod icmp_error;
pub mod link;
pub mod neighbors;
pub mod ping;
pub mod routes;
pub mod view;

#[cfg(test)]
mod egress_tests;
#[cfg(test)]
mod tests;

pub use egress::{Egress, EgressError, Frames, MAX_REQUEST_LEN, Origin, Outcome, TooBig, Unresolved, source_address};
pub use fragment::{FragmentError, Fragmenter};
pub use icmp_error::IcmpErrorRefusal;
pub use link::Link;
pub use neighbors::{
    Enqueue, LearnEvent, Learned, Lookup, NeighborCache, NeighborConfig, NeighborEntry, NeighborState, NeighborStats,
    Update,
};
pub use ping::{PingError, PingOptions, PingSession, Reply, Statistics};
pub use routes::{Ipv4Lpm, Ipv6Lpm, Route, RouteOrigin, RouteTable};

use crate::model::{HostModel, Netstack, NetstackId};

/// Why netstack tables could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetstackError {
    /// More routes than a table can index.
    #[error("too many routes for one netstack table (at most 2^31 - 2 per family)")]
    TooManyRoutes,
    /// The neighbour cache configuration is out of range.
    #[error(
        "neighbour cache capacity {capacity} with {pending} pending frames per entry is out of range \
         (capacity 1..=16777216, pending 0..=65536)"
    )]
    NeighborCapacity {
        /// The capacity asked for.
        capacity: usize,
        /// The pending ring size asked for.
        pending: usize,
    },
}

/// The egress tables of one netstack.
#[derive(Debug)]
pub struct NetstackTables {
    /// The stack.
    pub id: NetstackId,
    /// Its routing table.
    pub routes: RouteTable,
    /// Its neighbour cache.
    pub neighbors: NeighborCache,
}

impl NetstackTables {
    /// Builds the tables of `netstack` from `model`.
    ///
    /// # Errors
    /// As [`RouteTable::compile`] and [`NeighborCache::new`].
    pub fn compile(model: &HostModel, netstack: &Netstack, neighbors: NeighborConfig) -> Result<Self, NetstackError> {
        Ok(Self {
            id: netstack.id,
            routes: RouteTable::compile(model, netstack)?,
            neighbors: NeighborCache::new(neighbors)?,
        })
    }

    /// The egress path over these tables, with the adapters of `model` (the snapshot they were compiled
    /// from).
    pub const fn egress<'a>(&'a mut self, model: &'a HostModel) -> Egress<'a> {
        Egress::new(model, &self.routes, &mut self.neighbors)
    }

    /// Bytes held by the routing table and the neighbour cache.
    pub fn memory_bytes(&self) -> usize {
        self.routes.memory_bytes() + self.neighbors.memory_bytes()
    }
}

/// The tables of every netstack of `model`, indexed by [`NetstackId::index`].
///
/// # Errors
/// As [`NetstackTables::compile`].
pub fn compile_all(model: &HostModel, neighbors: NeighborConfig) -> Result<Vec<NetstackTables>, NetstackError> {
    model
        .netstacks
        .iter()
        .map(|netstack| NetstackTables::compile(model, netstack, neighbors))
        .collect()
}
