//! The vmk adapters as endpoints on their VLANs: Linux peers ping the embedded default host through the engine.
//!
//! The testbed switch ([`vmknet_testbed::switch`]) puts a Linux peer host on each VLAN of the embedded default
//! host (VLANs 10 to 80), each in a namespace of its own behind an eBPF 802.1Q access port of a bridge whose
//! trunk is the uplink veth the engine serves. Each peer's own kernel resolves the vmk addresses of its VLAN
//! (ARP, neighbour discovery) and pings them (raw ICMP sockets, [`vmknet_testbed::ping`]); the engine answers
//! every request in place on the tx ring, on the request's VLAN. The test checks, from the model:
//!
//! - every enabled vmk with an IPv4 address answers a ping from its VLAN's peer, and every IPv6 address too;
//! - `ping -M do -s 8972` (a 9000-byte IP packet) is answered by each 9000-MTU vmk and gets no reply from each
//!   1500-MTU vmk, whose engine counts it `mtu_exceeded`;
//! - afterwards each peer's neighbour table holds each pinged address with its vmk's MAC;
//! - isolation: the VLAN-10 peer, told that VLAN 20's subnet is on its link, gets no answer from the VLAN-20
//!   peer (the switch keeps VLAN 10's ARP off VLAN 20, whose peer never learns the VLAN-10 peer) nor from vmk1
//!   even when it sends straight to vmk1's MAC (the frame reaches the uplink tagged 10, not vmk1's VLAN, and the
//!   classifier passes it to Linux);
//! - the counters add up: each vmk's ICMP replies equal the echo requests it answered, its `mtu_exceeded` drops
//!   the oversized ones, every vmk answered ARP or neighbour solicitations, the replies were all transmitted and
//!   every UMEM buffer came back.
//!
//! It runs on the default host, and again with an untagged vmk beside it, reached through the switch's untagged
//! access port.
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN for namespaces); without it the test prints
//! why it skips and passes.

use std::collections::BTreeSet;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use vmknet::model::{HostModel, Vmk};
use vmknet::runtime::{Engine, EngineConfig};
use vmknet::stats::Report;
use vmknet::xdp::AttachMode;
use vmknet_common::XdpVerdict;
use vmknet_testbed::UNTAGGED_VMK;
use vmknet_testbed::ping::ping;
use vmknet_testbed::topology::run_command;
use vmknet_testbed::{Peer, Topology, peers_for};

/// The UMEM of a one-queue engine with default sizes.
mod support;

const UMEM_BYTES: u64 = 4096 * 4096;
/// Payload of `ping -M do -s 8972`: a 9000-byte IPv4 packet.
const JUMBO_PAYLOAD: usize = 8972;
/// How long a ping that must be answered may wait.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a ping that must not be answered waits.
const SILENCE_TIMEOUT: Duration = Duration::from_millis(700);

/// One echo request from a peer and what must come of it.
#[derive(Clone, Debug)]
struct Probe {
    /// The vmk addressed, or `None` for the switch-isolation probe to another VLAN's peer.
    vmk: Option<String>,
    dst: IpAddr,
    payload: usize,
    dont_fragment: bool,
    answered: bool,
}

/// A probe and the reply's payload length, or why none came.
type Outcome = (Probe, io::Result<usize>);

impl Probe {
    fn timeout(&self) -> Duration {
        if self.answered { ANSWER_TIMEOUT } else { SILENCE_TIMEOUT }
    }
}

/// The probes of `vmk` from its VLAN's peer: a ping to each address, and `-M do -s 8972` to its IPv4 address,
/// answered only where its MTU takes a 9000-byte packet.
fn probes_of(vmk: &Vmk) -> Vec<Probe> {
    let probe = |dst: IpAddr, payload, dont_fragment, answered| Probe {
        vmk: Some(vmk.name.clone()),
        dst,
        payload,
        dont_fragment,
        answered,
    };
    let mut probes = Vec::new();
    if let Some(v4) = vmk.ipv4_cidr() {
        probes.push(probe(v4.addr.into(), 56, false, true));
        probes.push(probe(v4.addr.into(), JUMBO_PAYLOAD, true, vmk.mtu >= 9000));
    }
    probes.extend(
        vmk.ipv6
            .addresses
            .iter()
            .map(|v6| probe(v6.addr.into(), 56, false, true)),
    );
    probes
}

