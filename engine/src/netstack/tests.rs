//! Route selection, the neighbour state machine, and both LPMs checked against a linear scan.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::*;
use crate::model::{HostModel, IpNetwork, Ipv4Cidr, MacAddr, NetstackKey, RouteEntry, RouteSource, VmkId};

/// Two stacks holding the same prefixes through different gateways, nested static routes, and an adapter
/// (vmk2) with IPv4 and IPv6 gateway overrides.
const HOST: &str = r#"
[host]
name = "esx-routes"
uplinks = ["vmnic0"]

[[netstack]]
key = "defaultTcpipStack"
ipv4_gateway = "10.10.10.1"
ipv6_gateway = "fd00:10::1"

[[netstack]]
key = "vmotion"
ipv4_gateway = "10.20.20.1"
ipv6_gateway = "fd00:20::1"

[[vmk]]
name = "vmk0"
mac = "00:50:56:00:00:a0"
vlan = 10
ipv4 = "10.10.10.11/24"
ipv6 = ["fd00:10::11/64"]
tags = ["Management"]

[[vmk]]
name = "vmk1"
netstack = "vmotion"
mac = "00:50:56:00:00:a1"
vlan = 20
ipv4 = "10.20.20.11/24"
ipv6 = ["fd00:20::11/64"]
tags = ["VMotion"]

[[vmk]]
name = "vmk2"
mac = "00:50:56:00:00:a2"
vlan = 80
ipv4 = "10.80.80.11/24"
ipv6 = ["fd00:80::11/64"]
ipv4_gateway = "10.80.80.1"
ipv6_gateway = "fd00:80::1"

[[route]]
netstack = "defaultTcpipStack"
network = "192.168.0.0/16"
gateway = "10.10.10.253"

[[route]]
netstack = "defaultTcpipStack"
network = "192.168.100.0/24"
gateway = "10.10.10.254"

[[route]]
netstack = "defaultTcpipStack"
network = "192.168.100.128/25"
gateway = "10.80.80.254"

[[route]]
netstack = "vmotion"
network = "192.168.100.0/24"
gateway = "10.20.20.254"

[[route]]
netstack = "defaultTcpipStack"
network = "fd00:99::/48"
gateway = "fd00:10::fe"

[[route]]
netstack = "defaultTcpipStack"
network = "fd00:99:0:1::/64"
gateway = "fd00:80::fe"

[[route]]
netstack = "vmotion"
network = "fd00:99::/48"
gateway = "fd00:20::fe"
"#;

const VMK0: VmkId = VmkId(0);
const VMK1: VmkId = VmkId(1);
const VMK2: VmkId = VmkId(2);

fn host() -> HostModel {
    match HostModel::from_toml("routes.toml", HOST) {
        Ok(model) => model,
        Err(err) => panic!("test host invalid: {err}"),
    }
}

fn table(model: &HostModel, key: NetstackKey) -> RouteTable {
    let netstack = model.netstack_by_key(&key).expect("stack exists");
    RouteTable::compile(model, netstack).expect("compiles")
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse().expect("ipv4"))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse().expect("ipv6"))
}

fn route(next_hop: IpAddr, interface: VmkId, source: RouteOrigin, prefix_len: u8) -> Option<Route> {
    Some(Route {
        next_hop,
        interface,
        source,
        prefix_len,
    })
}

#[test]
fn longest_prefix_wins() {
    let model = host();
    let t = table(&model, NetstackKey::Default);
    assert_eq!(
        t.lookup(v4("192.168.100.200")),
        route(v4("10.80.80.254"), VMK2, RouteOrigin::Static, 25)
    );
    assert_eq!(
        t.lookup(v4("192.168.100.5")),
        route(v4("10.10.10.254"), VMK0, RouteOrigin::Static, 24)
    );
    assert_eq!(
        t.lookup(v4("192.168.5.5")),
        route(v4("10.10.10.253"), VMK0, RouteOrigin::Static, 16)
    );
}

