//! A netstack's neighbour cache: IPv4 ARP and IPv6 ND entries in one fixed-capacity table.
//!
//! # States (RFC 4861 §7.3.2, simplified)
//! - `Incomplete`: a request went out, no answer yet. Frames for the destination wait in the entry's pending
//!   queue. Retried at most once per [`NeighborConfig::request_interval_ns`]; the entry is dropped, with its
//!   queued frames, [`NeighborConfig::incomplete_timeout_ns`] after it was created (default 3 s: three
//!   requests, like RFC 4861's `MAX_MULTICAST_SOLICIT` × `RETRANS_TIMER`).
//! - `Reachable`: the address was confirmed by a reply less than [`NeighborConfig::reachable_time_ns`] ago
//!   (default 30 s, RFC 4861's `REACHABLE_TIME`).
//! - `Stale`: unconfirmed for longer than that, or learned without confirmation (gratuitous ARP, unsolicited
//!   NA, the sender of a request to us). Still used for sending. Delay/Probe are not modelled: a stale entry
//!   is never probed, it expires [`NeighborConfig::stale_timeout_ns`] after its address was last learned
//!   (default 1200 s, ESXi's ARP timeout; configurable). A reply refreshes it to `Reachable`.
//!
//! # Learning
//! Only [`NeighborCache::lookup`] (our own request) and [`NeighborCache::learn_from_request`] (a neighbour
//! asking for one of our addresses) create entries. Replies and gratuitous announcements update existing
//! entries only, so unsolicited traffic cannot fill the table.
//!
//! # Requests
//! [`NeighborCache::lookup`] answers like smoltcp's: [`Lookup::Found`] with the MAC, [`Lookup::NotFound`]
//! when the caller must send a request now (the cache has recorded it as sent), or [`Lookup::RateLimited`]
//! when a request for this destination went out less than a second ago, the global budget of
//! [`NeighborConfig::requests_per_second`] (a fixed one-second window) is spent, or the table is full of
//! entries it may not evict.
//!
//! # Pending frames
//! Each entry owns a ring of [`NeighborConfig::pending_per_entry`] frame handles (`u32`, e.g. UMEM frame
//! indices); all rings live in one array allocated up front. A full ring drops its oldest handle and hands it
//! back so the caller can free the frame; every dropped handle is counted.
//!
//! # Eviction
//! A new destination in a full table evicts the stale entry learned longest ago, else the oldest incomplete
//! entry with no queued frames; reachable entries are never evicted, so a scan of unknown addresses cannot
//! flush live neighbours. Every eviction, and every refusal, is counted.
//!
//! # Journal
//! A cache can keep a bounded journal of what it was told ([`NeighborCache::keep_journal`]): every
//! [`Learned`] call (request, reply, gratuitous announcement), whatever it changed. The AF_XDP runtime has a
//! pipeline, and so caches, per worker, while one worker owns each netstack's egress: the others forward
//! their journals to it, which replays them ([`NeighborCache::apply`]) so that its cache sees every ARP
//! reply and neighbour advertisement whichever rx queue it landed on. A full journal drops what does not fit
//! and counts it ([`NeighborStats::journal_overflow`]). Off (capacity 0) by default.
//!
//! Nothing here reads a clock (time is `now_ns`) or allocates after [`NeighborCache::new`] (and
//! [`NeighborCache::keep_journal`]).

use std::net::IpAddr;

use super::NetstackError;
use crate::model::MacAddr;

const SECOND_NS: u64 = 1_000_000_000;

/// Sizes and timers of a neighbour cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborConfig {
    /// Entries (both families).
    pub capacity: usize,
    /// Frame handles queued per unresolved entry.
    pub pending_per_entry: usize,
    /// How long a reply keeps an entry `Reachable`.
    pub reachable_time_ns: u64,
    /// How long after its address was learned an entry expires.
    pub stale_timeout_ns: u64,
    /// How long an unanswered entry lives.
    pub incomplete_timeout_ns: u64,
    /// Minimum gap between two requests for one destination.
    pub request_interval_ns: u64,
    /// Requests per second for the whole netstack.
    pub requests_per_second: u32,
}

impl Default for NeighborConfig {
    fn default() -> Self {
        Self {
            capacity: 1024,
            pending_per_entry: 4,
            reachable_time_ns: 30 * SECOND_NS,
            stale_timeout_ns: 1200 * SECOND_NS,
            incomplete_timeout_ns: 3 * SECOND_NS,
            request_interval_ns: SECOND_NS,
            requests_per_second: 100,
        }
    }
}

