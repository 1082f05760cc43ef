//! The verdict the rules give a scenario.
//!
//! Every function here works from what a scenario *is* (which MAC and VLAN it is sent to, how long its IP packet
//! is, which address, protocol and ports it uses) and from the host model's configuration. Nothing here parses
//! a frame, and nothing calls vmknet's pipeline: the labels are an independent statement of the rules, so a
//! replay that compares the pipeline with them tests something.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vmknet::model::{HostModel, NetstackKey, ServiceTag, Vmk};

use crate::label::{Label, Reason, Service};

/// A transport protocol with ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// What a port says about a service, before the isolation policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortMatch {
    /// A service of the port table.
    Service(Service),
    /// TCP 902: NFC, whose service depends on the adapter's tags.
    Nfc,
}

/// Who listens on a service port: the fact sheet's Direction column (§3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The ESXi host listens ("In"): a frame the host receives belongs to the service when sent *to* the port.
    Host,
    /// A remote server listens ("Out"): a frame the host receives belongs to the service when it is the
    /// server's reply, sent *from* the port. The host never listens on these ports.
    Remote,
    /// Both ends listen ("In + Out"), as between two ESXi hosts: either port counts.
    Both,
}

impl Listener {
    /// Whether the host listens on the port (a received frame matches by destination port).
    pub fn host_listens(self) -> bool {
        matches!(self, Self::Host | Self::Both)
    }

    /// Whether a remote server listens on the port (a received frame matches by source port).
    pub fn remote_listens(self) -> bool {
        matches!(self, Self::Remote | Self::Both)
    }
}

/// The fact sheet's port table (rule 8), one port at a time: who listens on it and what it means. `None` when
/// no service uses the port.
pub fn port_entry(transport: Transport, port: u16) -> Option<(Listener, PortMatch)> {
    use Listener::{Both, Host, Remote};
    use Service::*;
    use Transport::{Tcp, Udp};
    let (listener, service) = match (transport, port) {
        // Host to host: both ends listen.
        (Tcp, 8000) => (Both, Vmotion),
        (_, 8100 | 8200 | 8300) | (Udp, 8301 | 8302) => (Both, FaultTolerance),
        (Tcp, 902) => return Some((Both, PortMatch::Nfc)),
        (Tcp, 2233 | 8080) | (Udp, 12321 | 12345 | 23451) => (Both, Vsan),
        (_, 8182) => (Both, Management),
        // The host is the client: only the server's replies come from these ports.
        (Tcp, 31031 | 44046) => (Remote, Replication),
        (Udp, 902) => (Remote, Management),
        (Tcp, 4420 | 8009) => (Remote, NvmeTcp),
        (Tcp, 3260) => (Remote, Iscsi),
        (_, 2049 | 111) => (Remote, Nfs),
        (_, 53 | 514) | (Udp, 67 | 547 | 123) | (Tcp, 1514) => (Remote, Infrastructure),
        // The host is the server (or the DHCP/DHCPv6 client port it listens on).
        (Tcp, 443 | 80 | 22 | 5988 | 5989) | (_, 427) | (Udp, 161) => (Host, Management),
        (Udp, 68 | 546) => (Host, Infrastructure),
        _ => return None,
    };
    Some((listener, PortMatch::Service(service)))
}

/// What a destination port means on a received frame: a port the host listens on, else `None`.
pub fn listening_port(transport: Transport, dport: u16) -> Option<PortMatch> {
    port_entry(transport, dport).and_then(|(who, m)| who.host_listens().then_some(m))
}

/// What a source port means on a received frame: a port a remote server listens on (its reply), else `None`.
pub fn server_port(transport: Transport, sport: u16) -> Option<PortMatch> {
    port_entry(transport, sport).and_then(|(who, m)| who.remote_listens().then_some(m))
}

/// Destination port first (a listener on the host), else source port (a remote listener's reply), else
/// unclassified: a frame to a client-only port (a SYN to TCP 3260 on an iSCSI initiator) reaches no listener.
pub fn classify_ports(transport: Transport, sport: u16, dport: u16) -> PortMatch {
    listening_port(transport, dport)
        .or_else(|| server_port(transport, sport))
        .unwrap_or(PortMatch::Service(Service::Unclassified))
}

