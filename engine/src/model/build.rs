//! Checking a host file against the VMkernel rules and building the [`HostModel`] from it.
//!
//! Every value is checked and every problem collected before deciding: an operator fixing a file should see
//! all of its errors at once. Checks that depend on earlier values (a gateway inside a subnet, say) skip
//! values that already failed, so one mistake is reported once.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use toml::Spanned;

use super::diag::{Diagnostic, Diagnostics, Severity, SourceMap};
use super::host::{
    HostModel, Ipv4Mode, Ipv6Setup, Netstack, NetstackId, ServiceState, StaticRoute, TaggedService, Vmk, VmkId,
};
use super::raw::{RawHost, RawNetstack, RawRoute, RawVmk};
use super::rules::Rule;
use super::types::{IpNetwork, Ipv4Cidr, Ipv6Cidr, MacAddr, NetstackKey, ServiceTag};

/// Default MTU of a vmk (fact sheet §2.1).
pub const DEFAULT_MTU: u16 = 1500;
/// Smallest vmk MTU accepted (IPv6 minimum link MTU).
pub const MIN_MTU: u16 = 1280;
/// Largest vmk MTU ESXi accepts.
pub const MAX_MTU: u16 = 9000;
/// Default `requestedMaxNumberOfConnections`.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 11000;

/// Parses and checks `text` (named `file` in diagnostics).
///
/// # Errors
/// Every error found, with the warnings, when any rule is broken.
pub(crate) fn build(file: &str, text: &str) -> Result<HostModel, Diagnostics> {
    let map = SourceMap::new(file, text);
    let raw: RawHost = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            return Err(Diagnostics(vec![Diagnostic {
                severity: Severity::Error,
                location: map.locate(span.start),
                field: "(file)".to_owned(),
                value: text.get(span).unwrap_or_default().trim().chars().take(40).collect(),
                rule: Rule::Syntax,
                message: err.message().to_owned(),
            }]));
        }
    };
    let mut builder = Builder {
        map,
        diagnostics: Diagnostics::default(),
    };
    let model = builder.host(raw);
    builder.diagnostics.sort();
    if builder.diagnostics.has_errors() {
        Err(builder.diagnostics)
    } else {
        let mut model = model;
        model.warnings = builder.diagnostics;
        Ok(model)
    }
}

struct Builder<'a> {
    map: SourceMap<'a>,
    diagnostics: Diagnostics,
}

/// A netstack being built, with the positions its later checks report at.
struct NetstackDraft {
    netstack: Netstack,
    ipv4_gateway_at: Option<Range<usize>>,
    ipv6_gateway_at: Option<Range<usize>>,
}

