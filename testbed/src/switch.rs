//! The testbed's VLAN-aware switch: a Linux peer host on each VLAN of a host model, reached through 802.1Q
//! access ports of a plain Linux bridge.
//!
//! This kernel has no 802.1Q devices, no bridge VLAN filtering and no `act_vlan`, so the switch is a bridge in
//! the topology's namespace joining the trunk (the peer end of the uplink, carrying tags in-band) and one access
//! port per VLAN: a veth pair whose other end is the peer host's interface `vlan<id>` in a namespace of its
//! own, `<topology namespace>-v<id>`, so each VLAN's peer is a separate Linux stack with no path to another
//! VLAN but the switch. Each access port carries two tc programs (`ebpf/switch`, attached with tcx): frames
//! from the peer get the port's tag pushed, frames to it must carry the port's VLAN and lose the tag
//! ([`vmknet_common::access_port`]; a VLAN-0 port passes untagged frames only, so tagged VLANs stay off it
//! too). Where the tag lives: the kernel moves a received tag into skb metadata
//! before tc and the bridge see the frame, the programs push and pop it there, and the trunk, whose `txvlan`
//! offload is off, writes it into the frame in-band on its way to the uplink (a tag left in metadata would
//! never reach XDP).
//!
//! [`peers_for`] derives the peers of a host model: one per VLAN of its enabled vmks, with the host `.50`
//! (IPv4) or `::50` (IPv6) of each vmk subnet. Everything is made by [`Topology::create_with_switch`] and
//! removed with the [`Topology`].

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::thread::JoinHandle;

use aya::Ebpf;
use aya::maps::HashMap as BpfHashMap;
use aya::programs::{SchedClassifier, TcAttachType};
use vmknet::model::{HostModel, Ipv4Cidr, Ipv6Cidr};
use vmknet_common::access_port::{ACCESS_VLAN_MAP, MAX_ACCESS_PORTS, MAX_VLAN};

use crate::topology::{MTU, Topology, TopologyError, run_command, spawn_in_netns};

/// The access-port programs, built by `build.rs` from `ebpf/switch`.
static PROGRAMS: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vmknet-switch-ebpf"));

/// The bridge's name in the switch namespace.
pub const BRIDGE: &str = "switch";

/// Host number of a peer in each IPv4 vmk subnet, `.50` (the next free one if a vmk has it).
const PEER_HOST_V4: u32 = 50;
/// The same in each IPv6 vmk subnet, `::50`, written like the vmks' `::11`.
const PEER_HOST_V6: u128 = 0x50;

/// A peer host to put on one VLAN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// Its VLAN (0: untagged).
    pub vlan: u16,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Cidr>,
    /// Its IPv6 addresses; without any, IPv6 is off in its namespace (no DAD, solicitations or MLD frames).
    pub ipv6: Vec<Ipv6Cidr>,
}

/// A peer host made by [`Topology::create_with_switch`]: a namespace whose interface is an access port's far end.
#[derive(Debug)]
pub struct Peer {
    /// Its VLAN (0: untagged).
    pub vlan: u16,
    /// Its namespace (under `/run/netns`).
    pub netns: String,
    /// Its interface in [`Self::netns`], `vlan<id>`, MTU [`MTU`].
    pub iface: String,
    /// Its IPv4 addresses.
    pub ipv4: Vec<Ipv4Cidr>,
    /// Its IPv6 addresses.
    pub ipv6: Vec<Ipv6Cidr>,
}

impl Peer {
    /// Runs `f` on a new thread that has first joined the peer's namespace, like
    /// [`Topology::spawn_in_netns`].
    pub fn spawn_in_netns<T, F>(&self, name: &str, f: F) -> JoinHandle<io::Result<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        spawn_in_netns(&self.netns, name, f)
    }

    /// Its neighbour table, as `ip neigh show dev <iface>` prints it.
    ///
    /// # Errors
    /// `ip` failed.
    pub fn neighbours(&self) -> Result<String, TopologyError> {
        run_command("ip", &["-n", &self.netns, "neigh", "show", "dev", &self.iface])
    }
}

