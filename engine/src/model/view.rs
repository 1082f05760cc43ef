//! esxcli-style views of the host model, for `vmknet show`.
//!
//! Each view is a [`View`]: named columns and rows of strings, rendered either as esxcli renders it (a table
//! with a dashed header rule, or one indented block per item for the `list` commands) or as JSON objects keyed
//! by column name for scripts. Column names follow the esxcli output in the fact sheet (§4).

use std::fmt::Write as _;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::host::{HostModel, Ipv4Mode, Netstack, RouteSource, ServiceState, Vmk};
use super::types::IpNetwork;

/// How esxcli lays a view out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Columns with a dashed rule under the header (`esxcli ... ipv4 get`, `route ipv4 list`).
    Table,
    /// One block per row, titled by its first column (`esxcli network ip interface list`).
    Blocks,
}

/// A rendered view: column names and rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// Text layout.
    pub layout: Layout,
    /// Column names.
    pub columns: Vec<&'static str>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<String>>,
}

/// The views `vmknet show` offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewKind {
    /// `esxcli network ip netstack list`.
    Netstacks,
    /// `esxcli network ip interface list`.
    Interfaces,
    /// `esxcli network ip interface ipv4 get`.
    Ipv4,
    /// `esxcli network ip interface ipv6 address list`.
    Ipv6,
    /// `esxcli network ip route ipv4 list` and `ipv6 list`, for every stack.
    Routes,
    /// `esxcli network ip interface tag get`, for every adapter.
    Tags,
    /// The effective services of each adapter, with the reason a tagged service is not in force.
    Services,
}

/// esxcli prints this state for a running netstack instance.
const NETSTACK_STATE_RUNNING: &str = "4660";

impl HostModel {
    /// Renders view `kind`, restricted to one netstack when `netstack` is given.
    pub fn view(&self, kind: ViewKind, netstack: Option<&str>) -> View {
        match kind {
            ViewKind::Netstacks => self.netstacks_view(netstack),
            ViewKind::Interfaces => self.interfaces_view(netstack),
            ViewKind::Ipv4 => self.ipv4_view(netstack),
            ViewKind::Ipv6 => self.ipv6_view(netstack),
            ViewKind::Routes => self.routes_view(netstack),
            ViewKind::Tags => self.tags_view(netstack),
            ViewKind::Services => self.services_view(netstack),
        }
    }