/// The isolation policy's answer for a service on an adapter (rule 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Delivered.
    Allowed,
    /// Dropped `service_disabled`.
    Disabled,
    /// Dropped `service_moved_to_own_stack`.
    MovedToOwnStack,
}

/// The stack a tag moves to once that stack has adapters (fact sheet §1.3 rules 1-2).
fn own_stack(tag: ServiceTag) -> Option<NetstackKey> {
    match tag {
        ServiceTag::Vmotion => Some(NetstackKey::Vmotion),
        ServiceTag::VsphereProvisioning => Some(NetstackKey::Provisioning),
        _ => None,
    }
}

/// Whether `tag` is on `vmk` but out of force because its service moved to its own stack. Worked out from the
/// configuration (stack of the adapter, adapters of the service's stack), not from the model's derived state.
pub fn moved_to_own_stack(model: &HostModel, vmk: &Vmk, tag: ServiceTag) -> bool {
    let Some(key) = own_stack(tag) else { return false };
    vmk.is_tagged(tag)
        && model.netstack_of(vmk).key == NetstackKey::Default
        && model.netstacks.iter().any(|n| n.key == key && !n.vmks.is_empty())
}

/// Whether `tag` is on `vmk` and in force.
pub fn tag_in_force(model: &HostModel, vmk: &Vmk, tag: ServiceTag) -> bool {
    vmk.is_tagged(tag) && !moved_to_own_stack(model, vmk, tag)
}

/// The tags that enable a service; `None` for services that need no tag.
fn required_tags(service: Service) -> Option<&'static [ServiceTag]> {
    Some(match service {
        Service::Vmotion => &[ServiceTag::Vmotion],
        Service::FaultTolerance => &[ServiceTag::FaultToleranceLogging],
        Service::Replication => &[ServiceTag::VsphereReplication],
        Service::ReplicationNfc => &[ServiceTag::VsphereReplicationNfc],
        Service::Provisioning => &[ServiceTag::VsphereProvisioning],
        Service::BackupNfc => &[ServiceTag::VsphereBackupNfc],
        Service::Management => &[ServiceTag::Management],
        Service::Vsan => &[ServiceTag::Vsan, ServiceTag::VsanWitness],
        _ => return None,
    })
}

/// Rule 9.
pub fn policy(model: &HostModel, vmk: &Vmk, service: Service) -> Policy {
    match service {
        Service::Iscsi | Service::Nfs | Service::NvmeTcp => {
            if model.netstack_of(vmk).key == NetstackKey::Default {
                Policy::Allowed
            } else {
                Policy::Disabled
            }
        }
        _ => match required_tags(service) {
            None => Policy::Allowed,
            Some(tags) if tags.iter().any(|&t| tag_in_force(model, vmk, t)) => Policy::Allowed,
            Some(tags) if tags.iter().any(|&t| moved_to_own_stack(model, vmk, t)) => Policy::MovedToOwnStack,
            Some(_) => Policy::Disabled,
        },
    }
}

/// TCP 902: the first NFC flavour the adapter carries (tag in force), else management.
pub fn nfc_service(model: &HostModel, vmk: &Vmk) -> Service {
    [
        (ServiceTag::VsphereProvisioning, Service::Provisioning),
        (ServiceTag::VsphereReplicationNfc, Service::ReplicationNfc),
        (ServiceTag::VsphereBackupNfc, Service::BackupNfc),
        (ServiceTag::Management, Service::Management),
    ]
    .into_iter()
    .find(|&(tag, _)| tag_in_force(model, vmk, tag))
    .map_or(Service::Management, |(_, service)| service)
}

/// The label of a frame demultiplexed to `service` on `vmk`: the policy decides.
pub fn service_label(model: &HostModel, vmk: &Vmk, service: Service, scenario: &str) -> Label {
    match policy(model, vmk, service) {
        Policy::Allowed => Label::delivered(vmk, service, scenario),
        Policy::Disabled => Label::dropped(Reason::ServiceDisabled, Some(vmk), Some(service), scenario),
        Policy::MovedToOwnStack => Label::dropped(Reason::ServiceMovedToOwnStack, Some(vmk), Some(service), scenario),
    }
}

/// The VLAN a frame is on: its 802.1Q VID, or 0 untagged.
fn vlan_of(tag: Option<u16>) -> u16 {
    tag.unwrap_or(0)
}