#[test]
fn default_route_and_connected_beats_default() {
    let model = host();
    let t = table(&model, NetstackKey::Default);
    assert_eq!(
        t.lookup(v4("8.8.8.8")),
        route(v4("10.10.10.1"), VMK0, RouteOrigin::StackGateway, 0)
    );
    // On-link: the next hop is the destination itself.
    assert_eq!(
        t.lookup(v4("10.10.10.77")),
        route(v4("10.10.10.77"), VMK0, RouteOrigin::Connected, 24)
    );
    assert_eq!(
        t.lookup(v4("10.80.80.9")),
        route(v4("10.80.80.9"), VMK2, RouteOrigin::Connected, 24)
    );
    assert_eq!(RouteOrigin::Connected.source(), RouteSource::Local);
    assert_eq!(RouteOrigin::StackGateway.source(), RouteSource::Manual);
}

#[test]
fn stacks_are_isolated() {
    let model = host();
    let default = table(&model, NetstackKey::Default);
    let vmotion = table(&model, NetstackKey::Vmotion);
    assert_eq!(
        vmotion.lookup(v4("192.168.100.5")),
        route(v4("10.20.20.254"), VMK1, RouteOrigin::Static, 24)
    );
    assert_ne!(default.lookup(v4("192.168.100.5")), vmotion.lookup(v4("192.168.100.5")));
    // The vMotion stack has no /25 and no /16: its /24 or its own gateway answer.
    assert_eq!(
        vmotion.lookup(v4("192.168.100.200")),
        route(v4("10.20.20.254"), VMK1, RouteOrigin::Static, 24)
    );
    assert_eq!(
        vmotion.lookup(v4("192.168.5.5")),
        route(v4("10.20.20.1"), VMK1, RouteOrigin::StackGateway, 0)
    );
    // Another stack's connected subnet is off-link here.
    assert_eq!(
        vmotion.lookup(v4("10.10.10.77")),
        route(v4("10.20.20.1"), VMK1, RouteOrigin::StackGateway, 0)
    );
    assert_eq!(
        vmotion.lookup(v6("fd00:99:0:1::5")),
        route(v6("fd00:20::fe"), VMK1, RouteOrigin::Static, 48)
    );
    // An adapter cannot send through another stack's table.
    assert_eq!(default.lookup_from(VMK1, v4("8.8.8.8")), None);
    assert_eq!(vmotion.lookup_from(VMK0, v4("8.8.8.8")), None);
}

#[test]
fn adapter_override_wins_over_stack_gateway() {
    let model = host();
    let t = table(&model, NetstackKey::Default);
    assert_eq!(
        t.lookup_from(VMK2, v4("8.8.8.8")),
        route(v4("10.80.80.1"), VMK2, RouteOrigin::AdapterGateway, 0)
    );
    assert_eq!(
        t.lookup_from(VMK2, v6("2001:db8::1")),
        route(v6("fd00:80::1"), VMK2, RouteOrigin::AdapterGateway, 0)
    );
    // No override on vmk0: the stack gateway.
    assert_eq!(
        t.lookup_from(VMK0, v4("8.8.8.8")),
        route(v4("10.10.10.1"), VMK0, RouteOrigin::StackGateway, 0)
    );
    // On-link and static routes stay more specific than the override.
    assert_eq!(
        t.lookup_from(VMK2, v4("10.10.10.77")),
        route(v4("10.10.10.77"), VMK0, RouteOrigin::Connected, 24)
    );
    assert_eq!(
        t.lookup_from(VMK2, v4("192.168.100.5")),
        route(v4("10.10.10.254"), VMK0, RouteOrigin::Static, 24)
    );
}

#[test]
fn override_applies_without_stack_gateway() {
    let mut model = host();
    model.netstacks[0].ipv4_gateway = None;
    let t = table(&model, NetstackKey::Default);
    assert_eq!(t.lookup(v4("8.8.8.8")), None);
    assert_eq!(t.lookup_from(VMK0, v4("8.8.8.8")), None);
    assert_eq!(
        t.lookup_from(VMK2, v4("8.8.8.8")),
        route(v4("10.80.80.1"), VMK2, RouteOrigin::AdapterGateway, 0)
    );
}

