//! VMkernel services and the port table that demultiplexes frames to them.
//!
//! The table follows the fact sheet (§3), direction included: a frame the host receives belongs to a service
//! when it is addressed to the port of a service the host listens on ("In"), or comes from the port of a
//! remote service the host connected to ("Out": the server's reply). A SYN to 3260 on an ESXi host reaches no
//! listener (the host is an iSCSI initiator, never a target) and is unclassified. The destination port is
//! tried first. Port 902 is shared by NFC (provisioning,
//! replication NFC, backup NFC) and management (authd); which of them a frame belongs to is decided by the
//! tags of the receiving adapter, see [`PortClass::candidates`].
//!
//! Lookups are 64 Ki-entry byte tables (per transport and direction), built once: at most two loads per
//! segment, no branches on the port value in the hot path.

use std::fmt;

use crate::model::ServiceTag;

/// A VMkernel service, as frames are counted and delivered.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Live migration (TCP 8000).
    Vmotion = 0,
    /// Fault Tolerance logging (8100, 8200, 8300) and DVSSync (UDP 8301, 8302).
    FaultTolerance,
    /// vSphere Replication, host to appliance (TCP 31031, 44046).
    Replication,
    /// vSphere Replication NFC, appliance to target host (TCP 902 on an adapter tagged for it).
    ReplicationNfc,
    /// Provisioning NFC: cold migration, cloning, snapshots (TCP 902 on a provisioning adapter).
    Provisioning,
    /// Backup NFC (TCP 902 on an adapter tagged for it).
    BackupNfc,
    /// vSAN: RDT 2233, CMMDS 12345/23451, unicast agent 12321, VASA provider 8080.
    Vsan,
    /// NVMe over TCP (4420 I/O, 8009 discovery).
    NvmeTcp,
    /// Software iSCSI (TCP 3260).
    Iscsi,
    /// NFS v3/v4.1 (2049) and the portmapper (111).
    Nfs,
    /// Management: host client and API 443, web 80, SSH 22, authd and heartbeat 902, HA 8182, SLP 427,
    /// CIM 5988/5989, SNMP 161.
    Management,
    /// The host's own infrastructure clients: DNS, DHCP, DHCPv6, NTP, syslog replies.
    Infrastructure,
    /// ARP.
    Arp,
    /// IPv6 neighbour discovery (RS, RA, NS, NA, redirect).
    NeighborDiscovery,
    /// ICMP and ICMPv6 other than neighbour discovery (echo, errors).
    Icmp,
    /// IP traffic to a vmk address on no known port: counted, and delivered to the netstack's default sink.
    Unclassified,
}

impl Service {
    /// Number of services; counter arrays are this long.
    pub const COUNT: usize = Self::ALL.len();

    /// Every service, in discriminant order.
    pub const ALL: [Service; 16] = [
        Self::Vmotion,
        Self::FaultTolerance,
        Self::Replication,
        Self::ReplicationNfc,
        Self::Provisioning,
        Self::BackupNfc,
        Self::Vsan,
        Self::NvmeTcp,
        Self::Iscsi,
        Self::Nfs,
        Self::Management,
        Self::Infrastructure,
        Self::Arp,
        Self::NeighborDiscovery,
        Self::Icmp,
        Self::Unclassified,
    ];

