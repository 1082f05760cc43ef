//! Bad cases: at least one frame per drop reason, broken at every layer, plus the edge cases beside each rule
//! that must *not* drop (exactly-MTU frames, IPv4 options, a valid extension header, same-stack addresses).
//!
//! Labels are either stated (for frames broken below the demultiplexer, where the rule is the reason) or derived
//! by [`crate::expect`] from the scenario; each case also records what it is meant to show, and a test checks
//! the two agree on the testbed host.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{ArpOperation, IcmpEchoHeader, Icmpv4Type, Icmpv6Type, IpNumber, TcpHeader};
use vmknet::model::{HostModel, NetstackKey, ServiceTag, Vmk};

use crate::expect::{IpCase, Upper, expect_arp, expect_ip, moved_to_own_stack};
use crate::frames::{
    BROADCAST, L4, Link, Net, TPID_8021AD, TPID_8021Q, arp_frame, fix_ipv4_checksum, fragment_ipv4, fragment_ipv6,
    ip_frame, padded, put_u16, raw_frame,
};
use crate::label::{Label, LabelledFrame, Reason, Service};
use crate::mix::{array_peer, esxi_peer, raw_ip, subnet_host, subnet_host_v6, tag_of};
use crate::rng::Rng;

/// What a case is meant to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    /// Dropped for this reason.
    Drop(Reason),
    /// Delivered as this service.
    Deliver(Service),
    /// Left to Linux.
    Pass,
}

impl Intent {
    /// Whether `label` says what this intent means.
    pub fn matches(self, label: &Label) -> bool {
        match self {
            Self::Drop(reason) => label.verdict == "dropped" && label.is_dropped_for(reason),
            Self::Deliver(service) => {
                // A responder may later answer instead of delivering; the service is what counts.
                matches!(label.verdict.as_str(), "delivered" | "replied")
                    && label.service.as_deref() == Some(service.name())
            }
            Self::Pass => label.verdict == "passed",
        }
    }
}

/// Every bad case for `model` (use [`crate::testbed_host`] to reach every drop reason).
pub fn bad_cases(model: &HostModel) -> Vec<LabelledFrame> {
    bad_cases_with_intent(model)
        .into_iter()
        .map(|(frame, _)| frame)
        .collect()
}

/// [`bad_cases`] with what each case is meant to show.
pub fn bad_cases_with_intent(model: &HostModel) -> Vec<(LabelledFrame, Intent)> {
    let mut b = Bad {
        model,
        rng: Rng::new(0xbad_ca5e),
        out: Vec::new(),
    };
    let on = |pred: &dyn Fn(&Vmk) -> bool| {
        model
            .vmks
            .iter()
            .find(|v| v.enabled && v.ipv4_cidr().is_some() && pred(v))
    };
    let stack = |v: &Vmk| model.netstack_of(v).key.clone();
    let mgmt = on(&|v| v.has_service(ServiceTag::Management) && !v.ipv6.addresses.is_empty());
    let vmotion = on(&|v| stack(v) == NetstackKey::Vmotion && v.mtu == 9000);
    let storage = on(&|v| v.services.is_empty() && stack(v) == NetstackKey::Default);
    let storage2 = model
        .vmks
        .iter()
        .filter(|v| v.enabled && v.ipv4_cidr().is_some() && v.services.is_empty() && stack(v) == NetstackKey::Default)
        .nth(1);
    let storage_for = |name: &'static str| {
        on(&move |v: &Vmk| {
            v.services.is_empty() && stack(v) == NetstackKey::Default && v.portgroup.to_ascii_lowercase().contains(name)
        })
    };
    let (iscsi, nfs) = (storage_for("iscsi"), storage_for("nfs"));
    let vsan = on(&|v| v.has_service(ServiceTag::Vsan));
    let provisioning = on(&|v| stack(v) == NetstackKey::Provisioning);
    let custom = on(&|v| matches!(stack(v), NetstackKey::Custom(_)));
    let moved = on(&|v| moved_to_own_stack(model, v, ServiceTag::Vmotion));

    if let Some(m) = mgmt {
        b.link_layer(m, vmotion, storage, storage2);
        b.arp(m, vmotion, storage);
        b.ipv4_headers(m);
        b.ipv6_headers(m);
        b.transport(m);
        b.mtu(m, vmotion);
        b.local(m, vmotion, storage, vsan);
    }
    if let Some(s) = storage {
        b.fragments(s, mgmt);
    }
    b.services(mgmt, vmotion, storage, vsan, provisioning, custom, moved);
    b.client_ports(mgmt, iscsi, nfs);
    b.out
}

struct Bad<'m> {
    model: &'m HostModel,
    rng: Rng,
    out: Vec<(LabelledFrame, Intent)>,
}

/// A neighbour's link to `v` on `v`'s VLAN.
fn peer_link(v: &Vmk) -> Link {
    Link {
        src: esxi_peer(v, 12).0,
        dst: v.mac.0,
        vlan: tag_of(v),
    }
}

/// The neighbour's address in the family of `dst`.
fn peer_ip(v: &Vmk, dst: IpAddr) -> IpAddr {
    match dst {
        IpAddr::V4(_) => esxi_peer(v, 12).1.into(),
        IpAddr::V6(_) => subnet_host_v6(v, 0x12).unwrap_or(Ipv6Addr::LOCALHOST).into(),
    }
}

fn v4(v: &Vmk) -> IpAddr {
    v.ipv4_cidr().expect("bad cases pick IPv4 adapters").addr.into()
}

