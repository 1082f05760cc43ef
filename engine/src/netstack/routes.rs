//! Per-netstack routing tables: longest-prefix match over the routes [`HostModel::route_entries`] lists
//! (connected subnets, static routes, the stack's default gateways), plus each adapter's gateway override.
//!
//! # IPv4: a DIR-16-8-8 multibit trie
//! The first level is indexed by the top 16 bits of the destination: 2^16 `u32` entries, 256 KiB. An entry is
//! either a leaf (a route index, or none) or a pointer to a 256-entry chunk indexed by the next 8 bits; a
//! chunk entry may point to a third-level chunk for the last 8 bits. A lookup is at most three dependent
//! loads and never branches on the prefix length. Prefixes are expanded at build time (controlled prefix
//! expansion): they are inserted shortest first, so a longer prefix always overwrites a shorter one.
//!
//! Memory: 256 KiB for the first level, plus 1 KiB per chunk. A prefix longer than /16 needs at most one
//! second-level chunk, one longer than /24 at most one more, so a table of `n` routes stays under
//! `256 KiB + 2n KiB`: 262 KiB for the embedded default's `defaultTcpipStack` (six /24 subnets in six /16s),
//! 1.4 MiB with 1000 random routes added (1196 chunks, `bench/benches/lpm.rs`).
//! DIR-24-8 would answer in at most two loads but costs 64 MiB per netstack (2^24 `u32`s), which four or
//! five netstacks on a small host cannot afford; the 256 KiB first level fits in a core's L2 cache.
//!
//! # IPv6: binary search on prefix lengths
//! A 16-8-8-... multibit trie over 128 bits costs up to 14 chunks (14 KiB) per route, so IPv6 uses one
//! open-addressed hash table keyed by `(prefix length, masked address)` and a binary search over the distinct
//! prefix lengths present (Waldvogel et al., "Scalable high speed IP routing lookups", SIGCOMM 1997). Markers
//! placed along each prefix's search path carry their best matching prefix, so a lookup makes at most
//! `⌈log2(lengths + 1)⌉` probes (8 with all 129 lengths, 2 for a real netstack's /0 and /64). Memory is 32
//! bytes per slot, at most half the slots used, for prefixes and markers: 256 bytes for a real netstack,
//! 256 KiB with 1000 random routes over 15 prefix lengths.
//!
//! Tables are built once per model snapshot and never mutated; a reload compiles new ones. Lookups allocate
//! nothing and cannot panic.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::NetstackError;
use crate::model::{HostModel, IpNetwork, Netstack, NetstackId, RouteEntry, RouteSource, VmkId};

/// Where a lookup's answer comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteOrigin {
    /// The subnet of one of the stack's adapters: the destination is on-link.
    Connected,
    /// A static route (`esxcli network ip route ipv4 add -N <stack>`, fact sheet §1.3 rule 10).
    Static,
    /// The stack's default gateway.
    StackGateway,
    /// The sending adapter's "override default gateway for this adapter" (fact sheet §1.3 rule 7).
    AdapterGateway,
}

impl RouteOrigin {
    /// As esxcli's `Source` column says it.
    pub const fn source(self) -> RouteSource {
        match self {
            Self::Connected => RouteSource::Local,
            Self::Static | Self::StackGateway | Self::AdapterGateway => RouteSource::Manual,
        }
    }
}

/// The answer of a route lookup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Where to send: the gateway, or the destination itself when it is on-link.
    pub next_hop: IpAddr,
    /// The adapter to send from.
    pub interface: VmkId,
    /// Which route matched.
    pub source: RouteOrigin,
    /// Length of the matching prefix (0 for a default route or an adapter override).
    pub prefix_len: u8,
}

/// One compiled route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Compiled {
    gateway: Option<IpAddr>,
    /// `None` when no adapter of the stack reaches the gateway (a DHCP-only stack): the route matches but
    /// cannot be used, so the lookup answers `None` rather than falling back to a shorter prefix.
    interface: Option<VmkId>,
    source: RouteOrigin,
    prefix_len: u8,
}

impl Compiled {
    #[inline]
    fn route(&self, dst: IpAddr) -> Option<Route> {
        Some(Route {
            next_hop: self.gateway.unwrap_or(dst),
            interface: self.interface?,
            source: self.source,
            prefix_len: self.prefix_len,
        })
    }
}

/// An adapter's gateway overrides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AdapterGateways {
    /// The adapter belongs to this table's netstack.
    member: bool,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
}

