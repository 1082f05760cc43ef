//! The testbed switch's life cycle (root): what `Topology::create_with_switch` makes, and that nothing of it
//! is left after a drop or a refused peer list. Its forwarding is proved with the engine in
//! `engine/tests/netstack.rs`.
//!
//! Needs CAP_SYS_ADMIN (namespaces), CAP_NET_ADMIN and CAP_BPF; without them each test prints why it skips.

use vmknet::model::HostModel;
use vmknet::runtime::{CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, Capability, missing_capabilities};
use vmknet_testbed::topology::run_command;
use vmknet_testbed::{PeerSpec, Topology, peers_for};

/// The capabilities the switch needs.
const NEEDED: [Capability; 3] = [CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF];

/// Whether the switch can be built here; prints why the test skips when not.
fn privileged(test: &str) -> bool {
    let missing = missing_capabilities(&NEEDED);
    if !missing.is_empty() {
        println!("skipping {test}: missing {}", missing.join(", "));
    }
    missing.is_empty()
}

/// The namespace `switch` and those of its peers (`<switch>-v<vlan>`) that exist.
fn namespaces(switch: &str) -> Vec<String> {
    run_command("ip", &["netns", "list"])
        .expect("ip netns list")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| {
            name.strip_prefix(switch)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("-v"))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_switch_has_a_bridge_port_and_a_peer_per_vlan_and_goes_with_its_topology() {
    if !privileged("a_switch_has_a_bridge_port_and_a_peer_per_vlan_and_goes_with_its_topology") {
        return;
    }
    let peers = peers_for(&HostModel::embedded_default());
    let topology = Topology::create_with_switch("sw", 1, &peers).expect("create the switch");
    let switch = topology.netns.clone();
    let mut made = namespaces(&switch);
    made.sort();
    let mut expected: Vec<String> = peers.iter().map(|p| format!("{switch}-v{}", p.vlan)).collect();
    expected.push(switch.clone());
    expected.sort();
    assert_eq!(made, expected, "the switch's namespace and one per peer");

    // The bridge joins the trunk and an access port per VLAN.
    let ports = run_command("ip", &["-n", &switch, "-o", "link", "show", "master", "switch"]).expect("bridge ports");
    let mut names: Vec<&str> = ports
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|name| name.split('@').next().unwrap_or(name))
        .collect();
    names.sort_unstable();
    let mut wanted: Vec<String> = peers.iter().map(|p| format!("port{}", p.vlan)).collect();
    wanted.push(topology.peer.clone());
    wanted.sort_unstable();
    assert_eq!(names, wanted);
    // Each peer holds its addresses on `vlan<id>`.
    for peer in &topology.peers {
        let addresses = run_command("ip", &["-n", &peer.netns, "addr", "show", "dev", &peer.iface]).expect("ip addr");
        for address in peer.ipv4.iter().map(|c| format!("{}/{}", c.addr, c.prefix_len)) {
            assert!(addresses.contains(&address), "{}: {address} in {addresses}", peer.netns);
        }
        for address in peer.ipv6.iter().map(|c| format!("{}/{}", c.addr, c.prefix_len)) {
            assert!(addresses.contains(&address), "{}: {address} in {addresses}", peer.netns);
        }
    }

    let host = topology.host.clone();
    drop(topology);
    assert_eq!(namespaces(&switch), Vec::<String>::new(), "every namespace removed");
    assert!(
        run_command("ip", &["link", "show", "dev", &host]).is_err(),
        "{host} removed"
    );
}

#[test]
fn a_refused_peer_list_leaves_nothing_behind() {
    if !privileged("a_refused_peer_list_leaves_nothing_behind") {
        return;
    }
    let peer = |vlan| PeerSpec {
        vlan,
        ipv4: Vec::new(),
        ipv6: Vec::new(),
    };
    for (peers, error) in [
        (vec![peer(10), peer(20), peer(10)], "VLAN 10"),
        (vec![peer(4095)], "VLAN 4095"),
    ] {
        let err = Topology::create_with_switch("sx", 1, &peers).expect_err("refused");
        assert!(err.to_string().contains(error), "{err}");
        let leftovers = namespaces(&format!("vmknet-sx-{}", std::process::id()));
        assert_eq!(leftovers, Vec::<String>::new(), "nothing left after: {err}");
    }
}
