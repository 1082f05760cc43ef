//! `show neighbors`: the esxcli view of the neighbour caches (`esxcli network ip neighbor list`: Neighbor,
//! Mac Address, Vmknic, Expiry, State, Type; fact sheet §4.3), with a leading Netstack column as in `show
//! routes`, since vmknet lists every stack at once (`-N` narrows to one).
//!
//! Neighbours live in a running engine's caches (the pipeline's, one per netstack), so they are rendered
//! from a [`NeighborSnapshot`]: plain data, serialisable, taken between batches and carried to whoever
//! prints it. The Vmknic column is the adapter whose connected subnet holds the neighbour.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{NeighborCache, NeighborEntry, NeighborState, RouteOrigin, RouteTable};
use crate::model::view::{Layout, View};
use crate::model::{HostModel, VmkId};

/// esxcli's placeholder for a missing value.
const NONE: &str = "-";

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
        Self::from_entries(
            model,
            stacks
                .into_iter()
                .map(|(routes, cache)| (routes, cache.entries(now_ns))),
        )
    }

    /// As [`NeighborSnapshot::capture`] from entries already copied out of the caches (a running engine's
    /// workers copy theirs between rounds).
    pub fn from_entries<'t, E: IntoIterator<Item = NeighborEntry>>(
        model: &HostModel,
        stacks: impl IntoIterator<Item = (&'t RouteTable, E)>,
    ) -> Self {
        let mut rows = Vec::new();
        for (routes, entries) in stacks {
            let Some(netstack) = model.netstacks.get(routes.netstack().index()) else {
                continue;
            };
            let mut entries: Vec<_> = entries.into_iter().collect();
            entries.sort_by_key(|e| e.ip);
            rows.extend(entries.into_iter().map(|e| {
                NeighborRow {
                    netstack: netstack.key.to_string(),
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