#[test]
fn ipv6_selection() {
    let model = host();
    let t = table(&model, NetstackKey::Default);
    assert_eq!(
        t.lookup(v6("fd00:99:0:1::5")),
        route(v6("fd00:80::fe"), VMK2, RouteOrigin::Static, 64)
    );
    assert_eq!(
        t.lookup(v6("fd00:99:0:2::5")),
        route(v6("fd00:10::fe"), VMK0, RouteOrigin::Static, 48)
    );
    assert_eq!(
        t.lookup(v6("2001:db8::1")),
        route(v6("fd00:10::1"), VMK0, RouteOrigin::StackGateway, 0)
    );
    assert_eq!(
        t.lookup(v6("fd00:10::99")),
        route(v6("fd00:10::99"), VMK0, RouteOrigin::Connected, 64)
    );
    // IPv4 prefixes never answer for IPv6 and vice versa.
    assert_eq!(
        t.lookup(v6("::c0a8:6405")).map(|r| r.source),
        Some(RouteOrigin::StackGateway)
    );
}

#[test]
fn unreachable_gateway_answers_none_instead_of_a_shorter_prefix() {
    let model = host();
    let netstack = &model.netstacks[0];
    let mut entries = model.route_entries(netstack);
    entries.push(RouteEntry {
        netstack: netstack.id,
        network: IpNetwork::V4(Ipv4Cidr {
            addr: Ipv4Addr::new(172, 16, 0, 0),
            prefix_len: 12,
        }),
        gateway: Some(v4("192.0.2.1")),
        interface: None,
        source: RouteSource::Manual,
    });
    let t = RouteTable::from_entries(&model, netstack, &entries).expect("compiles");
    assert_eq!(t.lookup(v4("172.16.1.1")), None);
    assert!(t.lookup(v4("172.32.1.1")).is_some());
}

#[test]
fn embedded_default_tables() {
    let model = HostModel::embedded_default();
    let tables = compile_all(&model, NeighborConfig::default()).expect("compiles");
    assert_eq!(tables.len(), model.netstacks.len());
    let default = &tables[0].routes;
    let vmk8 = model.vmk_by_name("vmk8").expect("vmk8").id;
    let vmk0 = model.vmk_by_name("vmk0").expect("vmk0").id;
    assert_eq!(
        default.lookup(v4("10.99.1.1")),
        route(v4("10.80.80.1"), vmk8, RouteOrigin::Static, 16)
    );
    assert_eq!(
        default.lookup_from(vmk8, v4("1.1.1.1")),
        route(v4("10.80.80.1"), vmk8, RouteOrigin::AdapterGateway, 0)
    );
    assert_eq!(
        default.lookup_from(vmk0, v4("1.1.1.1")),
        route(v4("10.10.10.1"), vmk0, RouteOrigin::StackGateway, 0)
    );
    for t in &tables {
        // 256 KiB first level, a handful of chunks, the neighbour cache.
        assert!(t.routes.memory_bytes() < 300 * 1024, "{}", t.routes.memory_bytes());
        assert!(t.memory_bytes() < 400 * 1024, "{}", t.memory_bytes());
    }
}

#[test]
fn neighbor_config_is_checked() {
    let config = NeighborConfig {
        capacity: 0,
        ..NeighborConfig::default()
    };
    assert!(matches!(
        NeighborCache::new(config),
        Err(NetstackError::NeighborCapacity { .. })
    ));
}

// ---- LPM against a linear scan ----

fn naive_v4(prefixes: &[(Ipv4Addr, u8, u32)], dst: Ipv4Addr) -> Option<u32> {
    let mut best: Option<(u8, u32)> = None;
    for &(addr, len, value) in prefixes {
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) };
        // Equal prefixes: the later one wins, as in `build`.
        if u32::from(dst) & mask == u32::from(addr) & mask && best.is_none_or(|(l, _)| len >= l) {
            best = Some((len, value));
        }
    }
    best.map(|(_, v)| v)
}

