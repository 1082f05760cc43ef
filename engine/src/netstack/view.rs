//! esxcli-style views of the compiled netstack tables: `show routes` (`esxcli network ip route ipv4 list` and
//! `ipv6 list`: Network, Netmask, Gateway, Interface, Source) and `show neighbors` (`esxcli network ip
//! neighbor list`: Neighbor, Mac Address, Vmknic, Expiry, State, Type), fact sheet §4.3, each with a
//! leading Netstack column since vmknet lists every stack at once (`-N` narrows to one).
//!
//! Routes are rendered from the [`RouteTable`](super::RouteTable)s the egress path uses, so `show routes`
//! prints what lookups see (duplicates removed). Neighbours live in a running engine's caches, so they are
//! rendered from a [`NeighborSnapshot`]: plain data, serialisable, taken off the packet path and carried to
//! whoever prints it. An IPv6 network's Netmask column is its prefix length, as esxcli's `ipv6 list` shows.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{NeighborCache, NeighborState, RouteOrigin, RouteTable};
use crate::model::view::{Layout, View};
use crate::model::{HostModel, IpNetwork, NetstackId, RouteSource, VmkId};

/// esxcli's placeholder for a missing value.
const NONE: &str = "-";

/// `show routes`: the routes of every table (or only netstack `scope`'s), in table order. `tables` are
/// compiled from `model`.
pub fn routes_view<'t>(
    model: &HostModel,
    tables: impl IntoIterator<Item = &'t RouteTable>,
    scope: Option<&str>,
) -> View {
    let mut rows = Vec::new();
    for table in tables {
        let Some(key) = netstack_key(model, table.netstack(), scope) else {
            continue;
        };
        for r in table.routes() {
            let (network, netmask, unset) = match r.network {
                IpNetwork::V4(c) if c.prefix_len == 0 => ("default".to_owned(), c.netmask().to_string(), "0.0.0.0"),
                IpNetwork::V4(c) => (c.addr.to_string(), c.netmask().to_string(), "0.0.0.0"),
                IpNetwork::V6(c) if c.prefix_len == 0 => ("default".to_owned(), "0".to_owned(), "::"),
                IpNetwork::V6(c) => (c.addr.to_string(), c.prefix_len.to_string(), "::"),
            };
            rows.push(vec![
                key.to_owned(),
                network,
                netmask,
                r.gateway.map_or_else(|| unset.to_owned(), |g| g.to_string()),
                vmk_name(model, r.interface),
                source_text(r.source).to_owned(),
            ]);
        }
    }
    View {
        layout: Layout::Table,
        columns: vec!["Netstack", "Network", "Netmask", "Gateway", "Interface", "Source"],
        rows,
    }
}

/// The key of netstack `id` when `scope` (a key, as esxcli's `-N`) includes it.
fn netstack_key<'m>(model: &'m HostModel, id: NetstackId, scope: Option<&str>) -> Option<&'m str> {
    let key = model.netstacks.get(id.index())?.key.as_str();
    scope.is_none_or(|s| s == key).then_some(key)
}

fn vmk_name(model: &HostModel, vmk: Option<VmkId>) -> String {
    vmk.and_then(|id| model.vmks.get(id.index()))
        .map_or_else(|| NONE.to_owned(), |v| v.name.clone())
}

fn source_text(origin: RouteOrigin) -> &'static str {
    match origin.source() {
        RouteSource::Manual => "MANUAL",
        RouteSource::Local => "LOCAL",
    }
}

/// The neighbour caches of a running engine at one instant, as `show neighbors` prints them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborSnapshot {
    /// One row per entry, ordered by netstack (model order) then address.
    pub rows: Vec<NeighborRow>,
}

/// One neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighborRow {
    /// Its netstack's key.
    pub netstack: String,
    /// The neighbour's address.
    pub neighbor: IpAddr,
    /// Its MAC (`None` while incomplete).
    pub mac: Option<String>,
    /// The adapter whose subnet holds the neighbour (`None` if none does any more).
    pub vmknic: Option<String>,
    /// Whole seconds before the entry is removed.
    pub expiry_secs: u64,
    /// `Incomplete`, `Reachable` or `Stale`.
    pub state: String,
}