    /// The netstacks a view shows: all, or the one `scope` names (as esxcli's `-N`).
    fn netstacks_in<'a>(&'a self, scope: Option<&'a str>) -> impl Iterator<Item = &'a Netstack> + 'a {
        self.netstacks
            .iter()
            .filter(move |n| scope.is_none_or(|key| n.key.as_str() == key))
    }

    /// The adapters of the netstacks in `scope`.
    fn vmks_in<'a>(&'a self, scope: Option<&'a str>) -> impl Iterator<Item = &'a Vmk> + 'a {
        self.vmks
            .iter()
            .filter(move |v| scope.is_none_or(|key| self.netstack_of(v).key.as_str() == key))
    }

    fn netstacks_view(&self, scope: Option<&str>) -> View {
        let rows = self
            .netstacks_in(scope)
            .map(|n| {
                let adapters: Vec<&str> = self.vmks_of(n).map(|v| v.name.as_str()).collect();
                vec![
                    n.key.to_string(),
                    n.key.to_string(),
                    n.name.clone(),
                    NETSTACK_STATE_RUNNING.to_owned(),
                    or_none(n.ipv4_gateway.map(|g| g.to_string())),
                    or_none(n.ipv6_gateway.map(|g| g.to_string())),
                    join_or_none(n.dns.iter().map(IpAddr::to_string)),
                    n.congestion_control.to_string(),
                    n.max_connections.to_string(),
                    join_or_none(adapters.into_iter().map(str::to_owned)),
                ]
            })
            .collect();
        View {
            layout: Layout::Blocks,
            columns: vec![
                "Netstack",
                "Key",
                "Name",
                "State",
                "IPv4 Default Gateway",
                "IPv6 Default Gateway",
                "DNS Servers",
                "Congestion Control Algorithm",
                "Max Connections",
                "VMkernel Adapters",
            ],
            rows,
        }
    }

    fn interfaces_view(&self, scope: Option<&str>) -> View {
        let rows = self
            .vmks_in(scope)
            .map(|v| {
                vec![
                    v.name.clone(),
                    v.name.clone(),
                    v.mac.to_string(),
                    v.enabled.to_string(),
                    v.portgroup.clone(),
                    self.netstack_of(v).key.to_string(),
                    v.vlan.to_string(),
                    v.mtu.to_string(),
                    // TSO MSS as ESXi reports it for adapters created with TSO enabled.
                    "65535".to_owned(),
                ]
            })
            .collect();
        View {
            layout: Layout::Blocks,
            columns: vec![
                "Interface",
                "Name",
                "MAC Address",
                "Enabled",
                "Portgroup",
                "Netstack Instance",
                "VLAN ID",
                "MTU",
                "TSO MSS",
            ],
            rows,
        }
    }

    fn ipv4_view(&self, scope: Option<&str>) -> View {
        let rows = self
            .vmks_in(scope)
            .map(|v| {
                let (address, netmask, broadcast, kind) = match v.ipv4 {
                    Ipv4Mode::Static(c) => (
                        c.addr.to_string(),
                        c.netmask().to_string(),
                        c.broadcast().to_string(),
                        "STATIC",
                    ),
                    Ipv4Mode::Dhcp => (UNSET_V4.into(), UNSET_V4.into(), UNSET_V4.into(), "DHCP"),
                    Ipv4Mode::None => (UNSET_V4.into(), UNSET_V4.into(), UNSET_V4.into(), "NONE"),
                };
                let gateway = v.ipv4_gateway.map_or_else(|| UNSET_V4.to_owned(), |g| g.to_string());
                let dhcp_dns = (v.ipv4 == Ipv4Mode::Dhcp).to_string();
                vec![
                    v.name.clone(),
                    address,
                    netmask,
                    broadcast,
                    kind.to_owned(),
                    gateway,
                    dhcp_dns,
                ]
            })
            .collect();
        View {
            layout: Layout::Table,
            columns: vec![
                "Name",
                "IPv4 Address",
                "IPv4 Netmask",
                "IPv4 Broadcast",
                "Address Type",
                "Gateway",
                "DHCP DNS",
            ],
            rows,
        }
    }

    fn ipv6_view(&self, scope: Option<&str>) -> View {
        let mut rows = Vec::new();
        for v in self.vmks_in(scope) {
            for c in &v.ipv6.addresses {
                rows.push(vec![
                    v.name.clone(),
                    c.addr.to_string(),
                    c.prefix_len.to_string(),
                    "STATIC".to_owned(),
                    "PREFERRED".to_owned(),
                ]);
            }
        }
        View {
            layout: Layout::Table,
            columns: vec!["Interface", "Address", "Netmask", "Type", "Status"],
            rows,
        }
    }

    fn routes_view(&self, scope: Option<&str>) -> View {
        let mut rows = Vec::new();
        for n in self.netstacks_in(scope) {
            for r in self.route_entries(n) {
                let (network, netmask, unset) = match r.network {
                    IpNetwork::V4(c) if c.prefix_len == 0 => ("default".to_owned(), c.netmask().to_string(), UNSET_V4),
                    IpNetwork::V4(c) => (c.addr.to_string(), c.netmask().to_string(), UNSET_V4),
                    IpNetwork::V6(c) if c.prefix_len == 0 => ("default".to_owned(), "0".to_owned(), "::"),
                    IpNetwork::V6(c) => (c.addr.to_string(), c.prefix_len.to_string(), "::"),
                };
                rows.push(vec![
                    n.key.to_string(),
                    network,
                    netmask,
                    r.gateway.map_or_else(|| unset.to_owned(), |g| g.to_string()),
                    or_none(r.interface.map(|id| self.vmks[id.index()].name.clone())),
                    match r.source {
                        RouteSource::Manual => "MANUAL",
                        RouteSource::Local => "LOCAL",
                    }
                    .to_owned(),
                ]);
            }
        }
        View {
            layout: Layout::Table,
            columns: vec!["Netstack", "Network", "Netmask", "Gateway", "Interface", "Source"],
            rows,
        }
    }

    fn tags_view(&self, scope: Option<&str>) -> View {
        let rows = self
            .vmks_in(scope)
            .map(|v| {
                vec![
                    v.name.clone(),
                    join_or_none(v.services.iter().map(|s| s.tag.to_string())),
                ]
            })
            .collect();
        View {
            layout: Layout::Table,
            columns: vec!["Interface", "Tags"],
            rows,
        }
    }

    fn services_view(&self, scope: Option<&str>) -> View {
        let mut rows = Vec::new();
        for v in self.vmks_in(scope) {
            let stack = self.netstack_of(v).key.to_string();
            for s in &v.services {
                let state = match &s.state {
                    ServiceState::Enabled => "enabled".to_owned(),
                    ServiceState::MovedTo(key) => format!("disabled: moved to the {key} stack"),
                };
                rows.push(vec![
                    v.name.clone(),
                    stack.clone(),
                    s.tag.to_string(),
                    s.tag.nic_type().to_owned(),
                    state,
                ]);
            }
            if self.carries_ip_storage(v) {
                rows.push(vec![
                    v.name.clone(),
                    stack.clone(),
                    "(IP storage)".to_owned(),
                    "iSCSI, NFS, NVMe/TCP".to_owned(),
                    "enabled: no tag needed".to_owned(),
                ]);
            }
        }
        View {
            layout: Layout::Table,
            columns: vec!["Interface", "Netstack", "Service", "NIC Type", "State"],
            rows,
        }
    }
}

