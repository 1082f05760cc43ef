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

/// A port's class in the demultiplexing table: no service, the NFC/management port 902, or exactly one service.
///
/// A dense index (unknown, port 902, then one per service in discriminant order): the port tables store it as
/// is, and each adapter's isolation policy is a table indexed by it (see [`Policy`](super::Policy)).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PortClass(u8);

impl PortClass {
    /// No service listens on this port: the frame is [`Service::Unclassified`].
    pub const UNKNOWN: Self = Self(0);
    /// TCP 902: NFC or management, depending on the adapter's tags.
    pub const NFC_902: Self = Self(1);
    /// Number of classes; policy tables are this long.
    pub const COUNT: usize = FIRST_SERVICE + Service::COUNT;

    /// Exactly `service`.
    pub const fn service(service: Service) -> Self {
        Self(FIRST_SERVICE as u8 + service as u8)
    }

    /// Every class, in index order.
    pub fn all() -> impl Iterator<Item = Self> {
        (0..Self::COUNT as u8).map(Self)
    }

    /// The dense index of the class, below [`COUNT`](Self::COUNT).
    #[inline]
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// The services this class may be, in order of preference; the first one the adapter carries wins.
    pub fn candidates(self) -> &'static [Service] {
        match self {
            Self::UNKNOWN => &[Service::Unclassified],
            Self::NFC_902 => &[
                Service::Provisioning,
                Service::ReplicationNfc,
                Service::BackupNfc,
                Service::Management,
            ],
            Self(class) => SERVICES
                .get(usize::from(class) - FIRST_SERVICE)
                .map_or(&[], std::slice::from_ref),
        }
    }
}

impl fmt::Debug for PortClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UNKNOWN => f.write_str("Unknown"),
            Self::NFC_902 => f.write_str("Nfc902"),
            class => write!(f, "Service({:?})", class.candidates()),
        }
    }
}

/// Index of the first one-service class.
const FIRST_SERVICE: usize = 2;

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
    use Service::*;
    use Transport::{Tcp, Udp};
    const fn service(service: Service) -> PortClass {
        PortClass::service(service)
    }
    &[
        (Tcp, 8000, Both, service(Vmotion)),
        (Tcp, 8100, Both, service(FaultTolerance)),
        (Udp, 8100, Both, service(FaultTolerance)),
        (Tcp, 8200, Both, service(FaultTolerance)),
        (Udp, 8200, Both, service(FaultTolerance)),
        (Tcp, 8300, Both, service(FaultTolerance)),
        (Udp, 8300, Both, service(FaultTolerance)),
        (Udp, 8301, Both, service(FaultTolerance)),
        (Udp, 8302, Both, service(FaultTolerance)),
        (Tcp, 31031, Remote, service(Replication)),
        (Tcp, 44046, Remote, service(Replication)),
        // NFC (provisioning, replication NFC, backup NFC) and authd share 902; NFC runs both ways.
        (Tcp, 902, Both, PortClass::NFC_902),
        (Udp, 902, Remote, service(Management)),
        (Tcp, 2233, Both, service(Vsan)),
        (Udp, 12321, Both, service(Vsan)),
        (Udp, 12345, Both, service(Vsan)),
        (Udp, 23451, Both, service(Vsan)),
        (Tcp, 8080, Both, service(Vsan)),
        (Tcp, 4420, Remote, service(NvmeTcp)),
        (Tcp, 8009, Remote, service(NvmeTcp)),
        (Tcp, 3260, Remote, service(Iscsi)),
        (Tcp, 2049, Remote, service(Nfs)),
        (Udp, 2049, Remote, service(Nfs)),
        (Tcp, 111, Remote, service(Nfs)),
        (Udp, 111, Remote, service(Nfs)),
        (Tcp, 443, Host, service(Management)),
        (Tcp, 80, Host, service(Management)),
        (Tcp, 22, Host, service(Management)),
        (Tcp, 8182, Both, service(Management)),
        (Udp, 8182, Both, service(Management)),
        (Tcp, 427, Host, service(Management)),
        (Udp, 427, Host, service(Management)),
        (Tcp, 5988, Host, service(Management)),
        (Tcp, 5989, Host, service(Management)),
        (Udp, 161, Host, service(Management)),
        (Udp, 53, Remote, service(Infrastructure)),
        (Tcp, 53, Remote, service(Infrastructure)),
        // DHCP and DHCPv6 replies come from the server port to the client port the host listens on.
        (Udp, 67, Remote, service(Infrastructure)),
        (Udp, 68, Host, service(Infrastructure)),
        (Udp, 547, Remote, service(Infrastructure)),
        (Udp, 546, Host, service(Infrastructure)),
        (Udp, 123, Remote, service(Infrastructure)),
        (Udp, 514, Remote, service(Infrastructure)),
        (Tcp, 514, Remote, service(Infrastructure)),
        (Tcp, 1514, Remote, service(Infrastructure)),
    ]
};