    /// The counter and report name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vmotion => "vmotion",
            Self::FaultTolerance => "fault_tolerance",
            Self::Replication => "replication",
            Self::ReplicationNfc => "replication_nfc",
            Self::Provisioning => "provisioning",
            Self::BackupNfc => "backup_nfc",
            Self::Vsan => "vsan",
            Self::NvmeTcp => "nvme_tcp",
            Self::Iscsi => "iscsi",
            Self::Nfs => "nfs",
            Self::Management => "management",
            Self::Infrastructure => "infrastructure",
            Self::Arp => "arp",
            Self::NeighborDiscovery => "neighbor_discovery",
            Self::Icmp => "icmp",
            Self::Unclassified => "unclassified",
        }
    }

    /// Parses a [`name`](Self::name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What lets an adapter carry this service.
    pub const fn requirement(self) -> Requirement {
        match self {
            Self::Vmotion => Requirement::Tag(ServiceTag::Vmotion),
            Self::FaultTolerance => Requirement::Tag(ServiceTag::FaultToleranceLogging),
            Self::Replication => Requirement::Tag(ServiceTag::VsphereReplication),
            Self::ReplicationNfc => Requirement::Tag(ServiceTag::VsphereReplicationNfc),
            Self::Provisioning => Requirement::Tag(ServiceTag::VsphereProvisioning),
            Self::BackupNfc => Requirement::Tag(ServiceTag::VsphereBackupNfc),
            Self::Management => Requirement::Tag(ServiceTag::Management),
            Self::Vsan => Requirement::Vsan,
            Self::NvmeTcp | Self::Iscsi | Self::Nfs => Requirement::IpStorage,
            Self::Infrastructure | Self::Arp | Self::NeighborDiscovery | Self::Icmp | Self::Unclassified => {
                Requirement::None
            }
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an adapter needs to carry a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// This tag, in force.
    Tag(ServiceTag),
    /// `VSAN` or `VSANWitness`.
    Vsan,
    /// IP storage: no tag, but only on default-stack adapters.
    IpStorage,
    /// Nothing: every adapter speaks ARP, ND, ICMP and its own infrastructure protocols.
    None,
}

/// A port's class in the demultiplexing table: one service, or the shared NFC/management port.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortClass {
    /// No service listens on this port: the frame is [`Service::Unclassified`].
    Unknown = 0,
    /// TCP 902: NFC or management, depending on the adapter's tags.
    Nfc902,
    /// Exactly this service (stored as `FIRST_SERVICE + service`).
    Service(Service),
}

const FIRST_SERVICE: u8 = 2;

impl PortClass {
    /// The services this class may be, in order of preference; the first one the adapter carries wins.
    pub fn candidates(self) -> &'static [Service] {
        match self {
            Self::Unknown => &[Service::Unclassified],
            Self::Nfc902 => &[
                Service::Provisioning,
                Service::ReplicationNfc,
                Service::BackupNfc,
                Service::Management,
            ],
            Self::Service(s) => std::slice::from_ref(&SERVICES[s as usize]),
        }
    }

    const fn encode(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Nfc902 => 1,
            Self::Service(s) => FIRST_SERVICE + s as u8,
        }
    }

    fn decode(byte: u8) -> Self {
        match byte {
            0 => Self::Unknown,
            1 => Self::Nfc902,
            b => Service::ALL
                .get(usize::from(b - FIRST_SERVICE))
                .map_or(Self::Unknown, |s| Self::Service(*s)),
        }
    }
}

/// Every service in a `static`, so one-service candidate lists can borrow from it.
static SERVICES: [Service; Service::COUNT] = Service::ALL;

/// Transport protocols with ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Who listens on a service port (the fact sheet's Direction column, §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    /// The ESXi host listens ("In"): frames the host receives are addressed *to* the port.
    Host,
    /// A remote server listens ("Out"): frames the host receives are its replies, *from* the port.
    Remote,
    /// Both ("In + Out"), as between two ESXi hosts.
    Both,
}