/// The state of a neighbour entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NeighborState {
    /// Request sent, no answer yet.
    Incomplete,
    /// Confirmed recently.
    Reachable,
    /// Not confirmed recently; still used.
    Stale,
}

/// The answer of [`NeighborCache::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The neighbour's MAC.
    Found(MacAddr),
    /// Unknown: send a request now (it has been counted as sent).
    NotFound,
    /// Unknown, and no request may go out now.
    RateLimited,
}

/// What [`NeighborCache::enqueue`] did with a frame handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueue {
    /// Queued.
    Queued,
    /// Queued; the ring was full and its oldest handle was dropped: free that frame.
    DroppedOldest(u32),
    /// Not queued (no incomplete entry for the address, or a zero-sized ring): the handle is the caller's.
    Rejected(u32),
}

/// What an update from a reply or gratuitous announcement did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Update {
    /// A new entry was created (only [`NeighborCache::learn_from_request`] creates one).
    Created,
    /// An existing entry was updated; `pending` frames wait to be drained with
    /// [`NeighborCache::drain_pending`].
    Updated {
        /// Queued frame handles now sendable.
        pending: usize,
    },
    /// Ignored: a reply or gratuitous announcement for an unknown address, or no room to learn one.
    Ignored,
}

/// Counters of a neighbour cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighborStats {
    /// Requests the caller was told to send.
    pub requests: u64,
    /// Lookups answered `RateLimited`.
    pub rate_limited: u64,
    /// Queued handles dropped because a ring was full (drop-oldest).
    pub pending_dropped: u64,
    /// Queued handles dropped because their entry expired unresolved.
    pub pending_expired: u64,
    /// Stale entries evicted for a new destination.
    pub evicted_stale: u64,
    /// Incomplete entries (with no queued frames) evicted for a new destination.
    pub evicted_incomplete: u64,
    /// New destinations refused because no entry could be evicted.
    pub table_full: u64,
    /// Entries removed by [`NeighborCache::expire`] (stale timeout or unanswered).
    pub expired: u64,
    /// Gratuitous ARPs / unsolicited NAs for addresses not in the cache (ignored).
    pub gratuitous_ignored: u64,
    /// Learn events the journal had no room for.
    pub journal_overflow: u64,
    /// Replies for addresses not in the cache (ignored).
    pub unsolicited_ignored: u64,
}

/// What a cache was told about a neighbour (see the module doc's *Journal*).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// The sender of a request to one of our addresses ([`NeighborCache::learn_from_request`]).
    Request,
    /// A solicited reply ([`NeighborCache::update_from_reply`]).
    Reply,
    /// A gratuitous ARP or unsolicited NA ([`NeighborCache::update_from_gratuitous`]).
    Gratuitous,
}

/// One journal record: `ip` is at `mac`, learnt as `how`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LearnEvent {
    /// The neighbour's address.
    pub ip: IpAddr,
    /// Its MAC.
    pub mac: MacAddr,
    /// How it was learnt.
    pub how: Learned,
}

/// One entry of a cache as `show neighbors` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeighborEntry {
    /// The neighbour's address.
    pub ip: IpAddr,
    /// Its MAC, once resolved.
    pub mac: Option<MacAddr>,
    /// Its state, aged to the time asked for.
    pub state: NeighborState,
    /// Time left before the entry is removed (stale timeout, or the unanswered timeout when incomplete).
    pub expires_in_ns: u64,
}

/// The cache key: family and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    v6: bool,
    addr: u128,
}

impl Key {
    fn ip(self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(self.addr.into())
        } else {
            // The address of an IPv4 key fits 32 bits: it was made from one.
            IpAddr::V4((self.addr as u32).into())
        }
    }
}