/// The peers of `model`: one per VLAN of its enabled vmks, in VLAN order, with an address in each vmk subnet
/// (`.50` or `::50`, or the next one no vmk uses).
pub fn peers_for(model: &HostModel) -> Vec<PeerSpec> {
    let taken: BTreeSet<IpAddr> = model
        .vmks
        .iter()
        .flat_map(|v| {
            let v4 = v.ipv4_cidr().map(|c| IpAddr::V4(c.addr));
            v4.into_iter()
                .chain(v.ipv6.addresses.iter().map(|c| IpAddr::V6(c.addr)))
        })
        .collect();
    let mut peers = BTreeMap::new();
    for vmk in model.vmks.iter().filter(|v| v.enabled) {
        let peer = peers.entry(vmk.vlan).or_insert_with(|| PeerSpec {
            vlan: vmk.vlan,
            ipv4: Vec::new(),
            ipv6: Vec::new(),
        });
        if let Some(subnet) = vmk.ipv4_cidr()
            && !peer
                .ipv4
                .iter()
                .any(|a| a.prefix_len == subnet.prefix_len && subnet.contains(a.addr))
        {
            let network = u32::from(subnet.network());
            let free = (PEER_HOST_V4..)
                .map(|host| Ipv4Addr::from(network.wrapping_add(host)))
                .take_while(|&a| subnet.contains(a) && a != subnet.broadcast())
                .find(|&a| !taken.contains(&IpAddr::V4(a)));
            peer.ipv4.extend(free.map(|addr| Ipv4Cidr { addr, ..subnet }));
        }
        for subnet in &vmk.ipv6.addresses {
            if peer
                .ipv6
                .iter()
                .any(|a| a.prefix_len == subnet.prefix_len && subnet.contains(a.addr))
            {
                continue;
            }
            let network = u128::from(subnet.network());
            let free = (PEER_HOST_V6..)
                .map(|host| Ipv6Addr::from(network.wrapping_add(host)))
                .take_while(|&a| subnet.contains(a))
                .find(|&a| !taken.contains(&IpAddr::V6(a)));
            peer.ipv6.extend(free.map(|addr| Ipv6Cidr { addr, ..*subnet }));
        }
    }
    peers.into_values().collect()
}

/// Builds the switch in `topology`'s namespace around its trunk (the uplink's peer end) and a peer for each of
/// `peers`, recording each peer in `topology` as soon as its namespace exists so that a failure half-way
/// removes it; the loaded programs go into `topology` too, their tcx links attached while they live.
pub(crate) fn build(topology: &mut Topology, peers: &[PeerSpec]) -> Result<(), TopologyError> {
    let mut vlans = BTreeSet::new();
    for peer in peers {
        if peer.vlan > MAX_VLAN || !vlans.insert(peer.vlan) {
            return Err(TopologyError(format!(
                "VLAN {}: each peer needs its own VLAN id, 0 to {MAX_VLAN}",
                peer.vlan
            )));
        }
    }
    if peers.len() > MAX_ACCESS_PORTS as usize {
        return Err(TopologyError(format!(
            "{} peers: a switch has at most {MAX_ACCESS_PORTS} access ports",
            peers.len()
        )));
    }
    let switch = topology.netns.clone();
    let mtu = MTU.to_string();
    run_command(
        "ip",
        &[
            "-n",
            &switch,
            "link",
            "add",
            BRIDGE,
            "mtu",
            &mtu,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ],
    )?;
    run_command("ip", &["-n", &switch, "link", "set", &topology.peer, "master", BRIDGE])?;
    run_command("ip", &["-n", &switch, "link", "set", BRIDGE, "up"])?;
    for spec in peers {
        let peer = Peer {
            vlan: spec.vlan,
            netns: format!("{switch}-v{}", spec.vlan),
            iface: format!("vlan{}", spec.vlan),
            ipv4: spec.ipv4.clone(),
            ipv6: spec.ipv6.clone(),
        };
        run_command("ip", &["netns", "add", &peer.netns])?;
        topology.peers.push(peer);
    }
    let mut ports = Vec::with_capacity(peers.len());
    for peer in &topology.peers {
        let port = format!("port{}", peer.vlan);
        add_peer(&switch, &port, peer)?;
        ports.push((port, peer.vlan));
    }
    let programs = spawn_in_netns(&switch, "switch-programs", move || {
        attach(&ports).map_err(io::Error::other)
    })
    .join()
    .map_err(|_| TopologyError("the thread attaching the access-port programs panicked".into()))?
    .map_err(|err| TopologyError(format!("access ports in {switch}: {err}")))?;
    topology.switch = Some(programs);
    Ok(())
}

/// Makes `peer`'s namespace a Linux host on the switch: the access port `port` (a bridge port in `switch`) and
/// its far end, the peer's interface, with the peer's addresses.
fn add_peer(switch: &str, port: &str, peer: &Peer) -> Result<(), TopologyError> {
    let (ns, iface) = (peer.netns.as_str(), peer.iface.as_str());
    let sysctls: &[&str] = if peer.ipv6.is_empty() {
        &[
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ]
    } else {
        // Addresses usable at once, and no router solicitations among the frames a test counts.
        &[
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.default.router_solicitations=0",
        ]
    };
    let mut sysctl = vec!["netns", "exec", ns, "sysctl", "-qw"];
    sysctl.extend(sysctls);
    run_command("ip", &sysctl)?;
    let mtu = MTU.to_string();
    run_command(
        "ip",
        &[
            "-n", switch, "link", "add", port, "mtu", &mtu, "type", "veth", "peer", "name", iface, "mtu", &mtu,
            "netns", ns,
        ],
    )?;
    run_command("ip", &["-n", switch, "link", "set", port, "master", BRIDGE, "up"])?;
    for cidr in &peer.ipv4 {
        let address = format!("{}/{}", cidr.addr, cidr.prefix_len);
        run_command("ip", &["-n", ns, "addr", "add", &address, "dev", iface])?;
    }
    for cidr in &peer.ipv6 {
        let address = format!("{}/{}", cidr.addr, cidr.prefix_len);
        run_command("ip", &["-n", ns, "addr", "add", &address, "dev", iface, "nodad"])?;
    }
    run_command("ip", &["-n", ns, "link", "set", iface, "up"])?;
    Ok(())
}