impl Builder<'_> {
    fn report(
        &mut self,
        severity: Severity,
        span: Range<usize>,
        field: String,
        value: &str,
        rule: Rule,
        message: String,
    ) {
        self.diagnostics.0.push(Diagnostic {
            severity,
            location: self.map.locate(span.start),
            field,
            value: value.to_owned(),
            rule,
            message,
        });
    }

    fn error(&mut self, span: Range<usize>, field: String, value: &str, rule: Rule, message: impl Into<String>) {
        self.report(Severity::Error, span, field, value, rule, message.into());
    }

    fn warn(&mut self, span: Range<usize>, field: String, value: &str, rule: Rule, message: impl Into<String>) {
        self.report(Severity::Warning, span, field, value, rule, message.into());
    }

    fn host(&mut self, raw: RawHost) -> HostModel {
        if raw.host.uplinks.get_ref().is_empty() {
            self.error(
                raw.host.uplinks.span(),
                "host.uplinks".into(),
                "[]",
                Rule::UplinkRequired,
                "no uplink given",
            );
        }
        let uplinks = raw
            .host
            .uplinks
            .into_inner()
            .into_iter()
            .map(Spanned::into_inner)
            .collect();
        let mut drafts = self.netstacks(raw.netstacks);
        let stack_ids: HashMap<String, NetstackId> = drafts
            .iter()
            .map(|d| (d.netstack.key.as_str().to_owned(), d.netstack.id))
            .collect();
        let mut vmks = Vec::new();
        let mut vmk_spans = Vec::new();
        for raw_vmk in raw.vmks {
            let span = raw_vmk.name.span();
            if let Some(vmk) = self.vmk(raw_vmk, VmkId(vmks.len() as u32), &stack_ids) {
                drafts[vmk.netstack.index()].netstack.vmks.push(vmk.id);
                vmks.push(vmk);
                vmk_spans.push(span);
            }
        }
        self.unique_vmks(&vmks, &vmk_spans);
        self.stack_gateways(&drafts, &vmks);
        self.single_ft_logging(&vmks, &vmk_spans);
        let routes = self.routes(raw.routes, &stack_ids, &vmks);
        let netstacks: Vec<Netstack> = drafts.into_iter().map(|d| d.netstack).collect();
        self.effective_services(&netstacks, &mut vmks, &vmk_spans);
        self.advice(&netstacks, &vmks, &vmk_spans);
        HostModel {
            name: raw.host.name.into_inner(),
            uplinks,
            netstacks,
            vmks,
            routes,
            warnings: Diagnostics::default(),
        }
    }

    /// The three system stacks always exist (ESXi 6.0+ creates them); the file configures them and adds custom
    /// stacks.
    fn netstacks(&mut self, raws: Vec<RawNetstack>) -> Vec<NetstackDraft> {
        let mut drafts: Vec<NetstackDraft> = [NetstackKey::Default, NetstackKey::Vmotion, NetstackKey::Provisioning]
            .into_iter()
            .enumerate()
            .map(|(i, key)| NetstackDraft {
                netstack: empty_netstack(NetstackId(i as u32), key),
                ipv4_gateway_at: None,
                ipv6_gateway_at: None,
            })
            .collect();
        let mut configured = HashSet::new();
        for raw in raws {
            let key_text = raw.key.get_ref().clone();
            let field = format!("netstack[{key_text}]");
            if !configured.insert(key_text.clone()) {
                self.error(
                    raw.key.span(),
                    format!("{field}.key"),
                    &key_text,
                    Rule::NetstackUnique,
                    "stack defined twice",
                );
                continue;
            }
            let key = NetstackKey::from_key(&key_text);
            if !key.is_system() && !is_stack_name(&key_text) {
                self.error(
                    raw.key.span(),
                    format!("{field}.key"),
                    &key_text,
                    Rule::NetstackName,
                    "not a valid stack name",
                );
                continue;
            }
            let index = match drafts.iter().position(|d| d.netstack.key == key) {
                Some(i) => i,
                None => {
                    drafts.push(NetstackDraft {
                        netstack: empty_netstack(NetstackId(drafts.len() as u32), key.clone()),
                        ipv4_gateway_at: None,
                        ipv6_gateway_at: None,
                    });
                    drafts.len() - 1
                }
            };
            let draft = &mut drafts[index];
            if let Some(name) = raw.name {
                if key.is_system() && name.get_ref() != key.as_str() {
                    self.error(
                        name.span(),
                        format!("{field}.name"),
                        name.get_ref(),
                        Rule::NetstackName,
                        "only custom stacks can be renamed (fact sheet §1.2)",
                    );
                } else {
                    draft.netstack.name = name.into_inner();
                }
            }
            if let Some(gw) = raw.ipv4_gateway {
                draft.netstack.ipv4_gateway = self.parse_addr(&gw, format!("{field}.ipv4_gateway"));
                draft.ipv4_gateway_at = Some(gw.span());
            }
            if let Some(gw) = raw.ipv6_gateway {
                draft.netstack.ipv6_gateway = self.parse_addr(&gw, format!("{field}.ipv6_gateway"));
                draft.ipv6_gateway_at = Some(gw.span());
            }
            let dns_field = format!("{field}.dns");
            draft.netstack.dns = raw
                .dns
                .iter()
                .filter_map(|d| self.parse_addr::<IpAddr>(d, dns_field.clone()))
                .collect();
            if let Some(cc) = raw.congestion_control {
                draft.netstack.congestion_control = cc.into_inner();
            }
            if let Some(max) = raw.max_connections {
                match u32::try_from(*max.get_ref()) {
                    Ok(n) if n > 0 => draft.netstack.max_connections = n,
                    _ => self.error(
                        max.span(),
                        format!("{field}.max_connections"),
                        &max.get_ref().to_string(),
                        Rule::MaxConnections,
                        "must be a positive integer",
                    ),
                }
            }
        }
        drafts
    }

    fn vmk(&mut self, raw: RawVmk, id: VmkId, stacks: &HashMap<String, NetstackId>) -> Option<Vmk> {
        let name = raw.name.get_ref().clone();
        let field = |f: &str| format!("vmk[{name}].{f}");
        let mut ok = true;
        if !is_vmk_name(&name) {
            self.error(
                raw.name.span(),
                field("name"),
                &name,
                Rule::VmkName,
                "adapter names are vmk followed by a number",
            );
            ok = false;
        }
        let netstack = match &raw.netstack {
            None => Some(NetstackId(0)),
            Some(s) => {
                let found = stacks.get(s.get_ref()).copied();
                if found.is_none() {
                    let known: Vec<&str> = stacks
                        .keys()
                        .map(String::as_str)
                        .collect::<std::collections::BTreeSet<_>>()
                        .into_iter()
                        .collect();
                    self.error(
                        s.span(),
                        field("netstack"),
                        s.get_ref(),
                        Rule::NetstackExists,
                        format!("no such TCP/IP stack (known: {})", known.join(", ")),
                    );
                }
                found
            }
        };
        let mac = self.mac(&raw.mac, field("mac"));
        let vlan = match &raw.vlan {
            None => Some(0),
            Some(v) => match u16::try_from(*v.get_ref()) {
                Ok(vlan) if vlan <= 4094 => Some(vlan),
                _ => {
                    let hint = if *v.get_ref() == 4095 {
                        "4095 means virtual guest tagging (a trunk to a VM), never a VMkernel adapter's VLAN"
                    } else {
                        "VLAN ids are 0 (untagged) to 4094"
                    };
                    self.error(v.span(), field("vlan"), &v.get_ref().to_string(), Rule::VlanRange, hint);
                    None
                }
            },
        };
        let mtu = match &raw.mtu {
            None => Some(DEFAULT_MTU),
            Some(m) => match u16::try_from(*m.get_ref()) {
                Ok(mtu) if (MIN_MTU..=MAX_MTU).contains(&mtu) => Some(mtu),
                _ => {
                    self.error(
                        m.span(),
                        field("mtu"),
                        &m.get_ref().to_string(),
                        Rule::MtuRange,
                        format!("MTU must be between {MIN_MTU} and {MAX_MTU}"),
                    );
                    None
                }
            },
        };
        let ipv4 = match &raw.ipv4 {
            None => Some(Ipv4Mode::None),
            Some(s) => match s.get_ref().as_str() {
                "dhcp" => Some(Ipv4Mode::Dhcp),
                "none" => Some(Ipv4Mode::None),
                _ => self.host_cidr_v4(s, field("ipv4")).map(Ipv4Mode::Static),
            },
        };
        let ipv6: Vec<Ipv6Cidr> = raw
            .ipv6
            .iter()
            .filter_map(|s| self.host_cidr_v6(s, field("ipv6")))
            .collect();
        let ipv6_ok = ipv6.len() == raw.ipv6.len();
        let ipv4_gateway = raw.ipv4_gateway.as_ref().and_then(|g| {
            let gw: Ipv4Addr = self.parse_addr(g, field("ipv4_gateway"))?;
            if let Some(Ipv4Mode::Static(cidr)) = ipv4
                && !cidr.contains(gw)
            {
                self.error(
                    g.span(),
                    field("ipv4_gateway"),
                    g.get_ref(),
                    Rule::GatewayInSubnet,
                    format!(
                        "override gateway is outside the adapter's subnet {}/{}",
                        cidr.network(),
                        cidr.prefix_len
                    ),
                );
            }
            Some(gw)
        });
        let ipv6_gateway = raw.ipv6_gateway.as_ref().and_then(|g| {
            let gw: Ipv6Addr = self.parse_addr(g, field("ipv6_gateway"))?;
            let link_local = gw.segments()[0] & 0xffc0 == 0xfe80;
            if !link_local && !ipv6.is_empty() && !ipv6.iter().any(|c| c.contains(gw)) {
                self.error(
                    g.span(),
                    field("ipv6_gateway"),
                    g.get_ref(),
                    Rule::GatewayInSubnet,
                    "override gateway is outside the adapter's IPv6 prefixes (and not link-local)",
                );
            }
            Some(gw)
        });
        let tags = self.tags(&raw, netstack, stacks);
        let (Some(netstack), Some(mac), Some(vlan), Some(mtu), Some(ipv4), Some(tags), true, true) =
            (netstack, mac, vlan, mtu, ipv4, tags, ok, ipv6_ok)
        else {
            return None;
        };
        Some(Vmk {
            id,
            name: name.clone(),
            netstack,
            portgroup: raw
                .portgroup
                .map_or_else(|| format!("{name} portgroup"), Spanned::into_inner),
            mac,
            vlan,
            mtu,
            ipv4,
            ipv6: Ipv6Setup {
                addresses: ipv6,
                dhcpv6: raw.ipv6_dhcp,
                router_advertisement: raw.ipv6_router_advertisement.unwrap_or(true),
            },
            ipv4_gateway,
            ipv6_gateway,
            services: tags
                .into_iter()
                .map(|tag| TaggedService {
                    tag,
                    state: ServiceState::Enabled,
                })
                .collect(),
            enabled: raw.enabled.unwrap_or(true),
            defined_at: self.map.locate(raw.name.span().start),
        })
    }

    /// Tags: spelling, and which stack may carry which service (fact sheet §1.3 rule 4).
    fn tags(
        &mut self,
        raw: &RawVmk,
        netstack: Option<NetstackId>,
        stacks: &HashMap<String, NetstackId>,
    ) -> Option<Vec<ServiceTag>> {
        let name = raw.name.get_ref();
        let field = format!("vmk[{name}].tags");
        let stack_key = netstack
            .and_then(|id| stacks.iter().find(|(_, v)| **v == id))
            .map(|(k, _)| NetstackKey::from_key(k));
        let mut tags = Vec::new();
        let mut ok = true;
        for spanned in &raw.tags {
            let text = spanned.get_ref();
            let Some(tag) = ServiceTag::from_esxcli(text) else {
                let hint = match ServiceTag::case_insensitive_match(text) {
                    Some(t) => format!("unknown service tag; did you mean `{t}`? (tags are case-sensitive)"),
                    None => {
                        let all: Vec<_> = ServiceTag::ALL.iter().map(|t| t.esxcli_name()).collect();
                        format!("unknown service tag (one of {})", all.join(", "))
                    }
                };
                self.error(spanned.span(), field.clone(), text, Rule::TagKnown, hint);
                ok = false;
                continue;
            };
            if tags.contains(&tag) {
                self.warn(spanned.span(), field.clone(), text, Rule::TagKnown, "tag listed twice");
                continue;
            }
            let violation = match &stack_key {
                Some(NetstackKey::Vmotion) if tag != ServiceTag::Vmotion => Some(Rule::VmotionStackOnlyVmotion),
                Some(NetstackKey::Provisioning) if tag != ServiceTag::VsphereProvisioning => {
                    Some(Rule::ProvisioningStackOnlyProvisioning)
                }
                Some(NetstackKey::Custom(_)) if !allowed_on_custom_stack(tag) => Some(Rule::DefaultStackOnly),
                _ => None,
            };
            if let Some(rule) = violation {
                let stack = stack_key.as_ref().map(NetstackKey::as_str).unwrap_or_default();
                self.error(
                    spanned.span(),
                    field.clone(),
                    text,
                    rule,
                    format!("`{tag}` cannot be enabled on an adapter of stack `{stack}`"),
                );
                ok = false;
            }
            tags.push(tag);
        }
        ok.then_some(tags)
    }

    fn unique_vmks(&mut self, vmks: &[Vmk], spans: &[Range<usize>]) {
        let mut names: HashMap<&str, &Vmk> = HashMap::new();
        let mut macs: HashMap<MacAddr, &Vmk> = HashMap::new();
        let mut addresses: HashMap<(NetstackId, IpAddr), &Vmk> = HashMap::new();
        for (vmk, span) in vmks.iter().zip(spans) {
            if let Some(first) = names.insert(&vmk.name, vmk) {
                let msg = format!("{} is already defined at line {}", first.name, first.defined_at.line);
                self.error(
                    span.clone(),
                    format!("vmk[{}].name", vmk.name),
                    &vmk.name,
                    Rule::VmkUnique,
                    msg,
                );
            }
            if let Some(first) = macs.insert(vmk.mac, vmk) {
                let msg = format!("MAC already used by {}", first.name);
                self.error(
                    span.clone(),
                    format!("vmk[{}].mac", vmk.name),
                    &vmk.mac.to_string(),
                    Rule::MacUnique,
                    msg,
                );
            }
            let ips = vmk
                .ipv4_cidr()
                .map(|c| IpAddr::V4(c.addr))
                .into_iter()
                .chain(vmk.ipv6.addresses.iter().map(|c| IpAddr::V6(c.addr)));
            for ip in ips {
                if let Some(first) = addresses.insert((vmk.netstack, ip), vmk) {
                    let field = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
                    let msg = format!("address already used by {} on the same TCP/IP stack", first.name);
                    self.error(
                        span.clone(),
                        format!("vmk[{}].{field}", vmk.name),
                        &ip.to_string(),
                        Rule::AddressUniqueInNetstack,
                        msg,
                    );
                }
            }
        }
    }

    /// A stack's default gateway must be reachable through one of its adapters' subnets. Stacks whose adapters
    /// take their address from DHCP (or SLAAC) cannot be checked and are accepted.
    fn stack_gateways(&mut self, drafts: &[NetstackDraft], vmks: &[Vmk]) {
        for draft in drafts {
            let stack = &draft.netstack;
            let on_stack = || vmks.iter().filter(|v| v.netstack == stack.id);
            if let (Some(gw), Some(span)) = (stack.ipv4_gateway, &draft.ipv4_gateway_at) {
                let dynamic = on_stack().any(|v| v.ipv4 == Ipv4Mode::Dhcp);
                if !dynamic && !on_stack().filter_map(Vmk::ipv4_cidr).any(|c| c.contains(gw)) {
                    self.error(
                        span.clone(),
                        format!("netstack[{}].ipv4_gateway", stack.key),
                        &gw.to_string(),
                        Rule::GatewayInSubnet,
                        "no adapter of this stack has a subnet containing the gateway",
                    );
                }
            }
            if let (Some(gw), Some(span)) = (stack.ipv6_gateway, &draft.ipv6_gateway_at) {
                let link_local = gw.segments()[0] & 0xffc0 == 0xfe80;
                let dynamic =
                    on_stack().any(|v| v.ipv6.dhcpv6 || v.ipv6.router_advertisement && v.ipv6.addresses.is_empty());
                if !link_local && !dynamic && !on_stack().flat_map(|v| &v.ipv6.addresses).any(|c| c.contains(gw)) {
                    self.error(
                        span.clone(),
                        format!("netstack[{}].ipv6_gateway", stack.key),
                        &gw.to_string(),
                        Rule::GatewayInSubnet,
                        "no adapter of this stack has an IPv6 prefix containing the gateway",
                    );
                }
            }
        }
    }

    fn single_ft_logging(&mut self, vmks: &[Vmk], spans: &[Range<usize>]) {
        let mut first: Option<&Vmk> = None;
        for (vmk, span) in vmks.iter().zip(spans) {
            if !vmk.is_tagged(ServiceTag::FaultToleranceLogging) {
                continue;
            }
            match first {
                None => first = Some(vmk),
                Some(f) => {
                    let msg = format!("{} already carries FT logging", f.name);
                    self.error(
                        span.clone(),
                        format!("vmk[{}].tags", vmk.name),
                        "faultToleranceLogging",
                        Rule::SingleFtLogging,
                        msg,
                    );
                }
            }
        }
    }

    fn routes(&mut self, raws: Vec<RawRoute>, stacks: &HashMap<String, NetstackId>, vmks: &[Vmk]) -> Vec<StaticRoute> {
        let mut routes = Vec::new();
        for (i, raw) in raws.into_iter().enumerate() {
            let field = |f: &str| format!("route[{i}].{f}");
            let netstack = match &raw.netstack {
                None => Some(NetstackId(0)),
                Some(s) => {
                    let found = stacks.get(s.get_ref()).copied();
                    if found.is_none() {
                        self.error(
                            s.span(),
                            field("netstack"),
                            s.get_ref(),
                            Rule::NetstackExists,
                            "no such TCP/IP stack",
                        );
                    }
                    found
                }
            };
            let network = match raw.network.get_ref().as_str() {
                "default" => Some(IpNetwork::V4(Ipv4Cidr {
                    addr: Ipv4Addr::UNSPECIFIED,
                    prefix_len: 0,
                })),
                text => match text.parse::<IpNetwork>() {
                    Ok(net) => Some(canonical_network(net)),
                    Err(_) => {
                        self.error(
                            raw.network.span(),
                            field("network"),
                            text,
                            Rule::AddressSyntax,
                            "not a network/prefix-length (or `default`)",
                        );
                        None
                    }
                },
            };
            let gateway: Option<IpAddr> = self.parse_addr(&raw.gateway, field("gateway"));
            let interface = raw.interface.as_ref().and_then(|s| {
                let found = vmks.iter().find(|v| &v.name == s.get_ref());
                match found {
                    Some(v) if Some(v.netstack) == netstack => Some(v.id),
                    Some(_) => {
                        self.error(
                            s.span(),
                            field("interface"),
                            s.get_ref(),
                            Rule::RouteGateway,
                            "adapter is on another TCP/IP stack",
                        );
                        None
                    }
                    None => {
                        self.error(
                            s.span(),
                            field("interface"),
                            s.get_ref(),
                            Rule::NetstackExists,
                            "no such adapter",
                        );
                        None
                    }
                }
            });
            let (Some(netstack), Some(network), Some(gateway)) = (netstack, network, gateway) else {
                continue;
            };
            if !network.same_family(gateway) {
                self.error(
                    raw.gateway.span(),
                    field("gateway"),
                    raw.gateway.get_ref(),
                    Rule::RouteGateway,
                    "gateway and network are of different address families",
                );
                continue;
            }
            let reachable = vmks.iter().filter(|v| v.netstack == netstack).any(|v| match gateway {
                IpAddr::V4(gw) => v.ipv4 == Ipv4Mode::Dhcp || v.ipv4_cidr().is_some_and(|c| c.contains(gw)),
                IpAddr::V6(gw) => {
                    gw.segments()[0] & 0xffc0 == 0xfe80 || v.ipv6.addresses.iter().any(|c| c.contains(gw))
                }
            });
            if !reachable {
                self.error(
                    raw.gateway.span(),
                    field("gateway"),
                    raw.gateway.get_ref(),
                    Rule::RouteGateway,
                    "no adapter of the route's stack has a subnet containing the gateway",
                );
                continue;
            }
            routes.push(StaticRoute {
                netstack,
                network,
                gateway,
                interface,
            });
        }
        routes
    }

    /// Once the vmotion (provisioning) stack has an adapter, default-stack adapters lose that service.
    fn effective_services(&mut self, netstacks: &[Netstack], vmks: &mut [Vmk], spans: &[Range<usize>]) {
        let moved: Vec<(ServiceTag, NetstackKey)> = [
            (ServiceTag::Vmotion, NetstackKey::Vmotion),
            (ServiceTag::VsphereProvisioning, NetstackKey::Provisioning),
        ]
        .into_iter()
        .filter(|(_, key)| netstacks.iter().any(|n| &n.key == key && !n.vmks.is_empty()))
        .collect();
        for (vmk, span) in vmks.iter_mut().zip(spans) {
            if netstacks[vmk.netstack.index()].key != NetstackKey::Default {
                continue;
            }
            for service in &mut vmk.services {
                if let Some((tag, key)) = moved.iter().find(|(tag, _)| *tag == service.tag) {
                    service.state = ServiceState::MovedTo(key.clone());
                    let msg = format!(
                        "{} is disabled for {tag} on this adapter: the `{key}` stack has adapters",
                        vmk.name
                    );
                    self.warn(
                        span.clone(),
                        format!("vmk[{}].tags", vmk.name),
                        tag.esxcli_name(),
                        Rule::ServiceMovedToOwnStack,
                        msg,
                    );
                }
            }
        }
    }

    fn advice(&mut self, netstacks: &[Netstack], vmks: &[Vmk], spans: &[Range<usize>]) {
        for (vmk, span) in vmks.iter().zip(spans) {
            if traffic_types(vmk) > 1 {
                let tags: Vec<_> = vmk.services.iter().map(|s| s.tag.esxcli_name()).collect();
                self.warn(
                    span.clone(),
                    format!("vmk[{}].tags", vmk.name),
                    &tags.join(","),
                    Rule::OneServicePerAdapter,
                    "several traffic types share one adapter",
                );
            }
        }
        let gateway_of = |key: NetstackKey| netstacks.iter().find(|n| n.key == key).and_then(|n| n.ipv4_gateway);
        if let (Some(vmotion), Some(default)) = (gateway_of(NetstackKey::Vmotion), gateway_of(NetstackKey::Default))
            && vmotion == default
        {
            let span = self.vmotion_stack_span(netstacks, vmks, spans);
            self.warn(
                span,
                "netstack[vmotion].ipv4_gateway".into(),
                &vmotion.to_string(),
                Rule::VmotionOwnGateway,
                "the vMotion stack uses the default stack's gateway",
            );
        }
        let vsan: Vec<(&Vmk, &Range<usize>)> = vmks
            .iter()
            .zip(spans)
            .filter(|(v, _)| v.is_tagged(ServiceTag::Vsan))
            .collect();
        let mtus: BTreeMap<u16, &str> = vsan.iter().map(|(v, _)| (v.mtu, v.name.as_str())).collect();
        if mtus.len() > 1
            && let Some((vmk, span)) = vsan.last()
        {
            let list: Vec<String> = mtus.iter().map(|(mtu, name)| format!("{name}={mtu}")).collect();
            self.warn(
                (*span).clone(),
                format!("vmk[{}].mtu", vmk.name),
                &vmk.mtu.to_string(),
                Rule::VsanUniformMtu,
                format!("vSAN adapters have different MTUs ({})", list.join(", ")),
            );
        }
    }

    /// Where to report a vMotion-stack finding: its first adapter, or the start of the file.
    fn vmotion_stack_span(&self, netstacks: &[Netstack], vmks: &[Vmk], spans: &[Range<usize>]) -> Range<usize> {
        netstacks
            .iter()
            .find(|n| n.key == NetstackKey::Vmotion)
            .and_then(|n| n.vmks.first())
            .and_then(|id| vmks.iter().position(|v| v.id == *id))
            .and_then(|i| spans.get(i).cloned())
            .unwrap_or(0..0)
    }

    fn parse_addr<A: std::str::FromStr>(&mut self, value: &Spanned<String>, field: String) -> Option<A> {
        match value.get_ref().parse() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    value.span(),
                    field,
                    value.get_ref(),
                    Rule::AddressSyntax,
                    "not an IP address of the expected family",
                );
                None
            }
        }
    }

    fn mac(&mut self, value: &Spanned<String>, field: String) -> Option<MacAddr> {
        let Ok(mac) = value.get_ref().parse::<MacAddr>() else {
            self.error(
                value.span(),
                field,
                value.get_ref(),
                Rule::MacUnicast,
                "not a MAC address (xx:xx:xx:xx:xx:xx)",
            );
            return None;
        };
        if mac.is_multicast() || mac.is_zero() {
            self.error(
                value.span(),
                field,
                value.get_ref(),
                Rule::MacUnicast,
                "multicast, broadcast or zero MAC",
            );
            return None;
        }
        Some(mac)
    }

    fn host_cidr_v4(&mut self, value: &Spanned<String>, field: String) -> Option<Ipv4Cidr> {
        let Ok(cidr) = value.get_ref().parse::<Ipv4Cidr>() else {
            self.error(
                value.span(),
                field,
                value.get_ref(),
                Rule::AddressSyntax,
                "expected `dhcp`, `none` or address/prefix-length, e.g. 10.0.0.5/24",
            );
            return None;
        };
        let ip = cidr.addr;
        let edge = cidr.prefix_len < 31 && (ip == cidr.network() || ip == cidr.broadcast());
        if ip.is_unspecified()
            || ip.is_loopback()
            || ip.is_multicast()
            || ip.is_broadcast()
            || edge
            || cidr.prefix_len == 0
        {
            self.error(
                value.span(),
                field,
                value.get_ref(),
                Rule::HostAddress,
                "not a usable host address in its subnet",
            );
            return None;
        }
        Some(cidr)
    }

    fn host_cidr_v6(&mut self, value: &Spanned<String>, field: String) -> Option<Ipv6Cidr> {
        let Ok(cidr) = value.get_ref().parse::<Ipv6Cidr>() else {
            self.error(
                value.span(),
                field,
                value.get_ref(),
                Rule::AddressSyntax,
                "expected an IPv6 address/prefix-length, e.g. fd00::5/64",
            );
            return None;
        };
        let ip = cidr.addr;
        if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() || cidr.prefix_len == 0 {
            self.error(
                value.span(),
                field,
                value.get_ref(),
                Rule::HostAddress,
                "not a usable unicast IPv6 address",
            );
            return None;
        }
        Some(cidr)
    }
}