/// The routing table of one netstack.
#[derive(Clone, Debug)]
pub struct RouteTable {
    netstack: NetstackId,
    /// IPv4 routes, indexed by the trie's values (kept apart from IPv6 so each family's lookups touch half).
    routes_v4: Vec<Compiled>,
    routes_v6: Vec<Compiled>,
    v4: Ipv4Lpm,
    v6: Ipv6Lpm,
    /// Indexed by [`VmkId::index`] over the whole host.
    adapters: Vec<AdapterGateways>,
}

impl RouteTable {
    /// Compiles the table of `netstack` from [`HostModel::route_entries`] and its adapters' overrides.
    ///
    /// # Errors
    /// [`NetstackError::TooManyRoutes`] past 2^31 - 1 routes per family.
    pub fn compile(model: &HostModel, netstack: &Netstack) -> Result<Self, NetstackError> {
        Self::from_entries(model, netstack, &model.route_entries(netstack))
    }

    /// Compiles a table from `entries` (normally [`HostModel::route_entries`]; benches and tests add their
    /// own). Entries of other netstacks are ignored. When the same prefix appears twice, the first wins:
    /// `route_entries` lists connected subnets before static routes before the default gateways.
    ///
    /// # Errors
    /// [`NetstackError::TooManyRoutes`] past 2^31 - 1 routes per family.
    pub fn from_entries(model: &HostModel, netstack: &Netstack, entries: &[RouteEntry]) -> Result<Self, NetstackError> {
        let mut routes_v4 = Vec::new();
        let mut routes_v6 = Vec::new();
        let mut seen = HashSet::new();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for entry in entries.iter().filter(|e| e.netstack == netstack.id) {
            let (network, prefix_len) = match entry.network {
                IpNetwork::V4(c) => (IpNetwork::V4(c.with_network()), c.prefix_len.min(32)),
                IpNetwork::V6(c) => (IpNetwork::V6(c.with_network()), c.prefix_len.min(128)),
            };
            if !seen.insert(network) {
                continue;
            }
            let source = match entry.source {
                RouteSource::Local => RouteOrigin::Connected,
                RouteSource::Manual if prefix_len == 0 && entry.gateway == stack_gateway(netstack, network) => {
                    RouteOrigin::StackGateway
                }
                RouteSource::Manual => RouteOrigin::Static,
            };
            let compiled = Compiled {
                gateway: entry.gateway,
                interface: entry.interface,
                source,
                prefix_len,
            };
            let (routes, prefix) = match network {
                IpNetwork::V4(c) => (&mut routes_v4, Prefix::V4(c.addr)),
                IpNetwork::V6(c) => (&mut routes_v6, Prefix::V6(c.addr)),
            };
            let index = u32::try_from(routes.len()).map_err(|_| NetstackError::TooManyRoutes)?;
            routes.push(compiled);
            match prefix {
                Prefix::V4(addr) => v4.push((addr, prefix_len, index)),
                Prefix::V6(addr) => v6.push((addr, prefix_len, index)),
            }
        }
        let mut adapters = vec![AdapterGateways::default(); model.vmks.len()];
        for vmk in model.vmks_of(netstack) {
            if let Some(slot) = adapters.get_mut(vmk.id.index()) {
                *slot = AdapterGateways {
                    member: true,
                    ipv4: vmk.ipv4_gateway,
                    ipv6: vmk.ipv6_gateway,
                };
            }
        }
        Ok(Self {
            netstack: netstack.id,
            routes_v4,
            routes_v6,
            v4: Ipv4Lpm::build(&v4)?,
            v6: Ipv6Lpm::build(&v6)?,
            adapters,
        })
    }

    /// The netstack this table belongs to.
    pub const fn netstack(&self) -> NetstackId {
        self.netstack
    }

    /// Number of routes (both families, duplicates removed).
    pub fn len(&self) -> usize {
        self.routes_v4.len() + self.routes_v6.len()
    }

    /// Whether the table holds no route.
    pub fn is_empty(&self) -> bool {
        self.routes_v4.is_empty() && self.routes_v6.is_empty()
    }

    /// Longest-prefix match of `dst` in this netstack's table. `None` when nothing matches, or when the
    /// matching route has no adapter that reaches its gateway.
    #[inline]
    pub fn lookup(&self, dst: IpAddr) -> Option<Route> {
        self.matched(dst)?.route(dst)
    }

    /// Longest-prefix match of an IPv4 destination.
    #[inline]
    pub fn lookup_v4(&self, dst: Ipv4Addr) -> Option<Route> {
        self.lookup(IpAddr::V4(dst))
    }