/// The fact sheet's port table (§3), as (transport, port, who listens, class).
const PORTS: &[(Transport, u16, Listener, PortClass)] = {
    use Listener::{Both, Host, Remote};
    use PortClass::{Nfc902, Service as S};
    use Service::*;
    use Transport::{Tcp, Udp};
    &[
        (Tcp, 8000, Both, S(Vmotion)),
        (Tcp, 8100, Both, S(FaultTolerance)),
        (Udp, 8100, Both, S(FaultTolerance)),
        (Tcp, 8200, Both, S(FaultTolerance)),
        (Udp, 8200, Both, S(FaultTolerance)),
        (Tcp, 8300, Both, S(FaultTolerance)),
        (Udp, 8300, Both, S(FaultTolerance)),
        (Udp, 8301, Both, S(FaultTolerance)),
        (Udp, 8302, Both, S(FaultTolerance)),
        (Tcp, 31031, Remote, S(Replication)),
        (Tcp, 44046, Remote, S(Replication)),
        // NFC (provisioning, replication NFC, backup NFC) and authd share 902; NFC runs both ways.
        (Tcp, 902, Both, Nfc902),
        (Udp, 902, Remote, S(Management)),
        (Tcp, 2233, Both, S(Vsan)),
        (Udp, 12321, Both, S(Vsan)),
        (Udp, 12345, Both, S(Vsan)),
        (Udp, 23451, Both, S(Vsan)),
        (Tcp, 8080, Both, S(Vsan)),
        (Tcp, 4420, Remote, S(NvmeTcp)),
        (Tcp, 8009, Remote, S(NvmeTcp)),
        (Tcp, 3260, Remote, S(Iscsi)),
        (Tcp, 2049, Remote, S(Nfs)),
        (Udp, 2049, Remote, S(Nfs)),
        (Tcp, 111, Remote, S(Nfs)),
        (Udp, 111, Remote, S(Nfs)),
        (Tcp, 443, Host, S(Management)),
        (Tcp, 80, Host, S(Management)),
        (Tcp, 22, Host, S(Management)),
        (Tcp, 8182, Both, S(Management)),
        (Udp, 8182, Both, S(Management)),
        (Tcp, 427, Host, S(Management)),
        (Udp, 427, Host, S(Management)),
        (Tcp, 5988, Host, S(Management)),
        (Tcp, 5989, Host, S(Management)),
        (Udp, 161, Host, S(Management)),
        (Udp, 53, Remote, S(Infrastructure)),
        (Tcp, 53, Remote, S(Infrastructure)),
        // DHCP and DHCPv6 replies come from the server port to the client port the host listens on.
        (Udp, 67, Remote, S(Infrastructure)),
        (Udp, 68, Host, S(Infrastructure)),
        (Udp, 547, Remote, S(Infrastructure)),
        (Udp, 546, Host, S(Infrastructure)),
        (Udp, 123, Remote, S(Infrastructure)),
        (Udp, 514, Remote, S(Infrastructure)),
        (Tcp, 514, Remote, S(Infrastructure)),
        (Tcp, 1514, Remote, S(Infrastructure)),
    ]
};

/// One transport's tables: the class of a destination port (a listener on the host) and of a source port (a
/// remote listener's reply).
struct Directions {
    to_host: Box<[u8; 65536]>,
    from_remote: Box<[u8; 65536]>,
}

impl Directions {
    fn new() -> Self {
        Self {
            to_host: Box::new([0; 65536]),
            from_remote: Box::new([0; 65536]),
        }
    }

    fn insert(&mut self, port: u16, listener: Listener, class: PortClass) {
        let port = usize::from(port);
        if matches!(listener, Listener::Host | Listener::Both) {
            self.to_host[port] = class.encode();
        }
        if matches!(listener, Listener::Remote | Listener::Both) {
            self.from_remote[port] = class.encode();
        }
    }
}

/// The port tables of frames the host receives, for TCP and UDP.
pub struct PortTable {
    tcp: Directions,
    udp: Directions,
}

impl fmt::Debug for PortTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PortTable").field("entries", &PORTS.len()).finish()
    }
}

impl Default for PortTable {
    fn default() -> Self {
        Self::new()
    }
}

impl PortTable {
    /// The fact sheet's table.
    pub fn new() -> Self {
        let mut table = Self {
            tcp: Directions::new(),
            udp: Directions::new(),
        };
        for &(transport, port, listener, class) in PORTS {
            table.directions_mut(transport).insert(port, listener, class);
        }
        table
    }

    fn directions_mut(&mut self, transport: Transport) -> &mut Directions {
        match transport {
            Transport::Tcp => &mut self.tcp,
            Transport::Udp => &mut self.udp,
        }
    }