impl From<IpAddr> for Key {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self {
                v6: false,
                addr: u128::from(u32::from(v4)),
            },
            IpAddr::V6(v6) => Self {
                v6: true,
                addr: u128::from(v6),
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: Key,
    used: bool,
    state: NeighborState,
    mac: MacAddr,
    /// Incomplete: when created. Reachable / Stale: when the address was last learned.
    since_ns: u64,
    /// When the last request for it went out.
    requested_ns: u64,
    pending_head: u32,
    pending_len: u32,
}

const FREE: Entry = Entry {
    key: Key { v6: false, addr: 0 },
    used: false,
    state: NeighborState::Incomplete,
    mac: MacAddr([0; 6]),
    since_ns: 0,
    requested_ns: 0,
    pending_head: 0,
    pending_len: 0,
};

/// Index slot value meaning empty.
const NO_ENTRY: u32 = u32::MAX;

/// A netstack's neighbour cache (see the module doc).
#[derive(Clone, Debug)]
pub struct NeighborCache {
    config: NeighborConfig,
    entries: Box<[Entry]>,
    /// Open-addressed (linear probing) index from key to entry, at most half full.
    index: Box<[u32]>,
    shift: u32,
    /// Unused entries, popped from the end.
    free: Vec<u32>,
    /// `capacity * pending_per_entry` handles.
    pending: Box<[u32]>,
    window_start_ns: u64,
    window_requests: u32,
    stats: NeighborStats,
    /// Learn events not yet taken (capacity 0: no journal).
    journal: Vec<LearnEvent>,
}

impl Default for NeighborCache {
    /// An empty cache with [`NeighborConfig::default`].
    fn default() -> Self {
        Self::build(NeighborConfig::default())
    }
}

impl NeighborCache {
    /// An empty cache; every allocation it will ever make happens here.
    ///
    /// # Errors
    /// [`NetstackError::NeighborCapacity`] if `capacity` is 0 or above 2^24.
    pub fn new(config: NeighborConfig) -> Result<Self, NetstackError> {
        if config.capacity == 0 || config.capacity > 1 << 24 || config.pending_per_entry > 1 << 16 {
            return Err(NetstackError::NeighborCapacity {
                capacity: config.capacity,
                pending: config.pending_per_entry,
            });
        }
        Ok(Self::build(config))
    }

    /// An empty cache of a configuration already checked.
    fn build(config: NeighborConfig) -> Self {
        let slots = (config.capacity * 2).next_power_of_two();
        Self {
            config,
            entries: vec![FREE; config.capacity].into_boxed_slice(),
            index: vec![NO_ENTRY; slots].into_boxed_slice(),
            shift: 64 - slots.trailing_zeros(),
            free: (0..config.capacity as u32).rev().collect(),
            pending: vec![0; config.capacity * config.pending_per_entry].into_boxed_slice(),
            window_start_ns: 0,
            window_requests: 0,
            stats: NeighborStats::default(),
            journal: Vec::new(),
        }
    }

    /// Keeps a journal of up to `capacity` learn events between two [`NeighborCache::take_journal`] calls
    /// (allocated here, once).
    pub fn keep_journal(&mut self, capacity: usize) {
        self.journal = Vec::with_capacity(capacity);
    }

    /// Hands the journal's events to `f`, oldest first, and empties it.
    pub fn take_journal(&mut self, f: impl FnMut(LearnEvent)) {
        self.journal.drain(..).for_each(f);
    }

    /// Replays an event another cache journaled, as that cache applied it.
    pub fn apply(&mut self, event: LearnEvent, now_ns: u64) -> Update {
        match event.how {
            Learned::Request => self.learn_from_request(event.ip, event.mac, now_ns),
            Learned::Reply => self.update_from_reply(event.ip, event.mac, now_ns),
            Learned::Gratuitous => self.update_from_gratuitous(event.ip, event.mac, now_ns),
        }
    }

    fn journal(&mut self, ip: IpAddr, mac: MacAddr, how: Learned) {
        if self.journal.capacity() == 0 {
            return;
        }
        if self.journal.len() < self.journal.capacity() {
            self.journal.push(LearnEvent { ip, mac, how });
        } else {
            self.stats.journal_overflow += 1;
        }
    }

    /// Its configuration.
    pub const fn config(&self) -> &NeighborConfig {
        &self.config
    }

    /// Its counters.
    pub const fn stats(&self) -> &NeighborStats {
        &self.stats
    }

    /// Entries in use.
    pub fn len(&self) -> usize {
        self.entries.len() - self.free.len()
    }

    /// Whether no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held.
    pub fn memory_bytes(&self) -> usize {
        self.entries.len() * size_of::<Entry>()
            + self.index.len() * size_of::<u32>()
            + self.free.capacity() * size_of::<u32>()
            + self.pending.len() * size_of::<u32>()
            + self.journal.capacity() * size_of::<LearnEvent>()
    }