/// Loads the access-port programs, maps each port (name, VLAN) by its ifindex, and attaches both programs to
/// every port. Runs in the switch's namespace, where the names resolve.
fn attach(ports: &[(String, u16)]) -> Result<Ebpf, String> {
    let mut ebpf = Ebpf::load(PROGRAMS).map_err(|err| format!("loading the programs: {err}"))?;
    {
        let map = ebpf
            .map_mut(ACCESS_VLAN_MAP)
            .ok_or_else(|| format!("the programs lack the map {ACCESS_VLAN_MAP}"))?;
        let mut vlans: BpfHashMap<_, u32, u16> =
            BpfHashMap::try_from(map).map_err(|err| format!("{ACCESS_VLAN_MAP}: {err}"))?;
        for (port, vlan) in ports {
            vlans
                .insert(ifindex(port)?, vlan, 0)
                .map_err(|err| format!("{ACCESS_VLAN_MAP}[{port}]: {err}"))?;
        }
    }
    for (name, direction) in [
        ("access_port_ingress", TcAttachType::Ingress),
        ("access_port_egress", TcAttachType::Egress),
    ] {
        let program: &mut SchedClassifier = ebpf
            .program_mut(name)
            .ok_or_else(|| format!("the programs lack {name}"))?
            .try_into()
            .map_err(|err| format!("{name}: {err}"))?;
        program.load().map_err(|err| format!("loading {name}: {err}"))?;
        for (port, _) in ports {
            program
                .attach(port, direction)
                .map_err(|err| format!("attaching {name} to {port}: {err}"))?;
        }
    }
    Ok(ebpf)
}

fn ifindex(name: &str) -> Result<u32, String> {
    let c_name = CString::new(name).map_err(|_| format!("interface name {name:?} holds a NUL"))?;
    // Safety: `c_name` is a valid NUL-terminated string for the duration of the call.
    match unsafe { libc::if_nametoindex(c_name.as_ptr()) } {
        0 => Err(format!("no interface {name}: {}", io::Error::last_os_error())),
        index => Ok(index),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Cidr {
        let (addr, len) = s.split_once('/').expect("addr/len");
        Ipv4Cidr {
            addr: addr.parse().expect("IPv4"),
            prefix_len: len.parse().expect("length"),
        }
    }

    fn v6(s: &str) -> Ipv6Cidr {
        let (addr, len) = s.split_once('/').expect("addr/len");
        Ipv6Cidr {
            addr: addr.parse().expect("IPv6"),
            prefix_len: len.parse().expect("length"),
        }
    }

    #[test]
    fn the_default_host_gets_a_peer_per_vlan_at_host_50() {
        let peers = peers_for(&HostModel::embedded_default());
        let vlans: Vec<u16> = peers.iter().map(|p| p.vlan).collect();
        assert_eq!(vlans, [10, 20, 30, 40, 41, 50, 60, 70, 80]);
        assert_eq!(
            peers[0],
            PeerSpec {
                vlan: 10,
                ipv4: vec![v4("10.10.10.50/24")],
                ipv6: vec![v6("fd00:10::50/64")],
            }
        );
        assert_eq!(peers[3].ipv4, [v4("10.40.40.50/24")]);
        assert!(peers[3].ipv6.is_empty(), "vmk2 has no IPv6, so neither has its peer");
    }

    #[test]
    fn a_peer_skips_vmk_addresses_shares_subnets_and_leaves_out_disabled_vmks() {
        let toml = r#"
[host]
name = "peers"
uplinks = ["vmnic0"]

[[vmk]]
name = "vmk0"
mac = "00:50:56:00:00:01"
vlan = 7
ipv4 = "192.168.7.50/24"
ipv6 = ["fd00:7::50/64"]

[[vmk]]
name = "vmk1"
mac = "00:50:56:00:00:02"
vlan = 7
ipv4 = "192.168.7.51/24"

[[vmk]]
name = "vmk2"
mac = "00:50:56:00:00:03"
vlan = 7
ipv4 = "172.16.0.10/30"

[[vmk]]
name = "vmk3"
mac = "00:50:56:00:00:04"
vlan = 9
ipv4 = "192.168.9.11/24"
enabled = false
"#;
        let model = HostModel::from_toml("peers.toml", toml).expect("valid host");
        let peers = peers_for(&model);
        assert_eq!(
            peers,
            [PeerSpec {
                vlan: 7,
                // .50 and .51 belong to vmks; a /30 has no host 50.
                ipv4: vec![v4("192.168.7.52/24")],
                ipv6: vec![v6("fd00:7::51/64")],
            }]
        );
    }
}