const UNSET_V4: &str = "0.0.0.0";

fn or_none(value: Option<String>) -> String {
    value.unwrap_or_else(|| "-".to_owned())
}

fn join_or_none(values: impl Iterator<Item = String>) -> String {
    let joined = values.collect::<Vec<_>>().join(", ");
    if joined.is_empty() { "-".to_owned() } else { joined }
}

impl View {
    /// Renders as esxcli prints it.
    pub fn to_text(&self) -> String {
        match self.layout {
            Layout::Table => self.table_text(),
            Layout::Blocks => self.blocks_text(),
        }
    }

    fn table_text(&self) -> String {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| self.rows.iter().map(|r| r[i].chars().count()).fold(c.len(), usize::max))
            .collect();
        let mut out = String::new();
        let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
            let padded: Vec<String> = cells.zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            out.push_str(padded.join("  ").trim_end());
            out.push('\n');
        };
        line(&mut out, &mut self.columns.iter().copied());
        let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        line(&mut out, &mut rules.iter().map(String::as_str));
        for row in &self.rows {
            line(&mut out, &mut row.iter().map(String::as_str));
        }
        out
    }

    fn blocks_text(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            let _ = writeln!(out, "{}", row[0]);
            for (column, value) in self.columns.iter().zip(row).skip(1) {
                let _ = writeln!(out, "   {column}: {value}");
            }
            out.push('\n');
        }
        out
    }

    /// Renders as a JSON array of objects keyed by column name.
    pub fn to_json(&self) -> Value {
        let skip = usize::from(self.layout == Layout::Blocks);
        Value::Array(
            self.rows
                .iter()
                .map(|row| {
                    let object: Map<String, Value> = self
                        .columns
                        .iter()
                        .zip(row)
                        .skip(skip)
                        .map(|(c, v)| ((*c).to_owned(), Value::String(v.clone())))
                        .collect();
                    Value::Object(object)
                })
                .collect(),
        )
    }
}