    /// The class of a segment the host received: to a port the host listens on, else from a port a remote
    /// server listens on (its reply). A segment to a client-only port (a SYN to 3260 on an initiator, say)
    /// reaches no listener and is [`PortClass::Unknown`].
    #[inline]
    pub fn classify(&self, transport: Transport, src_port: u16, dst_port: u16) -> PortClass {
        let tables = match transport {
            Transport::Tcp => &self.tcp,
            Transport::Udp => &self.udp,
        };
        let to_host = tables.to_host[usize::from(dst_port)];
        let byte = if to_host != 0 {
            to_host
        } else {
            tables.from_remote[usize::from(src_port)]
        };
        PortClass::decode(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_index() {
        for (i, s) in Service::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i);
            assert_eq!(Service::from_name(s.name()), Some(s));
        }
    }

    #[test]
    fn both_directions_are_recognised() {
        let t = PortTable::new();
        assert_eq!(
            t.classify(Transport::Tcp, 50000, 8000),
            PortClass::Service(Service::Vmotion)
        );
        assert_eq!(
            t.classify(Transport::Tcp, 8000, 50000),
            PortClass::Service(Service::Vmotion)
        );
        assert_eq!(
            t.classify(Transport::Tcp, 3260, 40000),
            PortClass::Service(Service::Iscsi)
        );
        assert_eq!(t.classify(Transport::Udp, 2049, 800), PortClass::Service(Service::Nfs));
        assert_eq!(
            t.classify(Transport::Udp, 53, 33000),
            PortClass::Service(Service::Infrastructure)
        );
        assert_eq!(t.classify(Transport::Udp, 40000, 8000), PortClass::Unknown);
    }

    #[test]
    fn destination_port_wins() {
        let t = PortTable::new();
        assert_eq!(
            t.classify(Transport::Tcp, 3260, 443),
            PortClass::Service(Service::Management)
        );
    }

    #[test]
    fn client_only_ports_reach_no_listener_on_the_host() {
        let t = PortTable::new();
        let client_only = [
            (Transport::Tcp, 3260),
            (Transport::Tcp, 2049),
            (Transport::Tcp, 4420),
            (Transport::Udp, 53),
            (Transport::Tcp, 31031),
        ];
        for (transport, port) in client_only {
            assert_eq!(
                t.classify(transport, 40000, port),
                PortClass::Unknown,
                "{transport:?} {port}"
            );
        }
        // ... and replies never come from the host's own listening ports.
        assert_eq!(t.classify(Transport::Tcp, 443, 40000), PortClass::Unknown);
    }

    #[test]
    fn port_902_depends_on_the_adapter() {
        let t = PortTable::new();
        let class = t.classify(Transport::Tcp, 40000, 902);
        assert_eq!(class, PortClass::Nfc902);
        assert_eq!(class.candidates().last(), Some(&Service::Management));
        assert_eq!(
            t.classify(Transport::Udp, 902, 40000),
            PortClass::Service(Service::Management)
        );
    }

    #[test]
    fn every_service_port_of_the_fact_sheet_is_present() {
        let t = PortTable::new();
        let expect = [
            (Transport::Tcp, 8100, Service::FaultTolerance),
            (Transport::Udp, 8302, Service::FaultTolerance),
            (Transport::Tcp, 31031, Service::Replication),
            (Transport::Tcp, 44046, Service::Replication),
            (Transport::Tcp, 2233, Service::Vsan),
            (Transport::Udp, 12321, Service::Vsan),
            (Transport::Udp, 12345, Service::Vsan),
            (Transport::Udp, 23451, Service::Vsan),
            (Transport::Tcp, 4420, Service::NvmeTcp),
            (Transport::Tcp, 8009, Service::NvmeTcp),
            (Transport::Tcp, 111, Service::Nfs),
            (Transport::Tcp, 8182, Service::Management),
            (Transport::Udp, 123, Service::Infrastructure),
            (Transport::Udp, 514, Service::Infrastructure),
            (Transport::Udp, 67, Service::Infrastructure),
        ];
        for (transport, port, service) in expect {
            let to_host = t.classify(transport, 60000, port);
            let from_remote = t.classify(transport, port, 60000);
            let found = [to_host, from_remote].contains(&PortClass::Service(service));
            assert!(found, "{transport:?} {port}");
        }
    }
}