    /// The state and MAC of `ip`'s entry as of `now_ns`, without changing anything.
    pub fn state(&self, ip: IpAddr, now_ns: u64) -> Option<(NeighborState, Option<MacAddr>)> {
        let entry = &self.entries[self.find(Key::from(ip))? as usize];
        let state = self.aged_state(entry, now_ns);
        Some((state, (state != NeighborState::Incomplete).then_some(entry.mac)))
    }

    /// Every entry as of `now_ns`, aged, in table order, without changing anything (for `show neighbors`).
    pub fn entries(&self, now_ns: u64) -> impl Iterator<Item = NeighborEntry> + '_ {
        self.entries.iter().filter(|e| e.used).map(move |entry| {
            let state = self.aged_state(entry, now_ns);
            let lifetime = match state {
                NeighborState::Incomplete => self.config.incomplete_timeout_ns,
                NeighborState::Reachable | NeighborState::Stale => self.config.stale_timeout_ns,
            };
            NeighborEntry {
                ip: entry.key.ip(),
                mac: (state != NeighborState::Incomplete).then_some(entry.mac),
                state,
                expires_in_ns: lifetime.saturating_sub(now_ns.saturating_sub(entry.since_ns)),
            }
        })
    }

    /// The MAC of `ip`, or whether to send a request for it now. An unknown address gets an `Incomplete`
    /// entry (evicting if full) so frames can wait in it with [`NeighborCache::enqueue`].
    pub fn lookup(&mut self, ip: IpAddr, now_ns: u64) -> Lookup {
        let key = Key::from(ip);
        if let Some(i) = self.find(key) {
            let i = i as usize;
            let state = self.aged_state(&self.entries[i], now_ns);
            let entry = &mut self.entries[i];
            entry.state = state;
            if state != NeighborState::Incomplete {
                return Lookup::Found(entry.mac);
            }
            if now_ns.saturating_sub(entry.requested_ns) < self.config.request_interval_ns {
                self.stats.rate_limited += 1;
                return Lookup::RateLimited;
            }
            return self.request(i, now_ns);
        }
        if !self.global_budget_left(now_ns) {
            self.stats.rate_limited += 1;
            return Lookup::RateLimited;
        }
        let Some(i) = self.allocate(key, now_ns) else {
            self.stats.table_full += 1;
            self.stats.rate_limited += 1;
            return Lookup::RateLimited;
        };
        self.entries[i] = Entry {
            key,
            used: true,
            state: NeighborState::Incomplete,
            mac: MacAddr([0; 6]),
            since_ns: now_ns,
            requested_ns: now_ns,
            pending_head: 0,
            pending_len: 0,
        };
        self.request(i, now_ns)
    }

    fn request(&mut self, i: usize, now_ns: u64) -> Lookup {
        if !self.global_budget_left(now_ns) {
            self.stats.rate_limited += 1;
            return Lookup::RateLimited;
        }
        self.window_requests += 1;
        self.entries[i].requested_ns = now_ns;
        self.stats.requests += 1;
        Lookup::NotFound
    }

    fn global_budget_left(&mut self, now_ns: u64) -> bool {
        if now_ns.saturating_sub(self.window_start_ns) >= SECOND_NS {
            self.window_start_ns = now_ns;
            self.window_requests = 0;
        }
        self.window_requests < self.config.requests_per_second
    }

    /// Queues frame `handle` on `ip`'s incomplete entry (see [`Enqueue`]).
    pub fn enqueue(&mut self, ip: IpAddr, handle: u32) -> Enqueue {
        let depth = self.config.pending_per_entry as u32;
        let Some(i) = self.find(Key::from(ip)) else {
            return Enqueue::Rejected(handle);
        };
        let entry = &mut self.entries[i as usize];
        if entry.state != NeighborState::Incomplete || depth == 0 {
            return Enqueue::Rejected(handle);
        }
        let base = i as usize * depth as usize;
        if entry.pending_len == depth {
            let oldest = entry.pending_head;
            let dropped = std::mem::replace(&mut self.pending[base + oldest as usize], handle);
            entry.pending_head = (oldest + 1) % depth;
            self.stats.pending_dropped += 1;
            return Enqueue::DroppedOldest(dropped);
        }
        let tail = (entry.pending_head + entry.pending_len) % depth;
        self.pending[base + tail as usize] = handle;
        entry.pending_len += 1;
        Enqueue::Queued
    }