fn naive_v6(prefixes: &[(Ipv6Addr, u8, u32)], dst: Ipv6Addr) -> Option<u32> {
    let mut best: Option<(u8, u32)> = None;
    for &(addr, len, value) in prefixes {
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        if u128::from(dst) & mask == u128::from(addr) & mask && best.is_none_or(|(l, _)| len >= l) {
            best = Some((len, value));
        }
    }
    best.map(|(_, v)| v)
}

/// Addresses drawn near a few bases so prefixes nest and overlap.
fn v4_addr() -> impl Strategy<Value = u32> {
    (0usize..4, any::<u32>(), 0u32..32).prop_map(|(base, noise, keep)| {
        let bases = [0x0a00_0000u32, 0xc0a8_6400, 0xac10_0000, 0];
        let high = if keep == 0 { 0 } else { u32::MAX << (32 - keep) };
        (bases[base] & high) | (noise & !high)
    })
}

fn v6_addr() -> impl Strategy<Value = u128> {
    (0usize..3, any::<u128>(), 0u32..128).prop_map(|(base, noise, keep)| {
        let bases = [0xfd00_0000_0000_0000_0000_0000_0000_0000u128, 0x2001_0db8u128 << 96, 0];
        let high = if keep == 0 { 0 } else { u128::MAX << (128 - keep) };
        (bases[base] & high) | (noise & !high)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ipv4_lpm_matches_linear_scan(
        prefixes in prop::collection::vec((v4_addr(), 0u8..=32), 0..64),
        dsts in prop::collection::vec(v4_addr(), 1..64),
    ) {
        let prefixes: Vec<(Ipv4Addr, u8, u32)> =
            prefixes.iter().enumerate().map(|(i, &(a, l))| (Ipv4Addr::from(a), l, i as u32)).collect();
        let lpm = Ipv4Lpm::build(&prefixes).expect("builds");
        for dst in dsts.into_iter().chain(prefixes.iter().map(|p| u32::from(p.0))) {
            let dst = Ipv4Addr::from(dst);
            prop_assert_eq!(lpm.lookup(dst), naive_v4(&prefixes, dst), "dst {}", dst);
        }
    }

    #[test]
    fn ipv6_lpm_matches_linear_scan(
        prefixes in prop::collection::vec((v6_addr(), 0u8..=128), 0..64),
        dsts in prop::collection::vec(v6_addr(), 1..64),
    ) {
        let prefixes: Vec<(Ipv6Addr, u8, u32)> =
            prefixes.iter().enumerate().map(|(i, &(a, l))| (Ipv6Addr::from(a), l, i as u32)).collect();
        let lpm = Ipv6Lpm::build(&prefixes).expect("builds");
        for dst in dsts.into_iter().chain(prefixes.iter().map(|p| u128::from(p.0))) {
            let dst = Ipv6Addr::from(dst);
            prop_assert_eq!(lpm.lookup(dst), naive_v6(&prefixes, dst), "dst {}", dst);
        }
    }

    /// Insertions, evictions and expiry keep the cache's index consistent with its entries.
    #[test]
    fn neighbor_index_stays_consistent(
        ops in prop::collection::vec((0u32..48, 0u64..20_000_000_000, any::<bool>()), 1..200),
    ) {
        let config = NeighborConfig { capacity: 16, ..NeighborConfig::default() };
        let mut cache = NeighborCache::new(config).expect("cache");
        let mut now = 0u64;
        for (n, step, reply) in ops {
            now += step;
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n));
            if reply {
                let mac = MacAddr([0, 0x50, 0x56, 0, 0, n as u8]);
                let learned = cache.learn_from_request(ip, mac, now);
                cache.update_from_reply(ip, mac, now);
                if learned != Update::Ignored {
                    prop_assert_eq!(cache.state(ip, now), Some((NeighborState::Reachable, Some(mac))));
                }
            } else {
                cache.lookup(ip, now);
            }
            cache.expire(now);
            let found = (0u32..48)
                .filter(|&k| cache.state(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + k)), now).is_some())
                .count();
            prop_assert_eq!(found, cache.len());
            prop_assert!(cache.len() <= 16);
        }
    }
}