fn empty_netstack(id: NetstackId, key: NetstackKey) -> Netstack {
    Netstack {
        id,
        name: key.as_str().to_owned(),
        key,
        ipv4_gateway: None,
        ipv6_gateway: None,
        dns: Vec::new(),
        congestion_control: Default::default(),
        max_connections: DEFAULT_MAX_CONNECTIONS,
        vmks: Vec::new(),
    }
}

/// Services a custom stack may carry. The fact sheet (§1.3 rule 4) confines everything but vMotion and
/// provisioning to the default stack; vSphere Replication is let onto custom stacks because VMware documents
/// isolating replication traffic on a stack of its own (a modelling choice, see the README).
fn allowed_on_custom_stack(tag: ServiceTag) -> bool {
    matches!(tag, ServiceTag::VsphereReplication | ServiceTag::VsphereReplicationNfc)
}

/// How many traffic types an adapter carries; replication and its NFC leg count as one, as VMware documents
/// enabling both on the replication adapter.
fn traffic_types(vmk: &Vmk) -> usize {
    let nfc_with_replication =
        vmk.is_tagged(ServiceTag::VsphereReplication) && vmk.is_tagged(ServiceTag::VsphereReplicationNfc);
    vmk.services.len() - usize::from(nfc_with_replication)
}