    /// Hands `ip`'s queued frame handles to `send`, oldest first, and empties the queue. Returns how many.
    pub fn drain_pending(&mut self, ip: IpAddr, send: impl FnMut(u32)) -> usize {
        match self.find(Key::from(ip)) {
            Some(i) => self.take_pending(i as usize, send),
            None => 0,
        }
    }

    fn take_pending(&mut self, i: usize, mut send: impl FnMut(u32)) -> usize {
        let depth = self.config.pending_per_entry;
        let entry = &mut self.entries[i];
        let (head, len) = (entry.pending_head as usize, entry.pending_len as usize);
        entry.pending_head = 0;
        entry.pending_len = 0;
        for k in 0..len {
            send(self.pending[i * depth + (head + k) % depth]);
        }
        len
    }

    /// Records a solicited reply (ARP reply, solicited NA): the entry becomes `Reachable`. A reply for an
    /// address the cache holds no entry for (never asked, or evicted meanwhile) is ignored and counted, as
    /// Linux does: unsolicited replies must not fill the table (RFC 4861 §7.2.5).
    pub fn update_from_reply(&mut self, ip: IpAddr, mac: MacAddr, now_ns: u64) -> Update {
        self.journal(ip, mac, Learned::Reply);
        let Some(i) = self.find(Key::from(ip)) else {
            self.stats.unsolicited_ignored += 1;
            return Update::Ignored;
        };
        let entry = &mut self.entries[i as usize];
        entry.state = NeighborState::Reachable;
        entry.mac = mac;
        entry.since_ns = now_ns;
        Update::Updated {
            pending: entry.pending_len as usize,
        }
    }

    /// Learns the sender of a request addressed to one of this stack's addresses (ARP request, NS with a
    /// source link-layer option): it is about to talk to us, so an entry is created `Stale` (RFC 826's merge
    /// rule, RFC 4861 §7.2.3), evicting if the table is full. An existing entry is updated as by
    /// [`NeighborCache::update_from_gratuitous`].
    pub fn learn_from_request(&mut self, ip: IpAddr, mac: MacAddr, now_ns: u64) -> Update {
        self.journal(ip, mac, Learned::Request);
        let key = Key::from(ip);
        if let Some(i) = self.find(key) {
            return self.merge(i as usize, mac, now_ns);
        }
        let Some(i) = self.allocate(key, now_ns) else {
            self.stats.table_full += 1;
            return Update::Ignored;
        };
        self.entries[i] = Entry {
            key,
            used: true,
            state: NeighborState::Stale,
            mac,
            since_ns: now_ns,
            requested_ns: 0,
            pending_head: 0,
            pending_len: 0,
        };
        Update::Created
    }

    /// Records a gratuitous ARP or unsolicited NA: only an existing entry is updated (RFC 826's merge rule,
    /// RFC 4861 §7.2.5). A new or changed address is not a confirmation of reachability, so the entry
    /// becomes `Stale`; the same address on a reachable entry changes nothing.
    pub fn update_from_gratuitous(&mut self, ip: IpAddr, mac: MacAddr, now_ns: u64) -> Update {
        self.journal(ip, mac, Learned::Gratuitous);
        match self.find(Key::from(ip)) {
            Some(i) => self.merge(i as usize, mac, now_ns),
            None => {
                self.stats.gratuitous_ignored += 1;
                Update::Ignored
            }
        }
    }

    /// An unconfirmed address for existing entry `i`.
    fn merge(&mut self, i: usize, mac: MacAddr, now_ns: u64) -> Update {
        let state = self.aged_state(&self.entries[i], now_ns);
        let entry = &mut self.entries[i];
        if state == NeighborState::Incomplete || entry.mac != mac {
            entry.state = NeighborState::Stale;
            entry.mac = mac;
            entry.since_ns = now_ns;
        } else {
            entry.state = state;
        }
        Update::Updated {
            pending: entry.pending_len as usize,
        }
    }

    /// Ages every entry: reachable ones past their time become stale, stale ones past the stale timeout and
    /// unanswered incomplete ones are removed. Queued handles of removed entries are counted and dropped:
    /// use [`NeighborCache::expire_with`] to free their frames.
    pub fn expire(&mut self, now_ns: u64) -> usize {
        self.expire_with(now_ns, |_| {})
    }