// ---- Neighbour cache ----

const S: u64 = 1_000_000_000;
const MAC_A: MacAddr = MacAddr([0x00, 0x50, 0x56, 0xaa, 0x00, 0x01]);
const MAC_B: MacAddr = MacAddr([0x00, 0x50, 0x56, 0xbb, 0x00, 0x02]);

fn cache(capacity: usize, pending: usize) -> NeighborCache {
    NeighborCache::new(NeighborConfig {
        capacity,
        pending_per_entry: pending,
        ..NeighborConfig::default()
    })
    .expect("cache")
}

/// An entry resolved the usual way: our request, then its reply.
fn seed(cache: &mut NeighborCache, ip: IpAddr, mac: MacAddr, now_ns: u64) {
    assert_eq!(cache.lookup(ip, now_ns), Lookup::NotFound);
    assert_eq!(cache.update_from_reply(ip, mac, now_ns), Update::Updated { pending: 0 });
}

fn drained(cache: &mut NeighborCache, ip: IpAddr) -> Vec<u32> {
    let mut out = Vec::new();
    cache.drain_pending(ip, |h| out.push(h));
    out
}

#[test]
fn incomplete_reachable_stale_expired() {
    let mut c = cache(8, 4);
    let ip = v4("10.10.10.1");
    let t0 = 100 * S;
    assert_eq!(c.lookup(ip, t0), Lookup::NotFound);
    assert_eq!(c.state(ip, t0), Some((NeighborState::Incomplete, None)));
    assert_eq!(c.enqueue(ip, 1), Enqueue::Queued);
    assert_eq!(c.enqueue(ip, 2), Enqueue::Queued);
    assert_eq!(
        c.update_from_reply(ip, MAC_A, t0 + S / 10),
        Update::Updated { pending: 2 }
    );
    assert_eq!(drained(&mut c, ip), vec![1, 2]);
    assert_eq!(drained(&mut c, ip), Vec::<u32>::new());
    assert_eq!(c.lookup(ip, t0 + S), Lookup::Found(MAC_A));
    assert_eq!(c.state(ip, t0 + S), Some((NeighborState::Reachable, Some(MAC_A))));
    // A resolved entry takes no frames.
    assert_eq!(c.enqueue(ip, 3), Enqueue::Rejected(3));
    // 30 s after the reply: stale but still used.
    let learned = t0 + S / 10;
    assert_eq!(c.state(ip, learned + 30 * S), Some((NeighborState::Stale, Some(MAC_A))));
    assert_eq!(c.lookup(ip, learned + 30 * S), Lookup::Found(MAC_A));
    assert_eq!(c.expire(learned + 1199 * S), 0);
    assert_eq!(c.len(), 1);
    // 1200 s after it was learned: gone.
    assert_eq!(c.expire(learned + 1200 * S), 1);
    assert_eq!(c.state(ip, learned + 1200 * S), None);
    assert_eq!(c.stats().expired, 1);
    assert_eq!(c.lookup(ip, learned + 1200 * S), Lookup::NotFound);
}

#[test]
fn reply_refreshes_a_stale_entry() {
    let mut c = cache(8, 4);
    let ip = v6("fd00:10::1");
    seed(&mut c, ip, MAC_A, 0);
    assert_eq!(c.state(ip, 40 * S).map(|s| s.0), Some(NeighborState::Stale));
    c.update_from_reply(ip, MAC_B, 1000 * S);
    assert_eq!(c.state(ip, 1000 * S), Some((NeighborState::Reachable, Some(MAC_B))));
    assert_eq!(c.expire(1300 * S), 0);
}