/// Rule 1, unicast: the enabled vmk with this MAC on this VLAN.
pub fn steer_unicast(model: &HostModel, dst_mac: [u8; 6], tag: Option<u16>) -> Option<&Vmk> {
    model
        .vmks
        .iter()
        .find(|v| v.enabled && v.mac.0 == dst_mac && v.vlan == vlan_of(tag))
}

/// Rule 1, broadcast ARP: the enabled vmk owning `target` on this VLAN.
pub fn steer_broadcast_arp(model: &HostModel, tag: Option<u16>, target: Ipv4Addr) -> Option<&Vmk> {
    model
        .vmks
        .iter()
        .find(|v| v.enabled && v.vlan == vlan_of(tag) && v.ipv4_cidr().is_some_and(|c| c.addr == target))
}

/// The solicited-node multicast group of `addr` (RFC 4291 §2.7.1).
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15]])
}

/// The Ethernet group address of an IPv6 multicast address (RFC 2464 §7).
pub fn ipv6_multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// Rule 1, neighbour solicitation: the enabled vmk on this VLAN one of whose IPv6 addresses has `group` as its
/// solicited-node group.
pub fn steer_solicited_node(model: &HostModel, tag: Option<u16>, group: Ipv6Addr) -> Option<&Vmk> {
    model.vmks.iter().find(|v| {
        v.enabled && v.vlan == vlan_of(tag) && v.ipv6.addresses.iter().any(|c| solicited_node(c.addr) == group)
    })
}

/// Rule 5: an address of the vmk's netstack, limited or the vmk's directed broadcast, or multicast.
pub fn is_local(model: &HostModel, vmk: &Vmk, dst: IpAddr) -> bool {
    let stack = model.netstack_of(vmk);
    match dst {
        IpAddr::V4(ip) => {
            ip.is_multicast()
                || ip == Ipv4Addr::BROADCAST
                || vmk.ipv4_cidr().is_some_and(|c| c.broadcast() == ip)
                || model
                    .vmks_of(stack)
                    .any(|v| v.ipv4_cidr().is_some_and(|c| c.addr == ip))
        }
        IpAddr::V6(ip) => {
            ip.is_multicast()
                || model
                    .vmks_of(stack)
                    .any(|v| v.ipv6.addresses.iter().any(|c| c.addr == ip))
        }
    }
}

/// Rule 10, responders: an echo request is answered when it is for a unicast address of the vmk's netstack
/// (never a broadcast or multicast one), a neighbour solicitation when its target is an address of the vmk, an
/// ARP request when its target is the vmk's address. Everything else about them is delivered.
pub fn is_unicast_local(model: &HostModel, vmk: &Vmk, dst: IpAddr) -> bool {
    !dst.is_multicast()
        && dst != IpAddr::V4(Ipv4Addr::BROADCAST)
        && vmk.ipv4_cidr().is_none_or(|c| IpAddr::V4(c.broadcast()) != dst)
        && is_local(model, vmk, dst)
}

/// Rule 3: an ARP target must be an IPv4 address of the vmk's netstack.
pub fn arp_target_local(model: &HostModel, vmk: &Vmk, target: Ipv4Addr) -> bool {
    model
        .vmks_of(model.netstack_of(vmk))
        .any(|v| v.ipv4_cidr().is_some_and(|c| c.addr == target))
}

/// What rides on IP, as far as demultiplexing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upper {
    /// TCP with ports.
    Tcp(u16, u16),
    /// UDP with ports.
    Udp(u16, u16),
    /// ICMPv4 or ICMPv6 echo request (a responder's business), unfragmented, from a unicast source.
    EchoRequest,
    /// ICMPv6 neighbour solicitation for this target (a responder's business), hop limit 255.
    NeighborSolicitation(Ipv6Addr),
    /// Any other ICMPv4 message.
    Icmpv4,
    /// An ICMPv6 message of this type.
    Icmpv6(u8),
    /// Another IP protocol (GRE, ESP, ...).
    Other,
}

/// An IP scenario: where the frame goes and what it carries.
#[derive(Clone, Copy, Debug)]
pub struct IpCase {
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// 802.1Q VID, `None` untagged.
    pub vlan: Option<u16>,
    /// Bytes after the Ethernet header (the IP packet plus any padding).
    pub l2_payload_len: usize,
    /// Destination IP address.
    pub dst: IpAddr,
    /// What the packet (or its first fragment, for a later fragment) carries.
    pub upper: Upper,
}