    /// As [`NeighborCache::expire`], handing the queued handles of removed entries to `release`. Returns the
    /// number of entries removed.
    pub fn expire_with(&mut self, now_ns: u64, mut release: impl FnMut(u32)) -> usize {
        let mut removed = 0;
        for i in 0..self.entries.len() {
            let entry = self.entries[i];
            if !entry.used {
                continue;
            }
            let state = self.aged_state(&entry, now_ns);
            let dead = match state {
                NeighborState::Incomplete => now_ns.saturating_sub(entry.since_ns) >= self.config.incomplete_timeout_ns,
                NeighborState::Stale => now_ns.saturating_sub(entry.since_ns) >= self.config.stale_timeout_ns,
                NeighborState::Reachable => false,
            };
            if dead {
                self.stats.pending_expired += self.take_pending(i, &mut release) as u64;
                self.remove(i);
                self.stats.expired += 1;
                removed += 1;
            } else {
                self.entries[i].state = state;
            }
        }
        removed
    }

    fn aged_state(&self, entry: &Entry, now_ns: u64) -> NeighborState {
        match entry.state {
            NeighborState::Reachable if now_ns.saturating_sub(entry.since_ns) >= self.config.reachable_time_ns => {
                NeighborState::Stale
            }
            state => state,
        }
    }

    /// A free entry for `key`, evicting if needed; inserted in the index.
    fn allocate(&mut self, key: Key, now_ns: u64) -> Option<usize> {
        if self.free.is_empty() {
            self.evict(now_ns)?;
        }
        let i = self.free.pop()?;
        let mut slot = self.slot_of(key);
        let mask = self.index.len() - 1;
        while self.index[slot] != NO_ENTRY {
            slot = (slot + 1) & mask;
        }
        self.index[slot] = i;
        self.entries[i as usize].key = key;
        self.entries[i as usize].used = true;
        Some(i as usize)
    }

    /// Frees one entry: the stale one learned longest ago, else the oldest incomplete one with no queued
    /// frames (evicting one with frames would lose their handles; it expires within
    /// [`NeighborConfig::incomplete_timeout_ns`] anyway).
    fn evict(&mut self, now_ns: u64) -> Option<()> {
        let mut oldest_stale: Option<(u64, usize)> = None;
        let mut oldest_incomplete: Option<(u64, usize)> = None;
        for (i, entry) in self.entries.iter().enumerate() {
            let candidate = match self.aged_state(entry, now_ns) {
                NeighborState::Stale => &mut oldest_stale,
                NeighborState::Incomplete if entry.used && entry.pending_len == 0 => &mut oldest_incomplete,
                NeighborState::Incomplete | NeighborState::Reachable => continue,
            };
            if candidate.is_none_or(|(since, _)| entry.since_ns < since) {
                *candidate = Some((entry.since_ns, i));
            }
        }
        if let Some((_, i)) = oldest_stale {
            self.stats.evicted_stale += 1;
            self.remove(i);
        } else {
            let (_, i) = oldest_incomplete?;
            self.stats.evicted_incomplete += 1;
            self.remove(i);
        }
        Some(())
    }

    /// Removes entry `i` from the index (backward-shift deletion) and frees it.
    fn remove(&mut self, i: usize) {
        let mask = self.index.len() - 1;
        let mut hole = self.slot_of(self.entries[i].key);
        while self.index[hole] != i as u32 {
            hole = (hole + 1) & mask;
        }
        let mut next = (hole + 1) & mask;
        while self.index[next] != NO_ENTRY {
            let home = self.slot_of(self.entries[self.index[next] as usize].key);
            // Move `next` into the hole unless its home lies cyclically in (hole, next].
            if (next.wrapping_sub(home) & mask) >= (next.wrapping_sub(hole) & mask) {
                self.index[hole] = self.index[next];
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.index[hole] = NO_ENTRY;
        self.entries[i] = FREE;
        self.free.push(i as u32);
    }

    #[inline]
    fn slot_of(&self, key: Key) -> usize {
        let h = (key.addr as u64) ^ ((key.addr >> 64) as u64).rotate_left(29) ^ u64::from(key.v6);
        (h.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    #[inline]
    fn find(&self, key: Key) -> Option<u32> {
        let mask = self.index.len() - 1;
        let mut slot = self.slot_of(key);
        loop {
            let i = self.index[slot];
            if i == NO_ENTRY {
                return None;
            }
            if self.entries[i as usize].key == key {
                return Some(i);
            }
            slot = (slot + 1) & mask;
        }
    }
}