/// One transport's tables: the class of a destination port (a listener on the host) and of a source port (a
/// remote listener's reply).
struct Directions {
    to_host: Box<[PortClass; 65536]>,
    from_remote: Box<[PortClass; 65536]>,
}

impl Directions {
    fn new() -> Self {
        Self {
            to_host: Box::new([PortClass::UNKNOWN; 65536]),
            from_remote: Box::new([PortClass::UNKNOWN; 65536]),
        }
    }

    fn insert(&mut self, port: u16, listener: Listener, class: PortClass) {
        let port = usize::from(port);
        if matches!(listener, Listener::Host | Listener::Both) {
            self.to_host[port] = class;
        }
        if matches!(listener, Listener::Remote | Listener::Both) {
            self.from_remote[port] = class;
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
    /// reaches no listener and is [`PortClass::UNKNOWN`].
    #[inline]
    pub fn classify(&self, transport: Transport, src_port: u16, dst_port: u16) -> PortClass {
        let tables = match transport {
            Transport::Tcp => &self.tcp,
            Transport::Udp => &self.udp,
        };
        let to_host = tables.to_host[usize::from(dst_port)];
        if to_host != PortClass::UNKNOWN {
            to_host
        } else {
            tables.from_remote[usize::from(src_port)]
        }
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
            PortClass::service(Service::Vmotion)
        );
        assert_eq!(
            t.classify(Transport::Tcp, 8000, 50000),
            PortClass::service(Service::Vmotion)
        );
        assert_eq!(
            t.classify(Transport::Tcp, 3260, 40000),
            PortClass::service(Service::Iscsi)
        );
        assert_eq!(t.classify(Transport::Udp, 2049, 800), PortClass::service(Service::Nfs));
        assert_eq!(
            t.classify(Transport::Udp, 53, 33000),
            PortClass::service(Service::Infrastructure)
        );
        assert_eq!(t.classify(Transport::Udp, 40000, 8000), PortClass::UNKNOWN);
    }

    #[test]
    fn destination_port_wins() {
        let t = PortTable::new();
        assert_eq!(
            t.classify(Transport::Tcp, 3260, 443),
            PortClass::service(Service::Management)
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
                PortClass::UNKNOWN,
                "{transport:?} {port}"
            );
        }
        // ... and replies never come from the host's own listening ports.
        assert_eq!(t.classify(Transport::Tcp, 443, 40000), PortClass::UNKNOWN);
    }

    #[test]
    fn port_902_depends_on_the_adapter() {
        let t = PortTable::new();
        let class = t.classify(Transport::Tcp, 40000, 902);
        assert_eq!(class, PortClass::NFC_902);
        assert_eq!(class.candidates().last(), Some(&Service::Management));
        assert_eq!(
            t.classify(Transport::Udp, 902, 40000),
            PortClass::service(Service::Management)
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
            let found = [to_host, from_remote].contains(&PortClass::service(service));
            assert!(found, "{transport:?} {port}");
        }
    }
}
