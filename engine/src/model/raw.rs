//! The host file as written: TOML tables with the position of every value.
//!
//! Values stay strings and plain integers here so that checking them (in `build`) can say where each one is
//! and what exactly is wrong with it; serde only checks the shape (unknown fields are refused).

use serde::Deserialize;
use toml::Spanned;

/// A whole host file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    pub host: RawHostInfo,
    #[serde(default, rename = "netstack")]
    pub netstacks: Vec<RawNetstack>,
    #[serde(default, rename = "vmk")]
    pub vmks: Vec<RawVmk>,
    #[serde(default, rename = "route")]
    pub routes: Vec<RawRoute>,
}

/// `[host]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHostInfo {
    pub name: Spanned<String>,
    pub uplinks: Spanned<Vec<Spanned<String>>>,
}

/// `[[netstack]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNetstack {
    pub key: Spanned<String>,
    pub name: Option<Spanned<String>>,
    pub ipv4_gateway: Option<Spanned<String>>,
    pub ipv6_gateway: Option<Spanned<String>>,
    #[serde(default)]
    pub dns: Vec<Spanned<String>>,
    pub congestion_control: Option<Spanned<crate::model::CongestionControl>>,
    pub max_connections: Option<Spanned<i64>>,
}

/// `[[vmk]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVmk {
    pub name: Spanned<String>,
    pub netstack: Option<Spanned<String>>,
    pub portgroup: Option<Spanned<String>>,
    pub mac: Spanned<String>,
    #[serde(default)]
    pub vlan: Option<Spanned<i64>>,
    pub mtu: Option<Spanned<i64>>,
    /// `"dhcp"`, `"none"` or `address/prefix`.
    pub ipv4: Option<Spanned<String>>,
    #[serde(default)]
    pub ipv6: Vec<Spanned<String>>,
    #[serde(default)]
    pub ipv6_dhcp: bool,
    pub ipv6_router_advertisement: Option<bool>,
    pub ipv4_gateway: Option<Spanned<String>>,
    pub ipv6_gateway: Option<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
    pub enabled: Option<bool>,
}

/// `[[route]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub netstack: Option<Spanned<String>>,
    pub network: Spanned<String>,
    pub gateway: Spanned<String>,
    pub interface: Option<Spanned<String>>,
}
