//! Criterion benches of the per-netstack route lookup: vmknet's IPv4 DIR-16-8-8 trie and IPv6 binary search
//! on prefix lengths against two simple baselines, on the embedded default's `defaultTcpipStack` table plus
//! ~1000 random routes per family.
//!
//! Baselines: a `BTreeMap<(prefix_len, network), route>` probed at each present prefix length from longest to
//! shortest, and a linear scan of the routes sorted longest first. Each iteration looks up a batch of
//! [`BATCH`] destinations (half drawn inside the random prefixes, half uniformly random); criterion's
//! throughput is lookups per second, and ns per lookup is its time divided by [`BATCH`]. `vmknet` is the whole
//! `RouteTable::lookup` (answering a `Route`); `vmknet_index_only` the bare trie / hash table.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vmknet::model::{HostModel, IpNetwork, Ipv4Cidr, Ipv6Cidr, NetstackKey, RouteEntry, RouteSource};
use vmknet::netstack::RouteTable;

/// Destinations per iteration.
const BATCH: usize = 1024;
/// Random routes added per family.
const RANDOM_ROUTES: usize = 1000;

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// A route's network and length as the baselines key it: IPv4 in the low 32 bits.
type Key = (u8, u128);

struct Baseline {
    /// Present prefix lengths, longest first, per family.
    lengths_v4: Vec<u8>,
    lengths_v6: Vec<u8>,
    map: BTreeMap<(bool, Key), usize>,
    /// (family, mask, network, route) sorted longest first.
    linear: Vec<(bool, u128, u128, usize)>,
}

impl Baseline {
    fn new(entries: &[RouteEntry]) -> Self {
        let mut map = BTreeMap::new();
        let mut linear = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let (v6, len, net, mask) = match e.network {
                IpNetwork::V4(c) => (
                    false,
                    c.prefix_len,
                    u128::from(u32::from(c.network())),
                    u128::from(mask32(c.prefix_len)),
                ),
                IpNetwork::V6(c) => (true, c.prefix_len, u128::from(c.network()), mask128(c.prefix_len)),
            };
            map.entry((v6, (len, net))).or_insert(i);
            linear.push((v6, len, mask, net, i));
        }
        linear.sort_by_key(|&(_, len, ..)| std::cmp::Reverse(len));
        let lengths = |family: bool| {
            let mut l: Vec<u8> = map
                .keys()
                .filter(|(v6, _)| *v6 == family)
                .map(|(_, (len, _))| *len)
                .collect();
            l.dedup();
            l.reverse();
            l
        };
        Self {
            lengths_v4: lengths(false),
            lengths_v6: lengths(true),
            linear: linear
                .into_iter()
                .map(|(v6, _, mask, net, i)| (v6, mask, net, i))
                .collect(),
            map,
        }
    }

    fn btree(&self, dst: IpAddr) -> Option<usize> {
        match dst {
            IpAddr::V4(ip) => self.lengths_v4.iter().find_map(|&len| {
                let net = u128::from(u32::from(ip) & mask32(len));
                self.map.get(&(false, (len, net))).copied()
            }),
            IpAddr::V6(ip) => self.lengths_v6.iter().find_map(|&len| {
                let net = u128::from(ip) & mask128(len);
                self.map.get(&(true, (len, net))).copied()
            }),
        }
    }

    fn linear(&self, dst: IpAddr) -> Option<usize> {
        let (v6, a) = match dst {
            IpAddr::V4(ip) => (false, u128::from(u32::from(ip))),
            IpAddr::V6(ip) => (true, u128::from(ip)),
        };
        self.linear
            .iter()
            .find(|&&(f, mask, net, _)| f == v6 && a & mask == net)
            .map(|&(.., i)| i)
    }
}

struct Setup {
    table: RouteTable,
    baseline: Baseline,
    v4: Vec<IpAddr>,
    v6: Vec<IpAddr>,
}