/// Runs `probes` one after the other in `peer`'s namespace, returning each with its outcome.
fn run_probes(peer: &Peer, probes: Vec<Probe>) -> JoinHandle<io::Result<Vec<Outcome>>> {
    peer.spawn_in_netns(&format!("ping-v{}", peer.vlan), move || {
        Ok(probes
            .into_iter()
            .map(|p| {
                let outcome = ping(p.dst, p.payload, p.dont_fragment, p.timeout());
                (p, outcome)
            })
            .collect())
    })
}

/// Packets of `vmk`'s cells in `report` whose (verdict, service, drop reason) match `cell`.
fn count(report: &Report, vmk: &str, cell: impl Fn(&str, Option<&str>, Option<&str>) -> bool) -> u64 {
    report
        .cells
        .iter()
        .filter(|c| c.vmk.as_deref() == Some(vmk) && cell(c.verdict, c.service.as_deref(), c.reason))
        .map(|c| c.packets)
        .sum()
}

#[test]
fn peers_on_every_vlan_ping_the_default_hosts_vmks() {
    peers_ping_every_vmk(
        "peers_on_every_vlan_ping_the_default_hosts_vmks",
        "ns",
        HostModel::embedded_default(),
    );
}

#[test]
fn a_peer_on_an_untagged_port_pings_an_untagged_vmk_beside_the_vlans() {
    let toml = format!("{}{UNTAGGED_VMK}", vmknet::model::EMBEDDED_DEFAULT);
    let model = HostModel::from_toml("<default host + untagged vmk>", &toml).expect("the test host");
    peers_ping_every_vmk(
        "a_peer_on_an_untagged_port_pings_an_untagged_vmk_beside_the_vlans",
        "nu",
        model,
    );
}