/// Rules 1, 2, 5, 8, 9 and 10 for a well-formed IP frame (a later fragment whose first fragment came earlier gets the
/// same label as that first fragment, rule 6, so pass the first fragment's [`Upper`]).
pub fn expect_ip(model: &HostModel, case: &IpCase, scenario: &str) -> Label {
    let steered = steer_unicast(model, case.dst_mac, case.vlan).or_else(|| match (case.upper, case.dst) {
        (Upper::NeighborSolicitation(_), IpAddr::V6(group)) if case.dst_mac[..3] == [0x33, 0x33, 0xff] => {
            steer_solicited_node(model, case.vlan, group)
        }
        _ => None,
    });
    let Some(vmk) = steered else {
        return Label::passed(scenario);
    };
    if case.l2_payload_len > usize::from(vmk.mtu) {
        return Label::dropped(Reason::MtuExceeded, Some(vmk), None, scenario);
    }
    if !is_local(model, vmk, case.dst) {
        return Label::dropped(Reason::NotLocal, Some(vmk), None, scenario);
    }
    let service = match case.upper {
        Upper::Tcp(sport, dport) => match classify_ports(Transport::Tcp, sport, dport) {
            PortMatch::Service(s) => s,
            PortMatch::Nfc => nfc_service(model, vmk),
        },
        Upper::Udp(sport, dport) => match classify_ports(Transport::Udp, sport, dport) {
            PortMatch::Service(s) => s,
            PortMatch::Nfc => nfc_service(model, vmk),
        },
        Upper::EchoRequest if is_unicast_local(model, vmk, case.dst) => {
            return Label::replied(vmk, Service::Icmp, scenario);
        }
        Upper::NeighborSolicitation(target) if vmk.ipv6.addresses.iter().any(|c| c.addr == target) => {
            return Label::replied(vmk, Service::NeighborDiscovery, scenario);
        }
        Upper::NeighborSolicitation(_) => Service::NeighborDiscovery,
        Upper::EchoRequest => Service::Icmp,
        Upper::Icmpv6(133..=137) => Service::NeighborDiscovery,
        Upper::Icmpv4 | Upper::Icmpv6(_) => Service::Icmp,
        Upper::Other => Service::Unclassified,
    };
    service_label(model, vmk, service, scenario)
}

