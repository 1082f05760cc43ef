//! The validated host model: an immutable snapshot that everything else is compiled from.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::diag::{Diagnostics, Location};
use super::types::{CongestionControl, IpNetwork, Ipv4Cidr, Ipv6Cidr, MacAddr, NetstackKey, ServiceTag};

/// Dense index of a netstack in [`HostModel::netstacks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct NetstackId(pub u32);

/// Dense index of a VMkernel adapter in [`HostModel::vmks`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VmkId(pub u32);

impl NetstackId {
    /// As a slice index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl VmkId {
    /// As a slice index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A whole ESXi host as vmknet runs it.
#[derive(Clone, Debug, Serialize)]
pub struct HostModel {
    /// Host name.
    pub name: String,
    /// Physical NICs carrying VMkernel traffic (Linux interface names at run time).
    pub uplinks: Vec<String>,
    /// TCP/IP stacks: the three system stacks first, then custom stacks in file order.
    pub netstacks: Vec<Netstack>,
    /// VMkernel adapters in file order.
    pub vmks: Vec<Vmk>,
    /// Static routes, per netstack.
    pub routes: Vec<StaticRoute>,
    /// Warnings found while loading (errors never produce a model).
    #[serde(skip)]
    pub warnings: Diagnostics,
}

/// One TCP/IP stack instance.
#[derive(Clone, Debug, Serialize)]
pub struct Netstack {
    /// Dense index.
    pub id: NetstackId,
    /// The stack key (`defaultTcpipStack`, `vmotion`, ...).
    pub key: NetstackKey,
    /// Display name (the key unless renamed; only custom stacks can be renamed).
    pub name: String,
    /// IPv4 default gateway.
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// IPv6 default gateway.
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// DNS servers.
    pub dns: Vec<IpAddr>,
    /// TCP congestion control.
    pub congestion_control: CongestionControl,
    /// Maximum number of connections.
    pub max_connections: u32,
    /// Adapters bound to this stack.
    pub vmks: Vec<VmkId>,
}

/// IPv4 configuration of an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "address")]
pub enum Ipv4Mode {
    /// A static address and prefix.
    Static(Ipv4Cidr),
    /// Address from DHCP (vmknet does not run the client: the adapter has no IPv4 address in the dataplane).
    Dhcp,
    /// No IPv4.
    None,
}

/// IPv6 configuration of an adapter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ipv6Setup {
    /// Static addresses.
    pub addresses: Vec<Ipv6Cidr>,
    /// DHCPv6 enabled.
    pub dhcpv6: bool,
    /// Router advertisement (SLAAC) enabled; ESXi's default since 6.5.
    pub router_advertisement: bool,
}

/// Whether a tagged service is in force on an adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "netstack")]
pub enum ServiceState {
    /// The service uses this adapter.
    Enabled,
    /// The service has moved to its own stack, which has adapters: this default-stack adapter is disabled
    /// for it (fact sheet §1.3 rules 1-2).
    MovedTo(NetstackKey),
}

/// A service tag on an adapter and whether it is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaggedService {
    /// The tag.
    pub tag: ServiceTag,
    /// Its effective state.
    #[serde(flatten)]
    pub state: ServiceState,
}

/// One VMkernel adapter.
#[derive(Clone, Debug, Serialize)]
pub struct Vmk {
    /// Dense index.
    pub id: VmkId,
    /// `vmkN`.
    pub name: String,
    /// Its TCP/IP stack.
    pub netstack: NetstackId,
    /// Port group.
    pub portgroup: String,
    /// MAC address.
    pub mac: MacAddr,
    /// VLAN id (0 = untagged).
    pub vlan: u16,
    /// MTU in bytes (IP packet size).
    pub mtu: u16,
    /// IPv4 configuration.
    pub ipv4: Ipv4Mode,
    /// IPv6 configuration.
    pub ipv6: Ipv6Setup,
    /// Per-adapter IPv4 gateway override.
    pub ipv4_gateway: Option<Ipv4Addr>,
    /// Per-adapter IPv6 gateway override.
    pub ipv6_gateway: Option<Ipv6Addr>,
    /// Service tags with their effective state.
    pub services: Vec<TaggedService>,
    /// Administratively enabled.
    pub enabled: bool,
    /// Where the adapter is defined.
    #[serde(skip)]
    pub defined_at: Location,
}

impl Vmk {
    /// The static IPv4 address, if any.
    pub fn ipv4_cidr(&self) -> Option<Ipv4Cidr> {
        match self.ipv4 {
            Ipv4Mode::Static(cidr) => Some(cidr),
            Ipv4Mode::Dhcp | Ipv4Mode::None => None,
        }
    }

    /// Whether `tag` is present and in force.
    pub fn has_service(&self, tag: ServiceTag) -> bool {
        self.services
            .iter()
            .any(|s| s.tag == tag && s.state == ServiceState::Enabled)
    }

    /// Whether `tag` is present, in force or not.
    pub fn is_tagged(&self, tag: ServiceTag) -> bool {
        self.services.iter().any(|s| s.tag == tag)
    }
}

/// Where a route came from, as esxcli's `Source` column says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RouteSource {
    /// Configured by the operator.
    Manual,
    /// Derived from an interface's address.
    Local,
}

/// A static route in a netstack's table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaticRoute {
    /// The stack.
    pub netstack: NetstackId,
    /// Destination prefix.
    pub network: IpNetwork,
    /// Next hop.
    pub gateway: IpAddr,
    /// Outgoing adapter, if pinned.
    pub interface: Option<VmkId>,
}

impl HostModel {
    /// The netstack with `key`.
    pub fn netstack_by_key(&self, key: &NetstackKey) -> Option<&Netstack> {
        self.netstacks.iter().find(|n| &n.key == key)
    }

    /// The adapter named `name`.
    pub fn vmk_by_name(&self, name: &str) -> Option<&Vmk> {
        self.vmks.iter().find(|v| v.name == name)
    }

    /// The netstack of `vmk`.
    pub fn netstack_of(&self, vmk: &Vmk) -> &Netstack {
        &self.netstacks[vmk.netstack.index()]
    }

    /// Whether IP storage (iSCSI, NFS, NVMe/TCP) may use `vmk`. ESXi needs no service tag for it, but IP storage
    /// runs on the default stack only: the vMotion and provisioning stacks carry nothing but their service, and
    /// software iSCSI port binding requires default-stack adapters.
    pub fn carries_ip_storage(&self, vmk: &Vmk) -> bool {
        self.netstack_of(vmk).key == NetstackKey::Default
    }

    /// Adapters bound to `netstack`.
    pub fn vmks_of<'a>(&'a self, netstack: &'a Netstack) -> impl Iterator<Item = &'a Vmk> + 'a {
        netstack.vmks.iter().map(|id| &self.vmks[id.index()])
    }
}