/// The scenario of the module docs on `model`, which has vmk1 on VLAN 20 and a vmk on VLAN 10.
fn peers_ping_every_vmk(test: &str, prefix: &str, model: HostModel) {
    if !support::privileged(test, UMEM_BYTES) {
        return;
    }
    let model = Arc::new(model);
    let topology =
        Topology::create_with_switch(prefix, 1, &peers_for(&model)).expect("create the switch and its peers");
    let vlans: BTreeSet<u16> = model.vmks.iter().filter(|v| v.enabled).map(|v| v.vlan).collect();
    let peer_vlans: BTreeSet<u16> = topology.peers.iter().map(|p| p.vlan).collect();
    assert_eq!(peer_vlans, vlans, "a peer per VLAN of the host");

    // Isolation set-up: the VLAN-10 peer believes VLAN 20's subnet is on its own link, and vmk1's address at
    // vmk1's MAC.
    let (peer10, peer20) = (
        topology.peer_on(10).expect("VLAN 10"),
        topology.peer_on(20).expect("VLAN 20"),
    );
    let vmk1 = model.vmk_by_name("vmk1").expect("vmk1");
    let vmk1_v4 = vmk1.ipv4_cidr().expect("vmk1's IPv4");
    let (peer10_v4, peer20_v4) = (peer10.ipv4[0].addr, peer20.ipv4[0].addr);
    let subnet20 = format!("{}/{}", vmk1_v4.network(), vmk1_v4.prefix_len);
    let (ns10, if10) = (peer10.netns.as_str(), peer10.iface.as_str());
    run_command("ip", &["-n", ns10, "route", "add", &subnet20, "dev", if10]).expect("on-link route");
    let vmk1_mac = vmk1.mac.to_string();
    let vmk1_addr = vmk1_v4.addr.to_string();
    run_command(
        "ip",
        &[
            "-n",
            ns10,
            "neigh",
            "add",
            &vmk1_addr,
            "lladdr",
            &vmk1_mac,
            "dev",
            if10,
            "nud",
            "permanent",
        ],
    )
    .expect("static neighbour");

    let config = EngineConfig {
        queues: Some(1),
        attach: AttachMode::Native,
        ..EngineConfig::new(topology.host.clone())
    };
    let engine = Engine::start(Arc::clone(&model), &config).expect("start the engine");

    let pingers: Vec<_> = topology
        .peers
        .iter()
        .map(|peer| {
            let mut probes: Vec<Probe> = model
                .vmks
                .iter()
                .filter(|v| v.enabled && v.vlan == peer.vlan)
                .flat_map(probes_of)
                .collect();
            if peer.vlan == 10 {
                // After its own probes: raw sockets see every ICMP reply of the namespace, told apart by size.
                let across = |dst: IpAddr| Probe {
                    vmk: None,
                    dst,
                    payload: 57,
                    dont_fragment: false,
                    answered: false,
                };
                probes.push(across(peer20_v4.into()));
                probes.push(Probe {
                    vmk: Some("vmk1".into()),
                    ..across(vmk1_v4.addr.into())
                });
            }
            run_probes(peer, probes)
        })
        .collect();
    let outcomes: Vec<Outcome> = pingers
        .into_iter()
        .flat_map(|p| p.join().expect("pinger thread").expect("pinger in its namespace"))
        .collect();
    let summary = engine.finish().expect("stop the engine");
    println!("{}", summary.report.to_text());

    for (probe, outcome) in &outcomes {
        match outcome {
            Ok(len) => assert!(
                probe.answered && *len == probe.payload,
                "{probe:?} answered with {len} bytes"
            ),
            Err(err) => assert!(
                !probe.answered && err.kind() == io::ErrorKind::TimedOut,
                "{probe:?}: {err}"
            ),
        }
    }

    // Each peer learned the MAC of each vmk address it got an answer from, on its own interface.
    for peer in &topology.peers {
        let neighbours = peer.neighbours().expect("ip neigh");
        for (probe, _) in outcomes.iter().filter(|(p, _)| p.answered) {
            let Some(vmk) = probe.vmk.as_deref().and_then(|name| model.vmk_by_name(name)) else {
                continue;
            };
            if vmk.vlan != peer.vlan {
                continue;
            }
            let entry = neighbours.lines().find(|l| l.starts_with(&format!("{} ", probe.dst)));
            assert!(
                entry.is_some_and(|l| l.contains(&format!("lladdr {}", vmk.mac))),
                "VLAN {}: {} resolved to {}'s MAC {}: {neighbours}",
                peer.vlan,
                probe.dst,
                vmk.name,
                vmk.mac
            );
        }
    }
    // The VLAN-20 peer never saw the VLAN-10 peer's ARP requests.
    let neighbours20 = peer20.neighbours().expect("ip neigh");
    assert!(
        !neighbours20.lines().any(|l| l.starts_with(&format!("{peer10_v4} "))),
        "VLAN 10's ARP reached VLAN 20: {neighbours20}"
    );

    // The counters add up, vmk by vmk.
    let report = &summary.report;
    for vmk in model.vmks.iter().filter(|v| v.enabled) {
        let probes = || {
            outcomes
                .iter()
                .map(|(p, _)| p)
                .filter(|p| p.vmk.as_deref() == Some(&vmk.name))
        };
        let answered = probes().filter(|p| p.answered).count() as u64;
        let too_big = probes().filter(|p| !p.answered && p.payload == JUMBO_PAYLOAD).count() as u64;
        let replied = |service: &str| {
            count(report, &vmk.name, |verdict, s, _| {
                verdict == "replied" && s == Some(service)
            })
        };
        assert_eq!(
            replied("icmp"),
            answered,
            "{}: echo replies = requests answered",
            vmk.name
        );
        assert_eq!(
            count(report, &vmk.name, |_, _, reason| reason == Some("mtu_exceeded")),
            too_big,
            "{}: oversized requests counted mtu_exceeded",
            vmk.name
        );
        if vmk.ipv4_cidr().is_some() {
            assert!(replied("arp") >= 1, "{}: answered ARP", vmk.name);
        }
        if !vmk.ipv6.addresses.is_empty() {
            assert!(
                replied("neighbor_discovery") >= 1,
                "{}: answered neighbour discovery",
                vmk.name
            );
        }
    }
    assert!(report.conservation_holds, "one verdict per frame");
    let stack_counts = summary.queues[0].netstacks.iter();
    assert_eq!(
        stack_counts.clone().map(|n| n.replied).sum::<u64>(),
        report.totals.replied
    );
    assert_eq!(
        stack_counts.map(|n| n.tx_dropped).sum::<u64>(),
        0,
        "every reply transmitted"
    );
    // The isolation probe to vmk1's MAC on VLAN 10 reached the uplink and went to Linux.
    assert!(summary.xdp.get(XdpVerdict::PassedNotOurs) >= 1, "{:?}", summary.xdp);
    let umem = summary.umem();
    assert_eq!(umem.leaked(), 0, "{umem:?}");
}
