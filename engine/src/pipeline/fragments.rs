//! Which service the later fragments of an IP datagram belong to.
//!
//! Only the first fragment carries the transport header, so demultiplexing remembers its service, keyed by
//! (source, destination, protocol, identification), and later fragments follow it. The cache is a fixed
//! array of 4-way buckets allocated once: a flood of fragments can only evict entries (counted), never grow
//! memory. Entries expire after a timeout (`now` is an argument; the pipeline reads no clock).

use super::service::Service;

/// Identifies a fragmented datagram; IPv4 addresses are stored IPv4-mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragmentKey {
    /// Source address.
    pub src: u128,
    /// Destination address.
    pub dst: u128,
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Transport protocol (IPv4 protocol or IPv6 upper-layer next header).
    pub protocol: u8,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: FragmentKey,
    service: Service,
    expires_ns: u64,
}

/// Eviction and expiry counts of the cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragmentStats {
    /// Live entries pushed out by a new datagram because their bucket was full.
    pub evicted: u64,
    /// Entries found expired when looked up or replaced.
    pub expired: u64,
}

/// A bounded cache from datagram to service.
#[derive(Debug)]
pub struct FragmentCache {
    slots: Box<[Slot]>,
    bucket_mask: usize,
    timeout_ns: u64,
    stats: FragmentStats,
}

const WAYS: usize = 4;

/// An unused slot (`expires_ns == 0` marks it free).
const FREE: Slot = Slot {
    key: FragmentKey {
        src: 0,
        dst: 0,
        id: 0,
        protocol: 0,
    },
    service: Service::Unclassified,
    expires_ns: 0,
};

/// Default capacity in datagrams.
pub const DEFAULT_FRAGMENT_CAPACITY: usize = 4096;
/// Default lifetime of an entry: RFC 791's suggested reassembly timer is 15 s, Linux uses 30 s.
pub const DEFAULT_FRAGMENT_TIMEOUT_NS: u64 = 30_000_000_000;

impl FragmentCache {
    /// A cache for at least `capacity` datagrams (rounded up to a power of two) whose entries live
    /// `timeout_ns`.
    pub fn new(capacity: usize, timeout_ns: u64) -> Self {
        let buckets = capacity.div_ceil(WAYS).next_power_of_two().max(1);
        Self {
            slots: vec![FREE; buckets * WAYS].into_boxed_slice(),
            bucket_mask: buckets - 1,
            timeout_ns,
            stats: FragmentStats::default(),
        }
    }

    fn bucket(&self, key: &FragmentKey) -> std::ops::Range<usize> {
        // A multiplicative hash of the key's words; the identification varies most, so it is mixed last.
        let mut h = (key.src as u64) ^ ((key.src >> 64) as u64).rotate_left(17);
        h ^= ((key.dst as u64) ^ ((key.dst >> 64) as u64).rotate_left(31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^= u64::from(key.id) << 8 | u64::from(key.protocol);
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        let start = ((h >> 32) as usize & self.bucket_mask) * WAYS;
        start..start + WAYS
    }

    /// Remembers that datagram `key` (whose first fragment was just seen) is for `service`.
    pub fn insert(&mut self, key: FragmentKey, service: Service, now_ns: u64) {
        let range = self.bucket(&key);
        let expires_ns = now_ns.saturating_add(self.timeout_ns);
        let bucket = &mut self.slots[range];
        let slot = match bucket.iter().position(|s| s.expires_ns != 0 && s.key == key) {
            Some(i) => i,
            None => {
                let free = bucket.iter().position(|s| s.expires_ns == 0);
                let expired = bucket.iter().position(|s| s.expires_ns <= now_ns);
                match (free, expired) {
                    (Some(i), _) => i,
                    (None, Some(i)) => {
                        self.stats.expired += 1;
                        i
                    }
                    (None, None) => {
                        self.stats.evicted += 1;
                        bucket
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, s)| s.expires_ns)
                            .map_or(0, |(i, _)| i)
                    }
                }
            }
        };
        bucket[slot] = Slot {
            key,
            service,
            expires_ns,
        };
    }

    /// The service of datagram `key`, or `None` when its first fragment was never seen or has expired.
    pub fn lookup(&mut self, key: &FragmentKey, now_ns: u64) -> Option<Service> {
        let range = self.bucket(key);
        let slot = self.slots[range]
            .iter_mut()
            .find(|s| s.expires_ns != 0 && s.key == *key)?;
        if slot.expires_ns <= now_ns {
            *slot = FREE;
            self.stats.expired += 1;
            return None;
        }
        Some(slot.service)
    }

    /// Evictions and expiries so far.
    pub fn stats(&self) -> FragmentStats {
        self.stats
    }
}

impl Default for FragmentCache {
    fn default() -> Self {
        Self::new(DEFAULT_FRAGMENT_CAPACITY, DEFAULT_FRAGMENT_TIMEOUT_NS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: u32) -> FragmentKey {
        FragmentKey {
            src: 0xffff_0a00_0001,
            dst: 0xffff_0a00_0002,
            id,
            protocol: 17,
        }
    }

    #[test]
    fn later_fragments_find_the_first_ones_service() {
        let mut cache = FragmentCache::new(16, 1_000);
        cache.insert(key(7), Service::Nfs, 10);
        assert_eq!(cache.lookup(&key(7), 20), Some(Service::Nfs));
        assert_eq!(cache.lookup(&key(8), 20), None);
    }

    #[test]
    fn entries_expire() {
        let mut cache = FragmentCache::new(16, 1_000);
        cache.insert(key(7), Service::Nfs, 10);
        assert_eq!(cache.lookup(&key(7), 1_010), None);
        assert_eq!(cache.stats().expired, 1);
    }

    #[test]
    fn a_flood_is_bounded_and_evictions_are_counted() {
        let mut cache = FragmentCache::new(64, u64::MAX / 2);
        for id in 0..10_000 {
            cache.insert(key(id), Service::Vmotion, 1);
        }
        assert_eq!(cache.slots.len(), 64);
        assert_eq!(cache.stats().evicted, 10_000 - 64);
        let hits = (0..10_000).filter(|id| cache.lookup(&key(*id), 2).is_some()).count();
        assert_eq!(hits, 64);
    }
}