#[test]
fn unanswered_entry_expires_with_its_frames() {
    let mut c = cache(8, 4);
    let ip = v4("10.10.10.2");
    assert_eq!(c.lookup(ip, 0), Lookup::NotFound);
    assert_eq!(c.enqueue(ip, 7), Enqueue::Queued);
    assert_eq!(c.enqueue(ip, 8), Enqueue::Queued);
    let mut released = Vec::new();
    assert_eq!(c.expire_with(3 * S - 1, |h| released.push(h)), 0);
    assert_eq!(c.expire_with(3 * S, |h| released.push(h)), 1);
    assert_eq!(released, vec![7, 8]);
    assert_eq!(c.stats().pending_expired, 2);
    assert!(c.is_empty());
}

#[test]
fn one_request_per_destination_per_second() {
    let mut c = cache(8, 4);
    let ip = v4("10.10.10.3");
    assert_eq!(c.lookup(ip, 0), Lookup::NotFound);
    assert_eq!(c.lookup(ip, S / 2), Lookup::RateLimited);
    assert_eq!(c.lookup(ip, S - 1), Lookup::RateLimited);
    assert_eq!(c.lookup(ip, S), Lookup::NotFound);
    assert_eq!(c.lookup(ip, S + 1), Lookup::RateLimited);
    assert_eq!(c.stats().requests, 2);
    assert_eq!(c.stats().rate_limited, 3);
}

#[test]
fn global_request_budget() {
    let mut c = NeighborCache::new(NeighborConfig {
        capacity: 16,
        requests_per_second: 3,
        ..NeighborConfig::default()
    })
    .expect("cache");
    let ips: Vec<IpAddr> = (1..=5).map(|n| IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))).collect();
    let answers: Vec<Lookup> = ips.iter().map(|&ip| c.lookup(ip, 0)).collect();
    assert_eq!(
        answers,
        [
            Lookup::NotFound,
            Lookup::NotFound,
            Lookup::NotFound,
            Lookup::RateLimited,
            Lookup::RateLimited
        ]
    );
    // Next window: the refused destinations may ask.
    assert_eq!(c.lookup(ips[3], S), Lookup::NotFound);
    assert_eq!(c.stats().requests, 4);
}

#[test]
fn pending_queue_is_bounded_and_drops_oldest() {
    let mut c = cache(8, 2);
    let ip = v4("10.10.10.4");
    assert_eq!(c.enqueue(ip, 1), Enqueue::Rejected(1), "no entry yet");
    c.lookup(ip, 0);
    assert_eq!(c.enqueue(ip, 1), Enqueue::Queued);
    assert_eq!(c.enqueue(ip, 2), Enqueue::Queued);
    assert_eq!(c.enqueue(ip, 3), Enqueue::DroppedOldest(1));
    assert_eq!(c.enqueue(ip, 4), Enqueue::DroppedOldest(2));
    assert_eq!(c.stats().pending_dropped, 2);
    c.update_from_reply(ip, MAC_A, S / 10);
    assert_eq!(drained(&mut c, ip), vec![3, 4]);
    let mut zero = cache(8, 0);
    zero.lookup(ip, 0);
    assert_eq!(zero.enqueue(ip, 9), Enqueue::Rejected(9));
}