fn is_vmk_name(name: &str) -> bool {
    name.strip_prefix("vmk").is_some_and(|n| {
        !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()) && (n == "0" || !n.starts_with('0'))
    })
}

fn is_stack_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Routes are kept by network address (host bits cleared), as esxcli lists them.
fn canonical_network(net: IpNetwork) -> IpNetwork {
    match net {
        IpNetwork::V4(c) => IpNetwork::V4(Ipv4Cidr {
            addr: c.network(),
            prefix_len: c.prefix_len,
        }),
        IpNetwork::V6(c) => IpNetwork::V6(Ipv6Cidr {
            addr: c.network(),
            prefix_len: c.prefix_len,
        }),
    }
}

/// Checks a reload from `old` to `new`: an adapter keeps the netstack it was created on.
pub(crate) fn check_reload(old: &HostModel, new: &HostModel) -> Diagnostics {
    let mut diagnostics = Diagnostics::default();
    for vmk in &new.vmks {
        let Some(before) = old.vmk_by_name(&vmk.name) else {
            continue;
        };
        let (was, is) = (&old.netstack_of(before).key, &new.netstack_of(vmk).key);
        if was != is {
            diagnostics.0.push(Diagnostic {
                severity: Severity::Error,
                location: vmk.defined_at.clone(),
                field: format!("vmk[{}].netstack", vmk.name),
                value: is.to_string(),
                rule: Rule::NetstackFixedAtCreation,
                message: format!("{} was created on `{was}`", vmk.name),
            });
        }
    }
    diagnostics
}
