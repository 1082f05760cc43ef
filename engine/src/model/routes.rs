//! The routes a netstack's table holds, derived from the model: connected subnets, the default gateways and
//! static routes. `show routes` lists them and the per-netstack lookup tables are compiled from them.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::host::{HostModel, Netstack, NetstackId, RouteSource, VmkId};
use super::types::{IpNetwork, Ipv4Cidr, Ipv6Cidr};

/// One entry of a netstack's routing table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouteEntry {
    /// The stack whose table holds it.
    pub netstack: NetstackId,
    /// Destination prefix (`0.0.0.0/0` / `::/0` for the default route).
    pub network: IpNetwork,
    /// Next hop; `None` for a connected subnet.
    pub gateway: Option<IpAddr>,
    /// Outgoing adapter, when known.
    pub interface: Option<VmkId>,
    /// Where the route comes from.
    pub source: RouteSource,
}

impl HostModel {
    /// The routing table of `netstack`: connected subnets, static routes, then the default routes. A prefix
    /// given twice (two adapters on one subnet, a static route over a connected subnet) is listed once, the
    /// first time: that is the route the compiled table (`netstack::RouteTable`) uses, so `show routes` lists
    /// exactly the routes lookups see.
    pub fn route_entries(&self, netstack: &Netstack) -> Vec<RouteEntry> {
        let mut routes = Vec::new();
        let connected = |network, interface| RouteEntry {
            netstack: netstack.id,
            network,
            gateway: None,
            interface: Some(interface),
            source: RouteSource::Local,
        };
        for vmk in self.vmks_of(netstack) {
            if let Some(cidr) = vmk.ipv4_cidr() {
                let network = Ipv4Cidr {
                    addr: cidr.network(),
                    prefix_len: cidr.prefix_len,
                };
                routes.push(connected(IpNetwork::V4(network), vmk.id));
            }
            for cidr in &vmk.ipv6.addresses {
                let network = Ipv6Cidr {
                    addr: cidr.network(),
                    prefix_len: cidr.prefix_len,
                };
                routes.push(connected(IpNetwork::V6(network), vmk.id));
            }
        }
        routes.extend(
            self.routes
                .iter()
                .filter(|r| r.netstack == netstack.id)
                .map(|r| RouteEntry {
                    netstack: netstack.id,
                    network: r.network,
                    gateway: Some(r.gateway),
                    interface: r.interface.or_else(|| self.interface_towards(netstack, r.gateway)),
                    source: RouteSource::Manual,
                }),
        );
        let defaults = [
            netstack.ipv4_gateway.map(|gw| {
                (
                    IpNetwork::V4(Ipv4Cidr {
                        addr: Ipv4Addr::UNSPECIFIED,
                        prefix_len: 0,
                    }),
                    IpAddr::V4(gw),
                )
            }),
            netstack.ipv6_gateway.map(|gw| {
                (
                    IpNetwork::V6(Ipv6Cidr {
                        addr: Ipv6Addr::UNSPECIFIED,
                        prefix_len: 0,
                    }),
                    IpAddr::V6(gw),
                )
            }),
        ];
        routes.extend(defaults.into_iter().flatten().map(|(network, gw)| RouteEntry {
            netstack: netstack.id,
            network,
            gateway: Some(gw),
            interface: self.interface_towards(netstack, gw),
            source: RouteSource::Manual,
        }));
        let mut seen = HashSet::new();
        routes.retain(|r| {
            seen.insert(match r.network {
                IpNetwork::V4(c) => (IpAddr::V4(c.network()), c.prefix_len),
                IpNetwork::V6(c) => (IpAddr::V6(c.network()), c.prefix_len),
            })
        });
        routes
    }

    /// The adapter of `netstack` whose subnet holds `next_hop`.
    pub fn interface_towards(&self, netstack: &Netstack, next_hop: IpAddr) -> Option<VmkId> {
        self.vmks_of(netstack)
            .find(|vmk| match next_hop {
                IpAddr::V4(ip) => vmk.ipv4_cidr().is_some_and(|c| c.contains(ip)),
                IpAddr::V6(ip) => vmk.ipv6.addresses.iter().any(|c| c.contains(ip)),
            })
            .map(|vmk| vmk.id)
    }
}