    /// Longest-prefix match of an IPv6 destination.
    #[inline]
    pub fn lookup_v6(&self, dst: Ipv6Addr) -> Option<Route> {
        self.lookup(IpAddr::V6(dst))
    }

    /// The route for `dst` sent from adapter `vmk` (like `vmkping -I vmkN`): the adapter's gateway override of
    /// the destination's family wins over the stack's default gateway for off-link destinations (fact sheet
    /// §1.3 rule 7). Connected subnets and static routes, being more specific, still win over the override.
    /// `None` when `vmk` is not on this netstack (stacks are isolated) or no usable route exists.
    #[inline]
    pub fn lookup_from(&self, vmk: VmkId, dst: IpAddr) -> Option<Route> {
        let adapter = self.adapters.get(vmk.index()).filter(|a| a.member)?;
        let matched = self.matched(dst);
        if let Some(route) = matched
            && route.source != RouteOrigin::StackGateway
        {
            return route.route(dst);
        }
        let gateway = match dst {
            IpAddr::V4(_) => adapter.ipv4.map(IpAddr::V4),
            IpAddr::V6(_) => adapter.ipv6.map(IpAddr::V6),
        };
        match gateway {
            Some(gw) => Some(Route {
                next_hop: gw,
                interface: vmk,
                source: RouteOrigin::AdapterGateway,
                prefix_len: 0,
            }),
            None => matched?.route(dst),
        }
    }

    #[inline]
    fn matched(&self, dst: IpAddr) -> Option<&Compiled> {
        match dst {
            IpAddr::V4(ip) => self.routes_v4.get(self.v4.lookup(ip)? as usize),
            IpAddr::V6(ip) => self.routes_v6.get(self.v6.lookup(ip)? as usize),
        }
    }

    /// The IPv4 trie (values index the IPv4 routes).
    pub const fn ipv4_lpm(&self) -> &Ipv4Lpm {
        &self.v4
    }

    /// The IPv6 table (values index the IPv6 routes).
    pub const fn ipv6_lpm(&self) -> &Ipv6Lpm {
        &self.v6
    }

    /// Bytes held by the table (tries, hash table, routes, adapter list).
    pub fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes()
            + self.v6.memory_bytes()
            + (self.routes_v4.capacity() + self.routes_v6.capacity()) * size_of::<Compiled>()
            + self.adapters.capacity() * size_of::<AdapterGateways>()
    }
}

/// A route's network, for the family's LPM.
enum Prefix {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

fn stack_gateway(netstack: &Netstack, network: IpNetwork) -> Option<IpAddr> {
    match network {
        IpNetwork::V4(_) => netstack.ipv4_gateway.map(IpAddr::V4),
        IpNetwork::V6(_) => netstack.ipv6_gateway.map(IpAddr::V6),
    }
}

trait WithNetwork {
    fn with_network(self) -> Self;
}

impl WithNetwork for crate::model::Ipv4Cidr {
    fn with_network(self) -> Self {
        Self {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }
}

impl WithNetwork for crate::model::Ipv6Cidr {
    fn with_network(self) -> Self {
        Self {
            addr: self.network(),
            prefix_len: self.prefix_len,
        }
    }
}

/// A leaf or chunk pointer in the IPv4 trie: bit 31 marks a chunk index, otherwise `value + 1` (0: no route).
const CHILD: u32 = 1 << 31;
const NONE: u32 = 0;
const L1_ENTRIES: usize = 1 << 16;
const CHUNK: usize = 256;

/// IPv4 longest-prefix match: a DIR-16-8-8 multibit trie mapping prefixes to `u32` values (see the module
/// doc). Values must be below 2^31 - 1.
#[derive(Clone)]
pub struct Ipv4Lpm {
    l1: Box<[u32]>,
    chunks: Vec<[u32; CHUNK]>,
}

impl std::fmt::Debug for Ipv4Lpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ipv4Lpm")
            .field("chunks", &self.chunks.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish()
    }
}

impl Ipv4Lpm {
    /// Builds the trie from `(network, prefix length, value)`. Host bits of `network` are ignored; for a
    /// prefix given twice the last value wins.
    ///
    /// # Errors
    /// [`NetstackError::TooManyRoutes`] if a value is 2^31 - 1 or more, or the trie would need 2^31 chunks.
    pub fn build(prefixes: &[(Ipv4Addr, u8, u32)]) -> Result<Self, NetstackError> {
        let mut sorted: Vec<(u32, u8, u32)> = prefixes
            .iter()
            .map(|&(addr, len, value)| {
                let len = len.min(32);
                (u32::from(addr) & mask32(len), len, value)
            })
            .collect();
        // Stable: among equal prefixes the later value is written last and wins.
        sorted.sort_by_key(|&(_, len, _)| len);
        let mut trie = Self {
            l1: vec![NONE; L1_ENTRIES].into_boxed_slice(),
            chunks: Vec::new(),
        };
        for (addr, len, value) in sorted {
            if value >= CHILD - 1 {
                return Err(NetstackError::TooManyRoutes);
            }
            trie.insert(addr, len, value + 1)?;
        }
        trie.chunks.shrink_to_fit();
        Ok(trie)
    }