fn v6(v: &Vmk) -> Option<IpAddr> {
    v.ipv6.addresses.first().map(|c| c.addr.into())
}

impl Bad<'_> {
    fn stated(&mut self, bytes: Vec<u8>, label: Label, intent: Intent) {
        self.out.push((LabelledFrame { bytes, label }, intent));
    }

    fn dropped(&mut self, bytes: Vec<u8>, reason: Reason, vmk: Option<&Vmk>, scenario: &str) {
        self.stated(bytes, Label::dropped(reason, vmk, None, scenario), Intent::Drop(reason));
    }

    fn passed(&mut self, bytes: Vec<u8>, scenario: &str) {
        self.stated(bytes, Label::passed(scenario), Intent::Pass);
    }

    /// A well-formed IP frame labelled by the rules.
    fn ruled(&mut self, bytes: Vec<u8>, link: &Link, dst: IpAddr, upper: Upper, scenario: &str, intent: Intent) {
        let case = IpCase {
            dst_mac: link.dst,
            vlan: link.vlan,
            l2_payload_len: bytes.len() - link.header_len(),
            dst,
            upper,
        };
        let label = expect_ip(self.model, &case, scenario);
        self.stated(bytes, label, intent);
    }

    /// An unpadded TCP frame from `v`'s neighbour to `dst`:`dport` over `link`.
    fn tcp(&mut self, link: &Link, v: &Vmk, dst: IpAddr, dport: u16, payload: usize) -> Vec<u8> {
        let sport = self.rng.ephemeral_port();
        self.segment(link, v, dst, (sport, dport), payload, false)
    }

    /// An unpadded TCP segment from `v`'s neighbour to `dst` with these ports: a SYN (no data) or an ACK with
    /// `payload` bytes.
    fn segment(&mut self, link: &Link, v: &Vmk, dst: IpAddr, ports: (u16, u16), payload: usize, syn: bool) -> Vec<u8> {
        let mut h = TcpHeader::new(ports.0, ports.1, self.rng.next_u32(), 0xffff);
        h.syn = syn;
        h.ack = !syn;
        h.psh = payload > 0;
        let data = self.rng.bytes(payload);
        ip_frame(link, &Net::new(peer_ip(v, dst), dst, 0x1234), L4::Tcp(h), &data)
    }

    /// An unpadded UDP frame.
    fn udp(&mut self, link: &Link, v: &Vmk, dst: IpAddr, ports: (u16, u16), payload: usize) -> Vec<u8> {
        let data = self.rng.bytes(payload);
        let net = Net {
            df: false,
            ..Net::new(peer_ip(v, dst), dst, 0x2345)
        };
        ip_frame(link, &net, L4::Udp(ports.0, ports.1), &data)
    }

    /// A TCP frame to `v`'s IPv4 address and `dport`, labelled by the rules.
    fn tcp_case(&mut self, v: &Vmk, dport: u16, payload: usize, scenario: &str, intent: Intent) {
        let link = peer_link(v);
        let bytes = padded(self.tcp(&link, v, v4(v), dport, payload));
        self.ruled_tcp(bytes, &link, v4(v), dport, scenario, intent);
    }

    /// A TCP segment to `v`'s IPv4 address with these ports (a SYN, or 100 bytes of data), labelled by the rules.
    fn tcp_ports_case(&mut self, v: &Vmk, ports: (u16, u16), syn: bool, scenario: &str, intent: Intent) {
        let link = peer_link(v);
        let payload = if syn { 0 } else { 100 };
        let bytes = padded(self.segment(&link, v, v4(v), ports, payload, syn));
        self.ruled(bytes, &link, v4(v), Upper::Tcp(ports.0, ports.1), scenario, intent);
    }

    /// A TCP frame over `link` to `dst`:`dport` with 60 bytes of data, labelled by the rules.
    #[allow(clippy::too_many_arguments)]
    fn tcp_to(&mut self, link: &Link, v: &Vmk, dst: IpAddr, dport: u16, scenario: &str, intent: Intent) {
        let bytes = padded(self.tcp(link, v, dst, dport, 60));
        self.ruled_tcp(bytes, link, dst, dport, scenario, intent);
    }

    /// A UDP datagram over `link` to `dst` with 60 bytes of data, labelled by the rules.
    #[allow(clippy::too_many_arguments)]
    fn udp_to(&mut self, link: &Link, v: &Vmk, dst: IpAddr, ports: (u16, u16), scenario: &str, intent: Intent) {
        let bytes = padded(self.udp(link, v, dst, ports, 60));
        self.ruled(bytes, link, dst, Upper::Udp(ports.0, ports.1), scenario, intent);
    }

    /// Labels a TCP frame by the rules, reading back the source port the builder chose.
    fn ruled_tcp(&mut self, bytes: Vec<u8>, link: &Link, dst: IpAddr, dport: u16, scenario: &str, intent: Intent) {
        let at = link.header_len() + if dst.is_ipv4() { 20 } else { 40 };
        let sport = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        self.ruled(bytes, link, dst, Upper::Tcp(sport, dport), scenario, intent);
    }

    fn link_layer(&mut self, m: &Vmk, vmotion: Option<&Vmk>, storage: Option<&Vmk>, storage2: Option<&Vmk>) {
        let peer = esxi_peer(m, 12).0;
        let mut header = m.mac.0.to_vec();
        header.extend_from_slice(&peer);
        self.dropped(header[..10].to_vec(), Reason::Runt, None, "runt: 10-byte frame");
        let mut thirteen = header.clone();
        thirteen.push(0x08);
        self.dropped(thirteen, Reason::Runt, None, "runt: 13-byte frame to a vmk MAC");
        let mut tagged = header.clone();
        tagged.extend_from_slice(&TPID_8021Q.to_be_bytes());
        tagged.extend_from_slice(&m.vlan.to_be_bytes());
        self.dropped(tagged.clone(), Reason::Runt, None, "runt: 802.1Q-tagged 16-byte frame");
        tagged.push(0x08);
        self.dropped(tagged, Reason::Runt, None, "runt: 802.1Q-tagged 17-byte frame");
        let mut foreign = vec![0x3c, 0xec, 0xef, 0x10, 0x00, 0x01];
        foreign.extend_from_slice(&peer);
        self.dropped(foreign, Reason::Runt, None, "runt: 12-byte frame to a non-vmk MAC");

        // Stacked and reserved tags: the IP packet inside is a good one for the vmk.
        let target = vmotion.unwrap_or(m);
        let untagged = Link {
            vlan: None,
            ..peer_link(target)
        };
        let inner = self.tcp(&untagged, target, v4(target), 8000, 200)[14..].to_vec();
        let vid = target.vlan;
        let stacks: [(&[(u16, u16)], &str); 4] = [
            (
                &[(TPID_8021AD, vid), (TPID_8021Q, vid)],
                "QinQ: 802.1ad + 802.1Q tags to a vmk MAC",
            ),
            (
                &[(TPID_8021Q, vid), (TPID_8021Q, vid)],
                "QinQ: two 802.1Q tags to a vmk MAC",
            ),
            (&[(TPID_8021AD, vid)], "QinQ: single 802.1ad tag to a vmk MAC"),
            (
                &[(TPID_8021AD, 100), (TPID_8021AD, vid)],
                "QinQ: two 802.1ad tags to a vmk MAC",
            ),
        ];
        for (tags, scenario) in stacks {
            let bytes = raw_frame(target.mac.0, peer, tags, 0x0800, &inner);
            self.dropped(bytes, Reason::QinQ, None, scenario);
        }
        let qinq_other = raw_frame([0x00, 0x50, 0x56, 0x9a, 0x55, 0x01], peer, stacks[0].0, 0x0800, &inner);
        self.passed(qinq_other, "QinQ to a non-vmk MAC");
        let reserved = raw_frame(target.mac.0, peer, &[(TPID_8021Q, 4095)], 0x0800, &inner);
        self.dropped(reserved, Reason::ReservedVlan, None, "VID 4095 to a vmk MAC");
        let reserved_other = raw_frame(
            [0x00, 0x50, 0x56, 0x9a, 0x55, 0x02],
            peer,
            &[(TPID_8021Q, 4095)],
            0x0800,
            &inner,
        );
        self.passed(reserved_other, "VID 4095 to a non-vmk MAC");

        // Steering misses: Linux's frames.
        if let (Some(s), Some(s2)) = (storage, storage2)
            && s.vlan != s2.vlan
        {
            let link = Link {
                vlan: tag_of(s2),
                ..peer_link(s)
            };
            let port = self.rng.ephemeral_port();
            let bytes = padded(self.segment(&link, s, v4(s), (3260, port), 100, false));
            let scenario = format!("{} MAC on {}'s VLAN (iSCSI target reply)", s.name, s2.name);
            self.ruled(bytes, &link, v4(s), Upper::Tcp(3260, port), &scenario, Intent::Pass);
        }
        if m.vlan != 0 {
            let link = Link {
                vlan: None,
                ..peer_link(m)
            };
            let bytes = padded(self.tcp(&link, m, v4(m), 443, 100));
            self.ruled(
                bytes,
                &link,
                v4(m),
                Upper::Tcp(0, 443),
                &format!("{} MAC untagged (it is on VLAN {})", m.name, m.vlan),
                Intent::Pass,
            );
        }
        let link = Link {
            dst: [0x00, 0x50, 0x56, 0x6a, 0x99, 0x99],
            ..peer_link(m)
        };
        let bytes = padded(self.tcp(&link, m, v4(m), 443, 100));
        self.ruled(
            bytes,
            &link,
            v4(m),
            Upper::Tcp(0, 443),
            "unknown unicast MAC with a vmk's IP",
            Intent::Pass,
        );

        // Other EtherTypes to a vmk.
        let cases: [(u16, &str); 3] = [
            (0x88cc, "LLDP unicast to a vmk MAC (unsupported EtherType)"),
            (0x8137, "IPX to a vmk MAC (unsupported EtherType)"),
            (0x8847, "MPLS to a vmk MAC (unsupported EtherType)"),
        ];
        for (ethertype, scenario) in cases {
            let payload = self.rng.bytes(64);
            let bytes = raw_frame(m.mac.0, peer, &[(TPID_8021Q, m.vlan)], ethertype, &payload);
            let bytes = if m.vlan == 0 {
                raw_frame(m.mac.0, peer, &[], ethertype, &payload)
            } else {
                bytes
            };
            self.dropped(bytes, Reason::UnsupportedEthertype, Some(m), scenario);
        }
    }

    fn arp(&mut self, m: &Vmk, vmotion: Option<&Vmk>, storage: Option<&Vmk>) {
        let (peer_mac, peer_ip) = esxi_peer(m, 12);
        let mine = m.ipv4_cidr().expect("IPv4 adapter").addr;
        let to_m = peer_link(m);
        let tags: Vec<(u16, u16)> = tag_of(m).map(|vid| (TPID_8021Q, vid)).into_iter().collect();
        let body = |htype: u16, ptype: u16, hlen: u8, plen: u8| {
            let mut b = Vec::with_capacity(28);
            b.extend_from_slice(&htype.to_be_bytes());
            b.extend_from_slice(&ptype.to_be_bytes());
            b.extend_from_slice(&[hlen, plen, 0, 1]);
            b.extend_from_slice(&peer_mac);
            b.extend_from_slice(&peer_ip.octets());
            b.extend_from_slice(&[0; 6]);
            b.extend_from_slice(&mine.octets());
            b
        };
        let broken: [(Vec<u8>, &str); 4] = [
            (body(6, 0x0800, 6, 4), "ARP with hardware type IEEE 802 (6)"),
            (body(1, 0x86dd, 6, 4), "ARP with protocol type IPv6"),
            (body(1, 0x0800, 8, 4), "ARP with hardware length 8"),
            (body(1, 0x0800, 6, 16), "ARP with protocol length 16"),
        ];
        for (arp, scenario) in broken {
            let bytes = padded(raw_frame(m.mac.0, peer_mac, &tags, 0x0806, &arp));
            self.dropped(bytes, Reason::MalformedArp, Some(m), scenario);
        }
        let truncated = raw_frame(m.mac.0, peer_mac, &tags, 0x0806, &body(1, 0x0800, 6, 4)[..20]);
        self.dropped(
            truncated,
            Reason::MalformedArp,
            Some(m),
            "ARP truncated to 20 bytes (unpadded)",
        );

        if let Some(other) = vmotion.and_then(|v| v.ipv4_cidr()) {
            let bytes = arp_frame(&to_m, ArpOperation::REQUEST, (peer_mac, peer_ip), ([0; 6], other.addr));
            let label = expect_arp(
                self.model,
                m.mac.0,
                tag_of(m),
                other.addr,
                true,
                "unicast ARP to a vmk for another stack's IP",
            );
            self.stated(bytes, label, Intent::Drop(Reason::NotLocal));
        }
        if let Some(s) = storage.filter(|s| s.vlan != m.vlan) {
            let other = s.ipv4_cidr().expect("IPv4 adapter").addr;
            let bytes = arp_frame(&to_m, ArpOperation::REPLY, (peer_mac, peer_ip), (m.mac.0, other));
            let scenario = format!("ARP reply to {} for {}'s IP (same stack)", m.name, s.name);
            let label = expect_arp(self.model, m.mac.0, tag_of(m), other, false, &scenario);
            self.stated(bytes, label, Intent::Deliver(Service::Arp));
            let bcast = Link { dst: BROADCAST, ..to_m };
            let bytes = arp_frame(&bcast, ArpOperation::REQUEST, (peer_mac, peer_ip), ([0; 6], other));
            let scenario = format!("broadcast ARP for {}'s IP on {}'s VLAN", s.name, m.name);
            let label = expect_arp(self.model, BROADCAST, tag_of(m), other, true, &scenario);
            self.stated(bytes, label, Intent::Pass);
        }
        let bcast = Link { dst: BROADCAST, ..to_m };
        let unused = subnet_host(m, 250);
        let bytes = arp_frame(&bcast, ArpOperation::REQUEST, (peer_mac, peer_ip), ([0; 6], unused));
        let label = expect_arp(
            self.model,
            BROADCAST,
            tag_of(m),
            unused,
            true,
            "broadcast ARP for an unused IP",
        );
        self.stated(bytes, label, Intent::Pass);
    }

    fn ipv4_headers(&mut self, m: &Vmk) {
        let link = peer_link(m);
        let ip = link.header_len();
        let good = self.tcp(&link, m, v4(m), 443, 100);

        let mut bytes = good.clone();
        bytes[ip] = 0x65;
        fix_ipv4_checksum(&mut bytes, ip);
        self.dropped(
            bytes,
            Reason::IpBadVersion,
            Some(m),
            "IPv4 EtherType carrying version 6",
        );
        let mut bytes = good.clone();
        bytes[ip - 2..ip].copy_from_slice(&0x86ddu16.to_be_bytes());
        self.dropped(
            bytes,
            Reason::IpBadVersion,
            Some(m),
            "IPv6 EtherType carrying an IPv4 packet",
        );

        let mut bytes = good.clone();
        bytes[ip] = 0x44;
        fix_ipv4_checksum(&mut bytes, ip);
        self.dropped(bytes, Reason::Ipv4BadHeaderLength, Some(m), "IPv4 IHL 4");
        let mut bytes = self.tcp(&link, m, v4(m), 443, 0);
        bytes[ip] = 0x4f;
        fix_ipv4_checksum(&mut bytes, ip);
        self.dropped(
            bytes,
            Reason::Ipv4BadHeaderLength,
            Some(m),
            "IPv4 IHL 15 in a 40-byte packet (unpadded)",
        );

        let mut bytes = good.clone();
        put_u16(&mut bytes, ip + 2, 1400);
        fix_ipv4_checksum(&mut bytes, ip);
        self.dropped(
            bytes,
            Reason::Ipv4BadTotalLength,
            Some(m),
            "IPv4 total length beyond the frame",
        );
        let mut bytes = good.clone();
        put_u16(&mut bytes, ip + 2, 16);
        fix_ipv4_checksum(&mut bytes, ip);
        self.dropped(
            bytes,
            Reason::Ipv4BadTotalLength,
            Some(m),
            "IPv4 total length below the header length",
        );

        let mut bytes = good.clone();
        bytes[ip + 10] ^= 0x5a;
        self.dropped(bytes, Reason::Ipv4BadChecksum, Some(m), "IPv4 header checksum wrong");

        // Edges that must pass the header checks.
        let mut bytes = good.clone();
        bytes.splice(ip + 20..ip + 20, [1, 1, 1, 0]);
        bytes[ip] = 0x46;
        let total = u16::from_be_bytes([bytes[ip + 2], bytes[ip + 3]]) + 4;
        put_u16(&mut bytes, ip + 2, total);
        fix_ipv4_checksum(&mut bytes, ip);
        let sport = u16::from_be_bytes([bytes[ip + 24], bytes[ip + 25]]);
        self.ruled(
            bytes,
            &link,
            v4(m),
            Upper::Tcp(sport, 443),
            "IPv4 with options (IHL 6)",
            Intent::Deliver(Service::Management),
        );
        let port = self.rng.ephemeral_port();
        let bytes = padded(self.udp(&link, m, v4(m), (53, port), 4));
        self.ruled(
            bytes,
            &link,
            v4(m),
            Upper::Udp(53, port),
            "Ethernet padding after a 32-byte IPv4 packet",
            Intent::Deliver(Service::Infrastructure),
        );
    }

    fn ipv6_headers(&mut self, m: &Vmk) {
        let Some(dst) = v6(m) else { return };
        let link = peer_link(m);
        let ip = link.header_len();
        let good = self.tcp(&link, m, dst, 443, 100);

        let mut bytes = good.clone();
        put_u16(&mut bytes, ip + 4, 1000);
        self.dropped(
            bytes,
            Reason::Ipv6BadPayloadLength,
            Some(m),
            "IPv6 payload length beyond the frame",
        );

        let mut bytes = good[..ip + 40].to_vec();
        bytes[ip + 6] = 0;
        put_u16(&mut bytes, ip + 4, 8);
        bytes.extend_from_slice(&[6, 5, 0, 0, 0, 0, 0, 0]);
        self.dropped(
            bytes,
            Reason::Ipv6BadExtensionHeader,
            Some(m),
            "IPv6 hop-by-hop header longer than the packet",
        );
        let mut bytes = good[..ip + 40].to_vec();
        bytes[ip + 6] = 44;
        put_u16(&mut bytes, ip + 4, 4);
        bytes.extend_from_slice(&[17, 0, 0, 0]);
        self.dropped(
            bytes,
            Reason::Ipv6BadExtensionHeader,
            Some(m),
            "IPv6 fragment header truncated to 4 bytes",
        );

        let mut bytes = good.clone();
        bytes.splice(ip + 40..ip + 40, [6, 0, 1, 4, 0, 0, 0, 0]);
        bytes[ip + 6] = 0;
        let len = u16::from_be_bytes([bytes[ip + 4], bytes[ip + 5]]) + 8;
        put_u16(&mut bytes, ip + 4, len);
        let sport = u16::from_be_bytes([bytes[ip + 48], bytes[ip + 49]]);
        self.ruled(
            bytes,
            &link,
            dst,
            Upper::Tcp(sport, 443),
            "IPv6 hop-by-hop header before TCP",
            Intent::Deliver(Service::Management),
        );
    }

    fn transport(&mut self, m: &Vmk) {
        let link = peer_link(m);
        let ip = link.header_len();
        let l4 = ip + 20;
        let malformed = |this: &mut Self, bytes: Vec<u8>, scenario: &str| {
            this.dropped(bytes, Reason::L4Malformed, Some(m), scenario);
        };
        // Shortens the IPv4 packet to `len` bytes, keeping its header right.
        let cut_v4 = |mut bytes: Vec<u8>, len: usize| {
            bytes.truncate(ip + len);
            put_u16(&mut bytes, ip + 2, len as u16);
            fix_ipv4_checksum(&mut bytes, ip);
            bytes
        };

        let mut bytes = self.tcp(&link, m, v4(m), 443, 100);
        bytes[l4 + 12] = 0x40 | (bytes[l4 + 12] & 0x0f);
        malformed(self, bytes, "TCP data offset 4");
        let mut bytes = self.tcp(&link, m, v4(m), 443, 20);
        bytes[l4 + 12] = 0xf0 | (bytes[l4 + 12] & 0x0f);
        malformed(self, bytes, "TCP data offset 15 beyond a 40-byte segment");
        let bytes = cut_v4(self.tcp(&link, m, v4(m), 443, 0), 32);
        malformed(self, bytes, "TCP header truncated to 12 bytes (unpadded)");

        let mut bytes = self.udp(&link, m, v4(m), (50000, 8182), 40);
        put_u16(&mut bytes, l4 + 4, 4);
        malformed(self, bytes, "UDP length field 4");
        let mut bytes = self.udp(&link, m, v4(m), (50000, 8182), 20);
        put_u16(&mut bytes, l4 + 4, 600);
        malformed(self, bytes, "UDP length field beyond the packet");
        let bytes = cut_v4(self.udp(&link, m, v4(m), (50000, 8182), 0), 26);
        malformed(self, bytes, "UDP header truncated to 6 bytes (unpadded)");

        let echo = Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 1, seq: 1 });
        let whole = ip_frame(&link, &Net::new(peer_ip(m, v4(m)), v4(m), 7), L4::Icmpv4(echo), &[0; 8]);
        malformed(self, cut_v4(whole, 24), "ICMPv4 truncated to 4 bytes (unpadded)");
        // A request the vmk would answer must be intact: its checksum is checked before a reply is built.
        let echo = Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 2, seq: 1 });
        let mut bytes = ip_frame(&link, &Net::new(peer_ip(m, v4(m)), v4(m), 7), L4::Icmpv4(echo), &[0; 8]);
        bytes[ip + 22] ^= 0xff;
        self.dropped(
            bytes,
            Reason::IcmpBadChecksum,
            Some(m),
            "ICMPv4 echo request with a wrong checksum",
        );

        if let Some(dst) = v6(m) {
            let echo = Icmpv6Type::EchoRequest(IcmpEchoHeader { id: 1, seq: 1 });
            let mut bytes = ip_frame(&link, &Net::new(peer_ip(m, dst), dst, 0), L4::Icmpv6(echo), &[0; 8]);
            bytes.truncate(ip + 44);
            put_u16(&mut bytes, ip + 4, 4);
            malformed(self, bytes, "ICMPv6 truncated to 4 bytes");
            let echo = Icmpv6Type::EchoRequest(IcmpEchoHeader { id: 2, seq: 1 });
            let mut bytes = ip_frame(&link, &Net::new(peer_ip(m, dst), dst, 0), L4::Icmpv6(echo), &[0; 8]);
            bytes[ip + 42] ^= 0xff;
            self.dropped(
                bytes,
                Reason::IcmpBadChecksum,
                Some(m),
                "ICMPv6 echo request with a wrong checksum",
            );
            let mut bytes = self.tcp(&link, m, dst, 443, 0);
            bytes.truncate(ip + 50);
            put_u16(&mut bytes, ip + 4, 10);
            malformed(self, bytes, "TCP over IPv6 truncated to 10 bytes");
        }
    }

    fn mtu(&mut self, m: &Vmk, vmotion: Option<&Vmk>) {
        let over = |v: &Vmk| usize::from(v.mtu) + 1 - 40;
        let exact = |v: &Vmk| usize::from(v.mtu) - 40;
        let name = &m.name;
        self.tcp_case(
            m,
            443,
            over(m),
            &format!("IP packet of MTU+1 to {name}"),
            Intent::Drop(Reason::MtuExceeded),
        );
        self.tcp_case(
            m,
            443,
            exact(m),
            &format!("IP packet of exactly the MTU to {name}"),
            Intent::Deliver(Service::Management),
        );
        if m.mtu < 9000 {
            self.tcp_case(
                m,
                8000,
                8960,
                &format!("jumbo vMotion frame (9000-byte packet) to {name}"),
                Intent::Drop(Reason::MtuExceeded),
            );
            let link = peer_link(m);
            let echo = Icmpv4Type::EchoRequest(IcmpEchoHeader { id: 3, seq: 1 });
            let bytes = ip_frame(
                &link,
                &Net::new(peer_ip(m, v4(m)), v4(m), 9),
                L4::Icmpv4(echo),
                &[0; 8972],
            );
            self.ruled(
                bytes,
                &link,
                v4(m),
                Upper::EchoRequest,
                &format!("vmkping -d -s 8972 to {name}"),
                Intent::Drop(Reason::MtuExceeded),
            );
            if let Some(dst) = v6(m) {
                let bytes = self.tcp(&link, m, dst, 443, usize::from(m.mtu) + 1 - 60);
                let sport = u16::from_be_bytes([bytes[link.header_len() + 40], bytes[link.header_len() + 41]]);
                self.ruled(
                    bytes,
                    &link,
                    dst,
                    Upper::Tcp(sport, 443),
                    &format!("IPv6 packet of MTU+1 to {name}"),
                    Intent::Drop(Reason::MtuExceeded),
                );
            }
        }
        if let Some(j) = vmotion {
            let name = &j.name;
            self.tcp_case(
                j,
                8000,
                over(j),
                &format!("IP packet of MTU+1 to {name}"),
                Intent::Drop(Reason::MtuExceeded),
            );
            self.tcp_case(
                j,
                8000,
                exact(j),
                &format!("9018-byte tagged jumbo frame to {name}"),
                Intent::Deliver(Service::Vmotion),
            );
        }
    }

    fn local(&mut self, m: &Vmk, vmotion: Option<&Vmk>, storage: Option<&Vmk>, vsan: Option<&Vmk>) {
        let link = peer_link(m);
        if let Some(j) = vmotion {
            let scenario = format!("{}'s MAC and VLAN, {}'s IP (another stack)", j.name, m.name);
            self.tcp_to(&peer_link(j), j, v4(m), 8000, &scenario, Intent::Drop(Reason::NotLocal));
            if let Some(other) = v6(j) {
                let scenario = format!("{}'s MAC, {}'s IPv6 address (another stack)", m.name, j.name);
                self.tcp_to(&link, m, other, 443, &scenario, Intent::Drop(Reason::NotLocal));
            }
            let cidr = j.ipv4_cidr().expect("IPv4 adapter");
            let scenario = format!("{}'s MAC, directed broadcast of {}'s subnet", m.name, j.name);
            self.udp_to(
                &link,
                m,
                cidr.broadcast().into(),
                (50001, 8182),
                &scenario,
                Intent::Drop(Reason::NotLocal),
            );
        }
        let unused = subnet_host(m, 99).into();
        self.tcp_to(
            &link,
            m,
            unused,
            443,
            &format!("{}'s MAC, unassigned IP in its subnet", m.name),
            Intent::Drop(Reason::NotLocal),
        );
        if let Some(s) = storage {
            let scenario = format!("{}'s MAC, {}'s IP (same stack)", m.name, s.name);
            self.tcp_to(&link, m, v4(s), 443, &scenario, Intent::Deliver(Service::Management));
        }
        let own = m.ipv4_cidr().expect("IPv4 adapter").broadcast().into();
        self.udp_to(
            &link,
            m,
            own,
            (50002, 8182),
            &format!("{}'s MAC, its directed broadcast", m.name),
            Intent::Deliver(Service::Management),
        );
        let dhcp = Link {
            src: [0x00, 0x1c, 0x73, 0xa0, 0x00, 0x67],
            ..link
        };
        self.udp_to(
            &dhcp,
            m,
            Ipv4Addr::BROADCAST.into(),
            (67, 68),
            &format!("DHCP offer to {}'s MAC, limited broadcast", m.name),
            Intent::Deliver(Service::Infrastructure),
        );
        if let Some(s) = vsan {
            let group = Ipv4Addr::new(224, 2, 3, 4).into();
            self.udp_to(
                &peer_link(s),
                s,
                group,
                (23451, 23451),
                &format!("vSAN agent-group multicast to {}'s MAC", s.name),
                Intent::Deliver(Service::Vsan),
            );
        }
        let gre = raw_ip(
            &link,
            &Net::new(peer_ip(m, v4(m)), v4(m), 5),
            IpNumber::GRE,
            &[0, 0, 0x08, 0x00, 0x45, 0, 0, 20],
        );
        self.ruled(
            gre,
            &link,
            v4(m),
            Upper::Other,
            &format!("GRE to {}", m.name),
            Intent::Deliver(Service::Unclassified),
        );
    }

    fn fragments(&mut self, s: &Vmk, mgmt: Option<&Vmk>) {
        let (array_mac, array_ip) = array_peer(s, 100);
        let link = Link {
            src: array_mac,
            dst: s.mac.0,
            vlan: tag_of(s),
        };
        let l2 = link.header_len();
        let datagram = |this: &mut Self, src: Ipv4Addr, id: u16| {
            let data = this.rng.bytes(2000);
            let net = Net {
                df: false,
                ..Net::new(src.into(), v4(s), id)
            };
            fragment_ipv4(&ip_frame(&link, &net, L4::Udp(2049, 50010), &data), l2, 1480)
        };
        let upper = Upper::Udp(2049, 50010);
        let mut frags = datagram(self, array_ip, 0x4242).into_iter();
        for (i, bytes) in frags.by_ref().enumerate() {
            let scenario = if i == 0 {
                "first IPv4 fragment of an NFS/UDP datagram"
            } else {
                "later IPv4 fragment after its first"
            };
            self.ruled(bytes, &link, v4(s), upper, scenario, Intent::Deliver(Service::Nfs));
        }
        let orphan = datagram(self, array_ip, 0xbad1).swap_remove(1);
        self.dropped(
            orphan,
            Reason::FragmentOrphan,
            Some(s),
            "IPv4 later fragment without its first",
        );
        let (_, other_ip) = array_peer(s, 101);
        let stranger = datagram(self, other_ip, 0x4242).swap_remove(1);
        self.dropped(
            stranger,
            Reason::FragmentOrphan,
            Some(s),
            "IPv4 later fragment: same id as a seen datagram, other source",
        );

        let Some(m) = mgmt else { return };
        let Some(dst) = v6(m) else { return };
        let link = peer_link(m);
        let data = self.rng.bytes(3000);
        let whole = ip_frame(&link, &Net::new(peer_ip(m, dst), dst, 0), L4::Udp(53, 50011), &data);
        let orphan = fragment_ipv6(&whole, link.header_len(), 1448, 0xdead_beef).swap_remove(1);
        self.dropped(
            orphan,
            Reason::FragmentOrphan,
            Some(m),
            "IPv6 later fragment without its first",
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn services(
        &mut self,
        mgmt: Option<&Vmk>,
        vmotion: Option<&Vmk>,
        storage: Option<&Vmk>,
        vsan: Option<&Vmk>,
        provisioning: Option<&Vmk>,
        custom: Option<&Vmk>,
        moved: Option<&Vmk>,
    ) {
        let disabled = Intent::Drop(Reason::ServiceDisabled);
        // Host-listened and host-to-host ports are tried as the destination; the "Out" services (the host is the
        // client) as the source, a server's reply to the host's ephemeral port.
        use Port::{From, To};
        let cases: [(Option<&Vmk>, Port, &str, Intent); 11] = [
            (
                mgmt,
                To(8000),
                "vMotion (TCP 8000) to an adapter not tagged VMotion",
                disabled,
            ),
            (
                mgmt,
                To(2233),
                "vSAN RDT (TCP 2233) to an adapter not tagged VSAN",
                disabled,
            ),
            (
                mgmt,
                From(31031),
                "vSphere Replication appliance reply (TCP sport 31031) to an untagged adapter",
                disabled,
            ),
            (vsan, To(8100), "FT logging (TCP 8100) to the vSAN adapter", disabled),
            (
                vsan,
                To(443),
                "HTTPS (TCP 443) to an adapter not tagged Management",
                disabled,
            ),
            (
                vmotion,
                From(3260),
                "iSCSI target reply (TCP sport 3260) on the vmotion stack",
                disabled,
            ),
            (
                provisioning,
                From(2049),
                "NFS server reply (TCP sport 2049) on the provisioning stack",
                disabled,
            ),
            (
                custom,
                From(4420),
                "NVMe/TCP controller reply (TCP sport 4420) on a custom stack",
                disabled,
            ),
            (
                storage,
                To(902),
                "TCP 902 to an adapter with no NFC or Management tag",
                disabled,
            ),
            (
                storage,
                From(4420),
                "NVMe/TCP controller reply (TCP sport 4420) on a default-stack adapter",
                Intent::Deliver(Service::NvmeTcp),
            ),
            (
                moved,
                To(8000),
                "vMotion (TCP 8000) to a default-stack VMotion adapter; vmotion stack in use",
                Intent::Drop(Reason::ServiceMovedToOwnStack),
            ),
        ];
        for (vmk, port, scenario, intent) in cases {
            if let Some(v) = vmk {
                let scenario = format!("{scenario} ({})", v.name);
                match port {
                    To(dport) => self.tcp_case(v, dport, 100, &scenario, intent),
                    From(sport) => {
                        let dport = self.rng.ephemeral_port();
                        self.tcp_ports_case(v, (sport, dport), false, &scenario, intent);
                    }
                }
            }
        }
        if let Some(v) = moved {
            self.tcp_case(
                v,
                902,
                100,
                &format!("TCP 902 to a moved VMotion adapter ({})", v.name),
                disabled,
            );
        }
        if let Some(v) = vmotion {
            let link = peer_link(v);
            let bytes = padded(self.udp(&link, v, v4(v), (8301, 8301), 100));
            let scenario = format!("FT DVSSync (UDP 8301) to the vMotion adapter ({})", v.name);
            self.ruled(bytes, &link, v4(v), Upper::Udp(8301, 8301), &scenario, disabled);
        }
    }
}

/// Which port of a received TCP segment is the service's.
#[derive(Clone, Copy, Debug)]
enum Port {
    /// The destination: a port the host listens on.
    To(u16),
    /// The source: a port a remote server listens on (its reply to the host's ephemeral port).
    From(u16),
}

impl Bad<'_> {
    /// Client-only ports (fact sheet §3, Direction "Out"): the host connects to them and never listens on them,
    /// so a segment *to* one reaches no listener and is delivered unclassified, not dropped; a reply *from* a
    /// port only the host listens on is unclassified too.
    fn client_ports(&mut self, mgmt: Option<&Vmk>, iscsi: Option<&Vmk>, nfs: Option<&Vmk>) {
        let unclassified = Intent::Deliver(Service::Unclassified);
        let syns = [
            (
                iscsi,
                3260,
                "SYN to TCP 3260 on an iSCSI initiator's adapter: no target listens on the host",
            ),
            (
                nfs,
                2049,
                "SYN to TCP 2049 on an NFS client's adapter: no server listens on the host",
            ),
        ];
        for (vmk, dport, scenario) in syns {
            if let Some(v) = vmk {
                let sport = self.rng.ephemeral_port();
                let scenario = format!("{scenario} ({})", v.name);
                self.tcp_ports_case(v, (sport, dport), true, &scenario, unclassified);
            }
        }
        if let Some(iscsi) = iscsi {
            let dport = self.rng.ephemeral_port();
            let scenario = format!("iSCSI target reply (TCP sport 3260) on {}", iscsi.name);
            self.tcp_ports_case(iscsi, (3260, dport), false, &scenario, Intent::Deliver(Service::Iscsi));
        }
        if let Some(m) = mgmt {
            let dport = self.rng.ephemeral_port();
            let scenario = format!(
                "HTTPS server's reply (TCP sport 443) to {}: 443 is a host listener, not a remote one",
                m.name
            );
            self.tcp_ports_case(m, (443, dport), false, &scenario, unclassified);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::testbed_host;

    #[test]
    fn every_case_shows_what_it_means_to() {
        let model = testbed_host();
        for (frame, intent) in bad_cases_with_intent(&model) {
            assert!(
                intent.matches(&frame.label),
                "{intent:?} but labelled {:?}",
                frame.label
            );
        }
    }

    #[test]
    fn client_only_ports_on_the_default_host() {
        let cases = bad_cases(&HostModel::embedded_default());
        let find = |needle: &str, vmk: &str| {
            cases
                .iter()
                .find(|f| f.label.scenario.contains(needle) && f.label.vmk.as_deref() == Some(vmk))
                .unwrap_or_else(|| panic!("no case `{needle}` on {vmk}"))
                .label
                .clone()
        };
        let syn = find("SYN to TCP 3260", "vmk2");
        assert_eq!(
            (syn.verdict.as_str(), syn.service.as_deref()),
            ("delivered", Some("unclassified"))
        );
        let syn = find("SYN to TCP 2049", "vmk4");
        assert_eq!(
            (syn.verdict.as_str(), syn.service.as_deref()),
            ("delivered", Some("unclassified"))
        );
        let reply = find("iSCSI target reply (TCP sport 3260) on the vmotion stack", "vmk1");
        assert!(reply.is_dropped_for(Reason::ServiceDisabled));
        assert_eq!(reply.service.as_deref(), Some("iscsi"));
    }

    #[test]
    fn every_drop_reason_appears() {
        let cases = bad_cases(&testbed_host());
        for reason in Reason::ALL {
            assert!(
                cases.iter().any(|f| f.label.is_dropped_for(reason)),
                "no bad case drops for {}",
                reason.name()
            );
        }
    }

    #[test]
    fn embedded_default_reaches_all_but_moved() {
        let cases = bad_cases(&HostModel::embedded_default());
        for reason in Reason::ALL.into_iter().filter(|&r| r != Reason::ServiceMovedToOwnStack) {
            assert!(
                cases.iter().any(|f| f.label.is_dropped_for(reason)),
                "no bad case drops for {}",
                reason.name()
            );
        }
    }
}