impl NeighborSnapshot {
    /// Snapshots the neighbour cache of each netstack, given with its routing table (compiled from `model`),
    /// as of `now_ns`. Allocates: call it off the packet path, between batches.
    pub fn capture<'t>(
        model: &HostModel,
        stacks: impl IntoIterator<Item = (&'t RouteTable, &'t NeighborCache)>,
        now_ns: u64,
    ) -> Self {
        let mut rows = Vec::new();
        for (routes, cache) in stacks {
            let Some(key) = netstack_key(model, routes.netstack(), None) else {
                continue;
            };
            let mut entries: Vec<_> = cache.entries(now_ns).collect();
            entries.sort_by_key(|e| e.ip);
            rows.extend(entries.into_iter().map(|e| {
                NeighborRow {
                    netstack: key.to_owned(),
                    neighbor: e.ip,
                    mac: e.mac.map(|m| m.to_string()),
                    vmknic: on_link_vmk(routes, e.ip)
                        .and_then(|id| model.vmks.get(id.index()))
                        .map(|v| v.name.clone()),
                    expiry_secs: e.expires_in_ns / 1_000_000_000,
                    state: state_text(e.state).to_owned(),
                }
            }));
        }
        Self { rows }
    }

    /// `show neighbors`: every row, or only those of netstack `scope`.
    pub fn view(&self, scope: Option<&str>) -> View {
        let rows = self
            .rows
            .iter()
            .filter(|r| scope.is_none_or(|s| s == r.netstack))
            .map(|r| {
                vec![
                    r.netstack.clone(),
                    r.neighbor.to_string(),
                    r.mac.clone().unwrap_or_else(|| NONE.to_owned()),
                    r.vmknic.clone().unwrap_or_else(|| NONE.to_owned()),
                    format!("{} sec", r.expiry_secs),
                    r.state.clone(),
                    // Every entry is learned from the wire; vmknet has no static neighbours.
                    "Dynamic".to_owned(),
                ]
            })
            .collect();
        View {
            layout: Layout::Table,
            columns: vec![
                "Netstack",
                "Neighbor",
                "Mac Address",
                "Vmknic",
                "Expiry",
                "State",
                "Type",
            ],
            rows,
        }
    }
}

/// The adapter whose connected subnet holds `ip`: neighbours are on-link by definition.
fn on_link_vmk(routes: &RouteTable, ip: IpAddr) -> Option<VmkId> {
    routes
        .lookup(ip)
        .filter(|r| r.source == RouteOrigin::Connected)
        .map(|r| r.interface)
}