    fn insert(&mut self, addr: u32, len: u8, leaf: u32) -> Result<(), NetstackError> {
        let i1 = (addr >> 16) as usize;
        if len <= 16 {
            let span = 1usize << (16 - len);
            for i in i1..i1 + span {
                let entry = self.l1[i];
                if entry & CHILD == 0 {
                    self.l1[i] = leaf;
                } else {
                    self.fill_chunk((entry & !CHILD) as usize, leaf);
                }
            }
            return Ok(());
        }
        let c2 = self.child_of_l1(i1)?;
        let i2 = ((addr >> 8) & 0xff) as usize;
        if len <= 24 {
            let span = 1usize << (24 - len);
            for i in i2..i2 + span {
                let entry = self.chunks[c2][i];
                if entry & CHILD == 0 {
                    self.chunks[c2][i] = leaf;
                } else {
                    self.fill_chunk((entry & !CHILD) as usize, leaf);
                }
            }
            return Ok(());
        }
        let c3 = self.child_of_chunk(c2, i2)?;
        let i3 = (addr & 0xff) as usize;
        let span = 1usize << (32 - len);
        for slot in &mut self.chunks[c3][i3..i3 + span] {
            *slot = leaf;
        }
        Ok(())
    }

    /// Overwrites a whole chunk and its children with `leaf`: only reachable if a shorter prefix were inserted
    /// after a longer one, which `build`'s ordering rules out; kept so the trie stays correct regardless.
    fn fill_chunk(&mut self, chunk: usize, leaf: u32) {
        for i in 0..CHUNK {
            let entry = self.chunks[chunk][i];
            if entry & CHILD == 0 {
                self.chunks[chunk][i] = leaf;
            } else {
                self.fill_chunk((entry & !CHILD) as usize, leaf);
            }
        }
    }

    fn new_chunk(&mut self, fill: u32) -> Result<usize, NetstackError> {
        let index = self.chunks.len();
        if index as u64 >= u64::from(CHILD) {
            return Err(NetstackError::TooManyRoutes);
        }
        self.chunks.push([fill; CHUNK]);
        Ok(index)
    }

    fn child_of_l1(&mut self, i1: usize) -> Result<usize, NetstackError> {
        let entry = self.l1[i1];
        if entry & CHILD != 0 {
            return Ok((entry & !CHILD) as usize);
        }
        let chunk = self.new_chunk(entry)?;
        self.l1[i1] = CHILD | chunk as u32;
        Ok(chunk)
    }

    fn child_of_chunk(&mut self, parent: usize, i2: usize) -> Result<usize, NetstackError> {
        let entry = self.chunks[parent][i2];
        if entry & CHILD != 0 {
            return Ok((entry & !CHILD) as usize);
        }
        let chunk = self.new_chunk(entry)?;
        self.chunks[parent][i2] = CHILD | chunk as u32;
        Ok(chunk)
    }

    /// The value of the longest prefix containing `dst`.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<u32> {
        let a = u32::from(dst);
        let mut entry = self.l1[(a >> 16) as usize];
        if entry & CHILD != 0 {
            entry = self.chunk(entry)[((a >> 8) & 0xff) as usize];
            if entry & CHILD != 0 {
                entry = self.chunk(entry)[(a & 0xff) as usize];
            }
        }
        entry.checked_sub(1)
    }

    #[inline]
    fn chunk(&self, entry: u32) -> &[u32; CHUNK] {
        // Chunk pointers are only ever written with the index of an existing chunk.
        &self.chunks[(entry & !CHILD) as usize]
    }

    /// Number of second- and third-level chunks.
    pub fn chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Bytes held: the first level plus the chunks.
    pub fn memory_bytes(&self) -> usize {
        self.l1.len() * size_of::<u32>() + self.chunks.capacity() * size_of::<[u32; CHUNK]>()
    }
}