#[test]
fn gratuitous_updates_existing_entries_only() {
    let mut c = cache(8, 4);
    let known = v4("10.10.10.5");
    let unknown = v4("10.10.10.6");
    assert_eq!(c.update_from_gratuitous(unknown, MAC_A, 0), Update::Ignored);
    assert_eq!(c.state(unknown, 0), None);
    assert_eq!(c.stats().gratuitous_ignored, 1);

    seed(&mut c, known, MAC_A, 0);
    // Same address: nothing changes, the entry stays reachable.
    assert_eq!(
        c.update_from_gratuitous(known, MAC_A, S),
        Update::Updated { pending: 0 }
    );
    assert_eq!(c.state(known, S), Some((NeighborState::Reachable, Some(MAC_A))));
    // A moved address (failover): taken, but unconfirmed.
    c.update_from_gratuitous(known, MAC_B, 2 * S);
    assert_eq!(c.state(known, 2 * S), Some((NeighborState::Stale, Some(MAC_B))));

    // An incomplete entry learns the address and its frames may go.
    let waiting = v6("fd00:10::7");
    c.lookup(waiting, 0);
    c.enqueue(waiting, 11);
    assert_eq!(
        c.update_from_gratuitous(waiting, MAC_A, S),
        Update::Updated { pending: 1 }
    );
    assert_eq!(c.lookup(waiting, S), Lookup::Found(MAC_A));
    assert_eq!(drained(&mut c, waiting), vec![11]);
}

#[test]
fn only_requests_and_our_lookups_create_entries() {
    let mut c = cache(2, 4);
    let (a, b, peer) = (v4("10.0.0.1"), v4("10.0.0.2"), v4("10.0.0.9"));
    // A reply nobody asked for is dropped.
    assert_eq!(c.update_from_reply(a, MAC_A, 0), Update::Ignored);
    assert_eq!(c.stats().unsolicited_ignored, 1);
    assert!(c.is_empty());
    // A neighbour asking for our address is learned, unconfirmed.
    assert_eq!(c.learn_from_request(peer, MAC_B, 0), Update::Created);
    assert_eq!(c.state(peer, 0), Some((NeighborState::Stale, Some(MAC_B))));
    assert_eq!(c.lookup(peer, 0), Lookup::Found(MAC_B));
    assert_eq!(c.learn_from_request(peer, MAC_B, S), Update::Updated { pending: 0 });
    // A full table of reachable entries learns nothing more.
    seed(&mut c, a, MAC_A, 0);
    seed(&mut c, b, MAC_A, 0);
    assert_eq!(c.state(peer, 0), None, "the stale entry was evicted for b");
    assert_eq!(c.learn_from_request(peer, MAC_B, S), Update::Ignored);
    assert_eq!(c.stats().table_full, 1);
}

#[test]
fn families_do_not_collide() {
    let mut c = cache(8, 4);
    seed(&mut c, v4("10.0.0.1"), MAC_A, 0);
    assert_eq!(c.state(v6("::a00:1"), 0), None);
    seed(&mut c, v6("::a00:1"), MAC_B, 0);
    assert_eq!(c.lookup(v4("10.0.0.1"), 1), Lookup::Found(MAC_A));
    assert_eq!(c.lookup(v6("::a00:1"), 1), Lookup::Found(MAC_B));
}

#[test]
fn full_cache_evicts_oldest_stale_first() {
    let mut c = cache(2, 4);
    let (a, b, new) = (v4("10.0.0.1"), v4("10.0.0.2"), v4("10.0.0.3"));
    seed(&mut c, a, MAC_A, 0);
    seed(&mut c, b, MAC_B, S);
    // Both reachable: nothing may be evicted.
    assert_eq!(c.lookup(new, 2 * S), Lookup::RateLimited);
    assert_eq!(c.stats().table_full, 1);
    // Both stale 31 s later; `a` was learned first and goes.
    assert_eq!(c.lookup(new, 32 * S), Lookup::NotFound);
    assert_eq!(c.stats().evicted_stale, 1);
    assert_eq!(c.state(a, 32 * S), None);
    assert_eq!(c.lookup(b, 32 * S), Lookup::Found(MAC_B));
    assert_eq!(c.len(), 2);
    // Then `b` (stale) before the incomplete entry for `new`.
    let other = v4("10.0.0.4");
    assert_eq!(c.lookup(other, 33 * S), Lookup::NotFound);
    assert_eq!(c.state(b, 33 * S), None);
    assert_eq!(c.stats().evicted_stale, 2);
    // Only incomplete entries left: the oldest one without queued frames goes.
    c.enqueue(other, 5);
    assert_eq!(c.lookup(v4("10.0.0.5"), 34 * S), Lookup::NotFound);
    assert_eq!(c.stats().evicted_incomplete, 1);
    assert_eq!(c.state(new, 34 * S), None);
    assert_eq!(c.state(other, 34 * S).map(|s| s.0), Some(NeighborState::Incomplete));
}