fn state_text(state: NeighborState) -> &'static str {
    match state {
        NeighborState::Incomplete => "Incomplete",
        NeighborState::Reachable => "Reachable",
        NeighborState::Stale => "Stale",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::MacAddr;
    use crate::netstack::{Lookup, NeighborConfig, NetstackTables, compile_all};

    const S: u64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn default_tables(model: &HostModel) -> Vec<NetstackTables> {
        compile_all(model, NeighborConfig::default()).unwrap()
    }

    #[test]
    fn routes_of_the_embedded_default_as_esxcli_lists_them() {
        let model = HostModel::embedded_default();
        let tables = default_tables(&model);
        assert_eq!(
            routes_view(&model, tables.iter().map(|t| &t.routes), Some("vmotion")).to_text(),
            "Netstack  Network      Netmask        Gateway     Interface  Source\n\
             --------  -----------  -------------  ----------  ---------  ------\n\
             vmotion   10.20.20.0   255.255.255.0  0.0.0.0     vmk1       LOCAL\n\
             vmotion   fd00:20::    64             ::          vmk1       LOCAL\n\
             vmotion   10.120.20.0  255.255.255.0  10.20.20.1  vmk1       MANUAL\n\
             vmotion   default      0.0.0.0        10.20.20.1  vmk1       MANUAL\n\
             vmotion   default      0              fd00:20::1  vmk1       MANUAL\n"
        );
        let all = routes_view(&model, tables.iter().map(|t| &t.routes), None);
        let per_stack: usize = tables.iter().map(|t| t.routes.len()).sum();
        assert_eq!(all.rows.len(), per_stack);
        let witness = [
            "defaultTcpipStack",
            "10.99.0.0",
            "255.255.0.0",
            "10.80.80.1",
            "vmk8",
            "MANUAL",
        ];
        assert!(
            all.rows.iter().any(|r| r == &witness),
            "the static route to the witness site"
        );
        assert!(
            routes_view(&model, tables.iter().map(|t| &t.routes), Some("nope"))
                .rows
                .is_empty()
        );
    }

    #[test]
    fn a_route_given_twice_is_listed_once() {
        let text =
            crate::model::EMBEDDED_DEFAULT.replace("network = \"10.120.20.0/24\"", "network = \"10.20.20.0/24\"");
        let model = HostModel::from_toml("dup.toml", &text).unwrap();
        let tables = default_tables(&model);
        let view = routes_view(&model, tables.iter().map(|t| &t.routes), Some("vmotion"));
        let subnet: Vec<_> = view.rows.iter().filter(|r| r[1] == "10.20.20.0").collect();
        assert_eq!(subnet.len(), 1);
        assert_eq!(subnet[0][5], "LOCAL", "the connected subnet, listed first, wins");
    }

    #[test]
    fn neighbors_snapshot_renders_and_round_trips() {
        let model = HostModel::embedded_default();
        let mut tables = default_tables(&model);
        let peer = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
        let router = MacAddr([0x02, 0, 0, 0, 0, 0xfe]);
        let [default, vmotion, ..] = &mut tables[..] else {
            panic!("four stacks")
        };
        // Learned from a request to us at 0 s: stale.
        default.neighbors.learn_from_request(ip("10.10.10.50"), peer, 0);
        // Our request at 90 s, answered: reachable.
        assert_eq!(default.neighbors.lookup(ip("fd00:10::1"), 90 * S), Lookup::NotFound);
        default.neighbors.update_from_reply(ip("fd00:10::1"), router, 90 * S);
        // Our request at 99 s, unanswered: incomplete.
        assert_eq!(default.neighbors.lookup(ip("10.80.80.1"), 99 * S), Lookup::NotFound);
        assert_eq!(vmotion.neighbors.lookup(ip("10.20.20.1"), 95 * S), Lookup::NotFound);
        vmotion.neighbors.update_from_reply(ip("10.20.20.1"), router, 95 * S);

        let snapshot = NeighborSnapshot::capture(&model, tables.iter().map(|t| (&t.routes, &t.neighbors)), 100 * S);
        assert_eq!(
            snapshot.view(None).to_text(),
            "Netstack           Neighbor     Mac Address        Vmknic  Expiry    State       Type\n\
             -----------------  -----------  -----------------  ------  --------  ----------  -------\n\
             defaultTcpipStack  10.10.10.50  02:00:00:00:00:01  vmk0    1100 sec  Stale       Dynamic\n\
             defaultTcpipStack  10.80.80.1   -                  vmk8    2 sec     Incomplete  Dynamic\n\
             defaultTcpipStack  fd00:10::1   02:00:00:00:00:fe  vmk0    1190 sec  Reachable   Dynamic\n\
             vmotion            10.20.20.1   02:00:00:00:00:fe  vmk1    1195 sec  Reachable   Dynamic\n"
        );
        assert_eq!(snapshot.view(Some("vmotion")).rows.len(), 1);
        let json = serde_json::to_string(&snapshot).unwrap();
        assert_eq!(serde_json::from_str::<NeighborSnapshot>(&json).unwrap(), snapshot);
        // Thirty seconds after its reply, a reachable entry reads stale.
        let later = NeighborSnapshot::capture(&model, tables.iter().map(|t| (&t.routes, &t.neighbors)), 126 * S);
        let vmotion_row = later.rows.iter().find(|r| r.netstack == "vmotion").unwrap();
        assert_eq!(vmotion_row.state, "Stale");
    }
}