/// An IPv6 hash slot: a prefix or a marker at one length, with its best matching prefix.
#[derive(Clone, Copy, Debug)]
struct Slot6 {
    key: u128,
    /// Prefix length; [`EMPTY_LEN`] for an empty slot.
    len: u8,
    /// Value + 1 of the best matching real prefix (0: none).
    best: u32,
}

const EMPTY_LEN: u8 = u8::MAX;

/// IPv6 longest-prefix match: binary search on prefix lengths over an open-addressed hash table (see the
/// module doc). Values must be below 2^32 - 1.
#[derive(Clone, Debug)]
pub struct Ipv6Lpm {
    /// Distinct prefix lengths, ascending.
    levels: Vec<u8>,
    slots: Box<[Slot6]>,
    shift: u32,
}

impl Ipv6Lpm {
    /// Builds the table from `(network, prefix length, value)`. Host bits of `network` are ignored; for a
    /// prefix given twice the last value wins.
    ///
    /// # Errors
    /// [`NetstackError::TooManyRoutes`] if a value is `u32::MAX`.
    pub fn build(prefixes: &[(Ipv6Addr, u8, u32)]) -> Result<Self, NetstackError> {
        let mut real: HashMap<(u8, u128), u32> = HashMap::new();
        for &(addr, len, value) in prefixes {
            if value == u32::MAX {
                return Err(NetstackError::TooManyRoutes);
            }
            let len = len.min(128);
            real.insert((len, u128::from(addr) & mask128(len)), value + 1);
        }
        let mut levels: Vec<u8> = real.keys().map(|&(len, _)| len).collect();
        levels.sort_unstable();
        levels.dedup();
        // Every prefix, plus a marker at each longer-is-possible step of its binary search path.
        let mut entries: HashSet<(u8, u128)> = real.keys().copied().collect();
        for &(len, key) in real.keys() {
            let target = levels.partition_point(|&l| l < len);
            let (mut lo, mut hi) = (0usize, levels.len());
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if mid == target {
                    break;
                }
                if mid < target {
                    let l = levels[mid];
                    entries.insert((l, key & mask128(l)));
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
        }
        let size = (entries.len() * 2).next_power_of_two().max(8);
        let empty = Slot6 {
            key: 0,
            len: EMPTY_LEN,
            best: 0,
        };
        let mut table = Self {
            levels,
            slots: vec![empty; size].into_boxed_slice(),
            shift: 64 - size.trailing_zeros(),
        };
        for &(len, key) in &entries {
            let best = table
                .levels
                .iter()
                .rev()
                .filter(|&&l| l <= len)
                .find_map(|&l| real.get(&(l, key & mask128(l))).copied())
                .unwrap_or(0);
            let mask = table.slots.len() - 1;
            let mut i = table.slot_of(len, key);
            while table.slots[i].len != EMPTY_LEN {
                i = (i + 1) & mask;
            }
            table.slots[i] = Slot6 { key, len, best };
        }
        Ok(table)
    }

    #[inline]
    fn slot_of(&self, len: u8, key: u128) -> usize {
        let h = (key as u64) ^ ((key >> 64) as u64).rotate_left(31) ^ u64::from(len);
        (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn probe(&self, len: u8, key: u128) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(len, key);
        loop {
            let slot = &self.slots[i];
            if slot.len == EMPTY_LEN {
                return None;
            }
            if slot.len == len && slot.key == key {
                return Some(slot.best);
            }
            i = (i + 1) & mask;
        }
    }

    /// The value of the longest prefix containing `dst`.
    #[inline]
    pub fn lookup(&self, dst: Ipv6Addr) -> Option<u32> {
        let a = u128::from(dst);
        let (mut lo, mut hi) = (0usize, self.levels.len());
        let mut best = 0;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let len = self.levels[mid];
            match self.probe(len, a & mask128(len)) {
                Some(b) => {
                    best = b;
                    lo = mid + 1;
                }
                None => hi = mid,
            }
        }
        best.checked_sub(1)
    }

    /// Number of distinct prefix lengths.
    pub fn levels(&self) -> usize {
        self.levels.len()
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.levels.capacity() + self.slots.len() * size_of::<Slot6>()
    }
}

#[inline]
const fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len as u32) }
}

#[inline]
const fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else if len >= 128 {
        u128::MAX
    } else {
        u128::MAX << (128 - len as u32)
    }
}