/// `show routes` lists what lookups use: for every route of the embedded default, an address of its network
/// resolves through that route (gateway or on-link, and adapter) unless a longer listed prefix covers it.
#[test]
fn every_listed_route_is_the_one_lookups_use() {
    let model = HostModel::embedded_default();
    for netstack in &model.netstacks {
        let table = RouteTable::compile(&model, netstack).expect("compiles");
        let entries = model.route_entries(netstack);
        for entry in &entries {
            let dst = match entry.network {
                IpNetwork::V4(c) => IpAddr::V4(Ipv4Addr::from(u32::from(c.network()) | 1)),
                IpNetwork::V6(c) => IpAddr::V6(Ipv6Addr::from(u128::from(c.network()) | 1)),
            };
            let longer = entries.iter().any(|other| {
                other.network != entry.network
                    && contains(other.network, dst)
                    && prefix_len(other.network) > prefix_len(entry.network)
            });
            if longer {
                continue;
            }
            let route = table.lookup(dst).expect("listed routes are usable");
            assert_eq!(
                route.next_hop,
                entry.gateway.unwrap_or(dst),
                "{} via {dst}",
                entry.network
            );
            assert_eq!(Some(route.interface), entry.interface, "{} via {dst}", entry.network);
            assert_eq!(route.source.source(), entry.source);
        }
    }
}

fn contains(network: IpNetwork, ip: IpAddr) -> bool {
    match (network, ip) {
        (IpNetwork::V4(c), IpAddr::V4(ip)) => c.contains(ip),
        (IpNetwork::V6(c), IpAddr::V6(ip)) => c.contains(ip),
        _ => false,
    }
}

fn prefix_len(network: IpNetwork) -> u8 {
    match network {
        IpNetwork::V4(c) => c.prefix_len,
        IpNetwork::V6(c) => c.prefix_len,
    }
}

/// A worker's cache journals what it is told; the owner's cache, replaying the journal, ends as if it had
/// seen the frames itself: the reply resolves the owner's own request and hands back its queued handle.
#[test]
fn a_journal_replayed_elsewhere_resolves_the_owners_request() {
    let (peer, mut owner, mut other) = (v4("10.0.0.9"), cache(8, 2), cache(8, 2));
    other.keep_journal(2);
    assert_eq!(owner.lookup(peer, 0), Lookup::NotFound);
    assert_eq!(owner.enqueue(peer, 7), Enqueue::Queued);
    // The reply lands on the other worker, which never asked: ignored there, journaled all the same.
    assert_eq!(other.update_from_reply(peer, MAC_A, S), Update::Ignored);
    other.learn_from_request(v4("10.0.0.8"), MAC_B, S);
    other.update_from_gratuitous(peer, MAC_A, S);
    assert_eq!(other.stats().journal_overflow, 1, "a full journal counts what it drops");
    let mut events = Vec::new();
    other.take_journal(|e| events.push(e));
    assert_eq!(events.len(), 2);
    assert_eq!(owner.apply(events[0], S), Update::Updated { pending: 1 });
    assert_eq!(owner.apply(events[1], S), Update::Created);
    let mut released = Vec::new();
    assert_eq!(owner.drain_pending(peer, |h| released.push(h)), 1);
    assert_eq!(released, [7]);
    assert_eq!(owner.lookup(peer, S), Lookup::Found(MAC_A));
    other.take_journal(|_| panic!("the journal was emptied"));
    // Without a journal nothing is kept.
    owner.update_from_reply(peer, MAC_B, S);
    owner.take_journal(|_| panic!("no journal"));
}