/// Rules 1, 3 and 10 for a well-formed Ethernet/IPv4 ARP packet.
pub fn expect_arp(
    model: &HostModel,
    dst_mac: [u8; 6],
    vlan: Option<u16>,
    target: Ipv4Addr,
    request: bool,
    scenario: &str,
) -> Label {
    let steered = if dst_mac == [0xff; 6] {
        steer_broadcast_arp(model, vlan, target)
    } else {
        steer_unicast(model, dst_mac, vlan)
    };
    let Some(vmk) = steered else {
        return Label::passed(scenario);
    };
    if !arp_target_local(model, vmk, target) {
        return Label::dropped(Reason::NotLocal, Some(vmk), None, scenario);
    }
    if request && vmk.ipv4_cidr().is_some_and(|c| c.addr == target) {
        Label::replied(vmk, Service::Arp, scenario)
    } else {
        Label::delivered(vmk, Service::Arp, scenario)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostModel {
        HostModel::embedded_default()
    }

    fn vmk<'a>(model: &'a HostModel, name: &str) -> &'a Vmk {
        model.vmk_by_name(name).unwrap()
    }

    /// The brief's table, row by row: (transport, port, who listens, service; `None` for the 902 NFC rule).
    fn table() -> Vec<(Transport, u16, Listener, Option<Service>)> {
        use Listener::{Both, Host, Remote};
        use Service::*;
        use Transport::{Tcp, Udp};
        let mut rows = vec![(Tcp, 8000, Both, Some(Vmotion)), (Tcp, 902, Both, None)];
        for port in [8100, 8200, 8300] {
            rows.extend([
                (Tcp, port, Both, Some(FaultTolerance)),
                (Udp, port, Both, Some(FaultTolerance)),
            ]);
        }
        rows.extend([
            (Udp, 8301, Both, Some(FaultTolerance)),
            (Udp, 8302, Both, Some(FaultTolerance)),
        ]);
        rows.extend([(Tcp, 2233, Both, Some(Vsan)), (Tcp, 8080, Both, Some(Vsan))]);
        rows.extend([12321, 12345, 23451].map(|p| (Udp, p, Both, Some(Vsan))));
        rows.extend([(Tcp, 8182, Both, Some(Management)), (Udp, 8182, Both, Some(Management))]);
        rows.extend([
            (Tcp, 31031, Remote, Some(Replication)),
            (Tcp, 44046, Remote, Some(Replication)),
        ]);
        rows.push((Udp, 902, Remote, Some(Management)));
        rows.extend([(Tcp, 4420, Remote, Some(NvmeTcp)), (Tcp, 8009, Remote, Some(NvmeTcp))]);
        rows.push((Tcp, 3260, Remote, Some(Iscsi)));
        for port in [2049, 111] {
            rows.extend([(Tcp, port, Remote, Some(Nfs)), (Udp, port, Remote, Some(Nfs))]);
        }
        for (t, p) in [
            (Udp, 53),
            (Tcp, 53),
            (Udp, 67),
            (Udp, 547),
            (Udp, 123),
            (Udp, 514),
            (Tcp, 514),
            (Tcp, 1514),
        ] {
            rows.push((t, p, Remote, Some(Infrastructure)));
        }
        for (t, p) in [
            (Tcp, 443),
            (Tcp, 80),
            (Tcp, 22),
            (Tcp, 427),
            (Udp, 427),
            (Tcp, 5988),
            (Tcp, 5989),
            (Udp, 161),
        ] {
            rows.push((t, p, Host, Some(Management)));
        }
        rows.extend([
            (Udp, 68, Host, Some(Infrastructure)),
            (Udp, 546, Host, Some(Infrastructure)),
        ]);
        rows
    }

    #[test]
    fn port_table_is_the_fact_sheets() {
        let rows = table();
        for &(t, port, who, service) in &rows {
            let class = service.map_or(PortMatch::Nfc, PortMatch::Service);
            assert_eq!(port_entry(t, port), Some((who, class)), "{t:?} {port}");
        }
        // ... and nothing else.
        for t in [Transport::Tcp, Transport::Udp] {
            let listed = (0..=u16::MAX).filter(|&p| port_entry(t, p).is_some()).count();
            assert_eq!(listed, rows.iter().filter(|r| r.0 == t).count(), "{t:?}");
        }
    }

    #[test]
    fn received_frames_match_by_who_listens() {
        use Transport::{Tcp, Udp};
        for (t, port, who, service) in table() {
            let class = service.map_or(PortMatch::Nfc, PortMatch::Service);
            let unclassified = PortMatch::Service(Service::Unclassified);
            // To the port: a listener on the host, or nobody.
            let to = if who.host_listens() { class } else { unclassified };
            assert_eq!(classify_ports(t, 50000, port), to, "{t:?} to {port}");
            // From the port: a remote server's reply, or nobody.
            let from = if who.remote_listens() { class } else { unclassified };
            assert_eq!(classify_ports(t, port, 50000), from, "{t:?} from {port}");
        }
        // The destination port is tried first.
        assert_eq!(classify_ports(Tcp, 3260, 443), PortMatch::Service(Service::Management));
        assert_eq!(classify_ports(Tcp, 8000, 2233), PortMatch::Service(Service::Vsan));
        // ... but a client-only destination port does not hide a server's source port.
        assert_eq!(classify_ports(Tcp, 3260, 2049), PortMatch::Service(Service::Iscsi));
        // DHCP: server port to client port either way round the lookup; NTP client and server share 123.
        assert_eq!(classify_ports(Udp, 67, 68), PortMatch::Service(Service::Infrastructure));
        assert_eq!(
            classify_ports(Udp, 123, 123),
            PortMatch::Service(Service::Infrastructure)
        );
        // A DHCP client's discover (to the server port) reaches no listener on the host.
        assert_eq!(classify_ports(Udp, 68, 67), PortMatch::Service(Service::Unclassified));
        // A port of one transport means nothing on the other.
        assert_eq!(
            classify_ports(Udp, 8000, 50000),
            PortMatch::Service(Service::Unclassified)
        );
        assert_eq!(
            classify_ports(Udp, 3260, 50000),
            PortMatch::Service(Service::Unclassified)
        );
    }

    #[test]
    fn client_only_ports_reach_no_listener() {
        let m = host();
        let label = |name: &str, upper| {
            let v = vmk(&m, name);
            let case = IpCase {
                dst_mac: v.mac.0,
                vlan: (v.vlan != 0).then_some(v.vlan),
                l2_payload_len: 60,
                dst: v.ipv4_cidr().unwrap().addr.into(),
                upper,
            };
            expect_ip(&m, &case, "test")
        };
        let syn_3260 = label("vmk2", Upper::Tcp(50000, 3260));
        assert_eq!(
            (syn_3260.verdict.as_str(), syn_3260.service.as_deref()),
            ("delivered", Some("unclassified"))
        );
        let target_reply = label("vmk2", Upper::Tcp(3260, 50000));
        assert_eq!(target_reply.service.as_deref(), Some("iscsi"));
        let on_vmotion = label("vmk1", Upper::Tcp(3260, 50000));
        assert!(on_vmotion.is_dropped_for(Reason::ServiceDisabled));
        assert_eq!(on_vmotion.service.as_deref(), Some("iscsi"));
        let syn_2049 = label("vmk4", Upper::Tcp(50000, 2049));
        assert_eq!(syn_2049.service.as_deref(), Some("unclassified"));
        // Replication to vmk0 (no vSphereReplication tag): a frame to 31031 is nobody's, the appliance's reply
        // is replication and disabled there.
        assert_eq!(label("vmk0", Upper::Tcp(50000, 31031)).verdict, "delivered");
        assert!(label("vmk0", Upper::Tcp(31031, 50000)).is_dropped_for(Reason::ServiceDisabled));
    }

    #[test]
    fn nfc_follows_tags() {
        let m = host();
        assert_eq!(nfc_service(&m, vmk(&m, "vmk7")), Service::Provisioning);
        assert_eq!(nfc_service(&m, vmk(&m, "vmk6")), Service::ReplicationNfc);
        assert_eq!(nfc_service(&m, vmk(&m, "vmk0")), Service::Management);
        assert_eq!(
            policy(&m, vmk(&m, "vmk4"), nfc_service(&m, vmk(&m, "vmk4"))),
            Policy::Disabled
        );
    }

    #[test]
    fn policy_of_the_default_host() {
        let m = host();
        assert_eq!(policy(&m, vmk(&m, "vmk1"), Service::Vmotion), Policy::Allowed);
        assert_eq!(policy(&m, vmk(&m, "vmk0"), Service::Vmotion), Policy::Disabled);
        assert_eq!(policy(&m, vmk(&m, "vmk1"), Service::Iscsi), Policy::Disabled);
        assert_eq!(policy(&m, vmk(&m, "vmk2"), Service::Iscsi), Policy::Allowed);
        assert_eq!(policy(&m, vmk(&m, "vmk8"), Service::FaultTolerance), Policy::Disabled);
        assert_eq!(policy(&m, vmk(&m, "vmk8"), Service::Vsan), Policy::Allowed);
        assert_eq!(policy(&m, vmk(&m, "vmk6"), Service::Icmp), Policy::Allowed);
    }

    #[test]
    fn local_addresses_are_per_stack() {
        let m = host();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(
            is_local(&m, vmk(&m, "vmk0"), ip("10.40.40.11")),
            "vmk2 shares the default stack"
        );
        assert!(
            !is_local(&m, vmk(&m, "vmk1"), ip("10.10.10.11")),
            "vmk0 is on another stack"
        );
        assert!(is_local(&m, vmk(&m, "vmk0"), ip("10.10.10.255")));
        assert!(!is_local(&m, vmk(&m, "vmk0"), ip("10.20.20.255")));
        assert!(is_local(&m, vmk(&m, "vmk8"), ip("ff02::1")));
        assert!(!is_local(&m, vmk(&m, "vmk0"), ip("fd00:20::11")));
    }

    #[test]
    fn solicited_node_groups_share_vlan_scope() {
        let m = host();
        let group = solicited_node("fd00:10::11".parse().unwrap());
        assert_eq!(group, "ff02::1:ff00:11".parse::<Ipv6Addr>().unwrap());
        assert_eq!(steer_solicited_node(&m, Some(10), group).unwrap().name, "vmk0");
        assert_eq!(steer_solicited_node(&m, Some(20), group).unwrap().name, "vmk1");
        assert!(steer_solicited_node(&m, Some(40), group).is_none());
    }
}