fn setup() -> Setup {
    let model = HostModel::embedded_default();
    let netstack = model.netstack_by_key(&NetstackKey::Default).expect("default stack");
    let vmk0 = model.vmk_by_name("vmk0").expect("vmk0").id;
    let mut rng = Rng(0x5eed_1b00);
    let mut entries = model.route_entries(netstack);
    let mut v4_prefixes = Vec::new();
    let mut v6_prefixes = Vec::new();
    for _ in 0..RANDOM_ROUTES {
        // Lengths as a routing table has them: mostly /16 to /28, a few host routes and short aggregates.
        let len = [8, 12, 16, 20, 22, 23, 24, 24, 24, 25, 26, 27, 28, 30, 32][rng.below(15) as usize];
        let addr = Ipv4Addr::from(rng.next() as u32 & mask32(len));
        v4_prefixes.push((addr, len));
        entries.push(RouteEntry {
            netstack: netstack.id,
            network: IpNetwork::V4(Ipv4Cidr { addr, prefix_len: len }),
            gateway: Some(IpAddr::V4(Ipv4Addr::new(10, 10, 10, 1))),
            interface: Some(vmk0),
            source: RouteSource::Manual,
        });
        let len = [
            16, 24, 32, 40, 44, 48, 48, 48, 52, 56, 56, 60, 64, 64, 64, 96, 112, 127, 128,
        ][rng.below(19) as usize];
        let addr =
            Ipv6Addr::from((0x2000u128 << 112 | u128::from(rng.next()) << 64 | u128::from(rng.next())) & mask128(len));
        v6_prefixes.push((addr, len));
        entries.push(RouteEntry {
            netstack: netstack.id,
            network: IpNetwork::V6(Ipv6Cidr { addr, prefix_len: len }),
            gateway: Some(IpAddr::V6("fd00:10::1".parse().expect("gateway"))),
            interface: Some(vmk0),
            source: RouteSource::Manual,
        });
    }
    let table = RouteTable::from_entries(&model, netstack, &entries).expect("table");
    let baseline = Baseline::new(&entries);
    let v4 = (0..BATCH)
        .map(|i| {
            let random = rng.next() as u32;
            let ip = if i % 2 == 0 {
                let (net, len) = v4_prefixes[rng.below(v4_prefixes.len() as u64) as usize];
                u32::from(net) | (random & !mask32(len))
            } else {
                random
            };
            IpAddr::V4(Ipv4Addr::from(ip))
        })
        .collect();
    let v6 = (0..BATCH)
        .map(|i| {
            let random = u128::from(rng.next()) << 64 | u128::from(rng.next());
            let ip = if i % 2 == 0 {
                let (net, len) = v6_prefixes[rng.below(v6_prefixes.len() as u64) as usize];
                u128::from(net) | (random & !mask128(len))
            } else {
                0x2000u128 << 112 | random >> 16
            };
            IpAddr::V6(Ipv6Addr::from(ip))
        })
        .collect();
    Setup {
        table,
        baseline,
        v4,
        v6,
    }
}

fn lpm(c: &mut Criterion) {
    let s = setup();
    // Both baselines and the table agree on every destination (same first-wins rule for duplicates).
    for &dst in s.v4.iter().chain(&s.v6) {
        let ours = s.table.lookup(dst).map(|r| (r.next_hop, r.prefix_len));
        assert!(ours.is_some(), "{dst} has a route (default)");
        assert_eq!(s.baseline.btree(dst), s.baseline.linear(dst), "{dst}");
    }
    eprintln!(
        "lpm: {} routes in defaultTcpipStack, route table {} KiB (IPv4 trie {} KiB in {} chunks, IPv6 {} KiB \
         over {} prefix lengths)",
        s.table.len(),
        s.table.memory_bytes() / 1024,
        s.table.ipv4_lpm().memory_bytes() / 1024,
        s.table.ipv4_lpm().chunks(),
        s.table.ipv6_lpm().memory_bytes() / 1024,
        s.table.ipv6_lpm().levels(),
    );
    for (family, dsts) in [("ipv4", &s.v4), ("ipv6", &s.v6)] {
        let mut group = c.benchmark_group(format!("lpm_{family}"));
        group.throughput(Throughput::Elements(dsts.len() as u64));
        group.bench_function("vmknet", |b| {
            b.iter(|| {
                for &dst in dsts.iter() {
                    black_box(s.table.lookup(black_box(dst)));
                }
            })
        });
        // The bare structure (route index only), to separate it from building the `Route`.
        group.bench_function("vmknet_index_only", |b| {
            b.iter(|| {
                for &dst in dsts.iter() {
                    black_box(match black_box(dst) {
                        IpAddr::V4(ip) => s.table.ipv4_lpm().lookup(ip),
                        IpAddr::V6(ip) => s.table.ipv6_lpm().lookup(ip),
                    });
                }
            })
        });
        group.bench_function("btreemap_by_length", |b| {
            b.iter(|| {
                for &dst in dsts.iter() {
                    black_box(s.baseline.btree(black_box(dst)));
                }
            })
        });
        group.bench_function("linear_scan", |b| {
            b.iter(|| {
                for &dst in dsts.iter() {
                    black_box(s.baseline.linear(black_box(dst)));
                }
            })
        });
        group.finish();
    }
}

criterion_group!(benches, lpm);
criterion_main!(benches);
