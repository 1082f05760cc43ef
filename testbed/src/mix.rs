//! The vSphere mix: what a busy ESXi host receives on its uplink, each frame labelled by [`crate::expect`].
//!
//! Scenarios are flows (a TCP connection's received half, a run of heartbeats, a fragmented datagram); a seeded
//! merge interleaves them while keeping each flow in order, so first fragments always precede later ones.
//! Adapters are picked by role (their tags, stack and port group) so the mix adapts to a host model; the
//! labels are derived from the model and the rules whatever it is.
//!
//! Flows go the way a host's connections go (fact sheet §3, Direction): the host is a client of its IP storage
//! (iSCSI, NFS, NVMe/TCP), of the replication appliance and of DNS, NTP and syslog, so what it receives of
//! those comes *from* the server's port to an ephemeral one; vMotion, FT, vSAN and NFC run both ways between
//! hosts; management comes *to* the ports the host listens on. Nothing in the mix is sent to a client-only port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{ArpOperation, IcmpEchoHeader, Icmpv4Type, Icmpv6Type, IpNumber, TcpHeader, TcpOptionElement};
use vmknet::model::{HostModel, NetstackKey, ServiceTag, Vmk};

use crate::expect::{IpCase, Upper, expect_arp, expect_ip, ipv6_multicast_mac, solicited_node, tag_in_force};
use crate::frames::{BROADCAST, L4, Link, Net, arp_frame, fragment_ipv4, fragment_ipv6, ip_frame, padded, raw_frame};
use crate::label::{Label, LabelledFrame};
use crate::rng::Rng;

/// The good traffic of a vSphere host: a few thousand frames, deterministic for a given `seed`.
pub fn vsphere_mix(model: &HostModel, seed: u64) -> Vec<LabelledFrame> {
    let mut g = Gen::new(model, seed);
    let roles = Roles::find(model);
    if let Some(v) = roles.vmotion {
        g.vmotion(v);
    }
    for &v in &roles.iscsi {
        g.iscsi(v);
    }
    if let Some(v) = roles.nfs {
        g.nfs(v);
    }
    if let Some(v) = roles.nvme {
        g.nvme_tcp(v);
    }
    if let Some(v) = roles.ft {
        g.fault_tolerance(v);
    }
    if let Some(v) = roles.replication {
        g.replication(v);
    }
    if let Some(v) = roles.provisioning {
        g.provisioning(v);
    }
    if let Some(v) = roles.vsan {
        g.vsan(v);
    }
    if let Some(v) = roles.management {
        g.management(v);
        g.fragmented_dns(v);
    }
    for v in model.vmks.iter().filter(|v| v.enabled) {
        g.arp(v);
        g.neighbor_discovery(v);
        g.icmp(v);
    }
    if let (Some(vmotion), Some(mgmt)) = (roles.vmotion, roles.management) {
        g.wrong_vlan(vmotion, mgmt);
        g.wrong_vlan(mgmt, vmotion);
    }
    g.linux(roles.management, roles.vsan);
    g.interleave()
}

/// Adapters by the traffic they carry.
#[derive(Debug, Default)]
struct Roles<'m> {
    management: Option<&'m Vmk>,
    vmotion: Option<&'m Vmk>,
    iscsi: Vec<&'m Vmk>,
    nfs: Option<&'m Vmk>,
    nvme: Option<&'m Vmk>,
    ft: Option<&'m Vmk>,
    replication: Option<&'m Vmk>,
    provisioning: Option<&'m Vmk>,
    vsan: Option<&'m Vmk>,
}

impl<'m> Roles<'m> {
    fn find(model: &'m HostModel) -> Self {
        let usable = |v: &&Vmk| v.enabled && v.ipv4_cidr().is_some();
        let tagged = |tag| model.vmks.iter().filter(usable).find(|v| tag_in_force(model, v, tag));
        let storage = |name: &'static str| {
            model.vmks.iter().filter(usable).filter(move |v| {
                v.services.is_empty()
                    && model.netstack_of(v).key == NetstackKey::Default
                    && v.portgroup.to_ascii_lowercase().contains(name)
            })
        };
        Self {
            management: tagged(ServiceTag::Management),
            vmotion: tagged(ServiceTag::Vmotion),
            iscsi: storage("iscsi").collect(),
            nfs: storage("nfs").next(),
            nvme: storage("nvme").next(),
            ft: tagged(ServiceTag::FaultToleranceLogging),
            replication: tagged(ServiceTag::VsphereReplication),
            provisioning: tagged(ServiceTag::VsphereProvisioning),
            vsan: tagged(ServiceTag::Vsan),
        }
    }
}

/// Where a peer sits: its MAC as the host sees it (its own, or the router's) and its address.
#[derive(Clone, Copy, Debug)]
struct Peer {
    mac: [u8; 6],
    ip: IpAddr,
}

/// The 802.1Q tag a vmk's frames carry.
pub(crate) fn tag_of(vmk: &Vmk) -> Option<u16> {
    (vmk.vlan != 0).then_some(vmk.vlan)
}

/// Another host's adapter in the vmk's subnet (`host` is the last octet/group): VMware OUI.
pub(crate) fn esxi_peer(vmk: &Vmk, host: u8) -> ([u8; 6], Ipv4Addr) {
    ([0x00, 0x50, 0x56, 0x6b, vmk.mac.0[4], host], subnet_host(vmk, host))
}

/// A storage array port in the vmk's subnet (NetApp OUI).
pub(crate) fn array_peer(vmk: &Vmk, host: u8) -> ([u8; 6], Ipv4Addr) {
    ([0x00, 0xa0, 0x98, vmk.mac.0[4], 0x00, host], subnet_host(vmk, host))
}

/// The VLAN's router (Arista OUI): the source MAC of everything routed in.
pub(crate) fn router_mac(vmk: &Vmk) -> [u8; 6] {
    let [hi, lo] = vmk.vlan.to_be_bytes();
    [0x00, 0x1c, 0x73, 0xa0, hi, lo]
}

/// Host `host` of the vmk's IPv4 subnet.
pub(crate) fn subnet_host(vmk: &Vmk, host: u8) -> Ipv4Addr {
    let cidr = vmk.ipv4_cidr().expect("peers exist only beside IPv4 adapters");
    Ipv4Addr::from(u32::from(cidr.network()) | u32::from(host))
}

/// Host `host` of the vmk's first IPv6 prefix.
pub(crate) fn subnet_host_v6(vmk: &Vmk, host: u16) -> Option<Ipv6Addr> {
    let cidr = vmk.ipv6.addresses.first()?;
    Some(Ipv6Addr::from(u128::from(cidr.network()) | u128::from(host)))
}

/// The EUI-64 link-local address of a MAC.
pub(crate) fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    let [a, b, c, d, e, f] = mac;
    Ipv6Addr::from([0xfe, 0x80, 0, 0, 0, 0, 0, 0, a ^ 2, b, c, 0xff, 0xfe, d, e, f])
}

fn to_vmk(vmk: &Vmk, src: [u8; 6]) -> Link {
    Link {
        src,
        dst: vmk.mac.0,
        vlan: tag_of(vmk),
    }
}

/// Bytes of TCP payload in a full-sized segment to `vmk` over this address family.
fn mss(vmk: &Vmk, ip: IpAddr) -> usize {
    usize::from(vmk.mtu) - if ip.is_ipv4() { 20 } else { 40 } - 20
}

/// The received half of a TCP connection.
#[derive(Debug)]
struct TcpFlow {
    link: Link,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    id: u16,
    mss: usize,
    scenario: String,
    frames: Vec<LabelledFrame>,
}

#[derive(Clone, Copy, Debug)]
enum Seg {
    /// The peer opens.
    Syn,
    /// The peer accepts the host's open.
    SynAck,
    /// The peer sends this many bytes.
    Data(usize),
    /// The peer acknowledges this many more of the host's bytes.
    Ack(usize),
    /// The peer closes.
    Fin,
}

/// The generator: model, seeded RNG, finished flows.
struct Gen<'m> {
    model: &'m HostModel,
    rng: Rng,
    flows: Vec<Vec<LabelledFrame>>,
}

impl<'m> Gen<'m> {
    fn new(model: &'m HostModel, seed: u64) -> Self {
        Self {
            model,
            rng: Rng::new(seed),
            flows: Vec::new(),
        }
    }

    fn labelled_ip(
        &mut self,
        link: &Link,
        net: &Net,
        l4: L4,
        payload: &[u8],
        upper: Upper,
        scenario: &str,
    ) -> LabelledFrame {
        let bytes = padded(ip_frame(link, net, l4, payload));
        let label = self.label_ip(&bytes, link, net.dst, upper, scenario);
        LabelledFrame { bytes, label }
    }

    fn label_ip(&self, bytes: &[u8], link: &Link, dst: IpAddr, upper: Upper, scenario: &str) -> Label {
        let case = IpCase {
            dst_mac: link.dst,
            vlan: link.vlan,
            l2_payload_len: bytes.len() - link.header_len(),
            dst,
            upper,
        };
        expect_ip(self.model, &case, scenario)
    }

    // ---- TCP -------------------------------------------------------------------------------------------------

    /// A connection from `peer` to `vmk`, `peer_port` -> `vmk_port`.
    fn tcp(&mut self, vmk: &Vmk, peer: Peer, peer_port: u16, vmk_port: u16, dst: IpAddr, scenario: &str) -> TcpFlow {
        TcpFlow {
            link: to_vmk(vmk, peer.mac),
            src: peer.ip,
            dst,
            sport: peer_port,
            dport: vmk_port,
            seq: self.rng.next_u32(),
            ack: self.rng.next_u32(),
            id: self.rng.next_u32() as u16,
            mss: mss(vmk, peer.ip),
            scenario: scenario.to_owned(),
            frames: Vec::new(),
        }
    }

    fn seg(&mut self, flow: &mut TcpFlow, seg: Seg) {
        let mut h = TcpHeader::new(flow.sport, flow.dport, flow.seq, 0xfaf0 - self.rng.below(512) as u16);
        let mut len = 0;
        match seg {
            Seg::Syn | Seg::SynAck => {
                h.syn = true;
                let mss = u16::try_from(flow.mss).unwrap_or(u16::MAX);
                h.set_options(&[
                    TcpOptionElement::MaximumSegmentSize(mss),
                    TcpOptionElement::Noop,
                    TcpOptionElement::WindowScale(7),
                    TcpOptionElement::Noop,
                    TcpOptionElement::Noop,
                    TcpOptionElement::SelectiveAcknowledgementPermitted,
                ])
                .expect("12 bytes of options fit");
            }
            Seg::Data(n) => {
                h.psh = true;
                len = n;
            }
            Seg::Ack(n) => flow.ack = flow.ack.wrapping_add(n as u32),
            Seg::Fin => h.fin = true,
        }
        if !matches!(seg, Seg::Syn) {
            h.ack = true;
            h.acknowledgment_number = flow.ack;
        }
        let payload = self.rng.bytes(len);
        let net = Net::new(flow.src, flow.dst, flow.id);
        flow.id = flow.id.wrapping_add(1);
        let advance = len + usize::from(matches!(seg, Seg::Syn | Seg::SynAck | Seg::Fin));
        flow.seq = flow.seq.wrapping_add(advance as u32);
        let upper = Upper::Tcp(flow.sport, flow.dport);
        let frame = self.labelled_ip(&flow.link, &net, L4::Tcp(h), &payload, upper, &flow.scenario);
        flow.frames.push(frame);
    }

    /// `n` segments from the peer; `full_percent` of them full-sized, the rest 64..1400 bytes.
    fn data(&mut self, flow: &mut TcpFlow, n: usize, full_percent: usize) {
        for _ in 0..n {
            let len = if self.rng.chance(full_percent) {
                flow.mss
            } else {
                self.rng.between(64, 1400.min(flow.mss))
            };
            self.seg(flow, Seg::Data(len));
        }
    }

    /// `n` pure ACKs for the host's full-sized segments (delayed ACK: two at a time).
    fn acks(&mut self, flow: &mut TcpFlow, n: usize) {
        for _ in 0..n {
            let acked = flow.mss * self.rng.between(1, 2);
            self.seg(flow, Seg::Ack(acked));
        }
    }

    fn finish(&mut self, flow: TcpFlow) {
        self.flows.push(flow.frames);
    }

    /// A connection the peer opens to `vmk_port`: SYN, data, FIN.
    fn inbound(&mut self, vmk: &Vmk, peer: Peer, vmk_port: u16, n: usize, full_percent: usize, scenario: &str) {
        let dst = self.vmk_addr(vmk, peer.ip);
        let port = self.rng.ephemeral_port();
        let mut flow = self.tcp(vmk, peer, port, vmk_port, dst, scenario);
        self.seg(&mut flow, Seg::Syn);
        self.data(&mut flow, n, full_percent);
        self.seg(&mut flow, Seg::Fin);
        self.finish(flow);
    }

    /// A connection the host opens to the peer's `peer_port`: the peer's SYN-ACK, `data` segments of replies,
    /// `acks` pure ACKs.
    fn outbound(&mut self, vmk: &Vmk, peer: Peer, peer_port: u16, data: usize, acks: usize, scenario: &str) {
        let dst = self.vmk_addr(vmk, peer.ip);
        let port = self.rng.ephemeral_port();
        let mut flow = self.tcp(vmk, peer, peer_port, port, dst, scenario);
        self.seg(&mut flow, Seg::SynAck);
        let (mut data, mut acks) = (data, acks);
        while data + acks > 0 {
            if data > 0 && (acks == 0 || self.rng.chance(data * 100 / (data + acks))) {
                let full = flow.mss;
                self.seg(&mut flow, Seg::Data(full));
                data -= 1;
            } else {
                self.acks(&mut flow, 1);
                acks -= 1;
            }
        }
        self.finish(flow);
    }

    /// A connection the host opens to the peer's `peer_port`: the peer's SYN-ACK, `n` data segments
    /// (`full_percent` of them full-sized, the rest 64..1400 bytes), the peer's FIN.
    fn served(&mut self, vmk: &Vmk, peer: Peer, peer_port: u16, n: usize, full_percent: usize, scenario: &str) {
        let dst = self.vmk_addr(vmk, peer.ip);
        let port = self.rng.ephemeral_port();
        let mut flow = self.tcp(vmk, peer, peer_port, port, dst, scenario);
        self.seg(&mut flow, Seg::SynAck);
        self.data(&mut flow, n, full_percent);
        self.seg(&mut flow, Seg::Fin);
        self.finish(flow);
    }

    /// The vmk's own address in the family of `peer`.
    fn vmk_addr(&self, vmk: &Vmk, peer: IpAddr) -> IpAddr {
        match peer {
            IpAddr::V4(_) => vmk.ipv4_cidr().expect("IPv4 peer of an IPv4 adapter").addr.into(),
            IpAddr::V6(_) => vmk
                .ipv6
                .addresses
                .first()
                .expect("IPv6 peer of an IPv6 adapter")
                .addr
                .into(),
        }
    }

    // ---- UDP -------------------------------------------------------------------------------------------------

    /// `n` datagrams from `peer`, `sport` -> `dport`, payloads of `min..=max` bytes.
    #[allow(clippy::too_many_arguments)]
    fn udp_run(
        &mut self,
        vmk: &Vmk,
        peer: Peer,
        sport: u16,
        dport: u16,
        n: usize,
        size: (usize, usize),
        scenario: &str,
    ) {
        let link = to_vmk(vmk, peer.mac);
        let dst = self.vmk_addr(vmk, peer.ip);
        let mut frames = Vec::new();
        for _ in 0..n {
            let len = self.rng.between(size.0, size.1);
            let payload = self.rng.bytes(len);
            let net = Net {
                df: false,
                ..Net::new(peer.ip, dst, self.rng.next_u32() as u16)
            };
            frames.push(self.labelled_ip(
                &link,
                &net,
                L4::Udp(sport, dport),
                &payload,
                Upper::Udp(sport, dport),
                scenario,
            ));
        }
        self.flows.push(frames);
    }

    /// One UDP datagram of `len` payload bytes, fragmented into at most `chunk` bytes per fragment. Every
    /// fragment carries the label of the first (rule 6), each checked against the MTU on its own.
    #[allow(clippy::too_many_arguments)]
    fn fragmented_udp(
        &mut self,
        vmk: &Vmk,
        peer: Peer,
        sport: u16,
        dport: u16,
        len: usize,
        chunk: usize,
        scenario: &str,
    ) {
        let link = to_vmk(vmk, peer.mac);
        let dst = self.vmk_addr(vmk, peer.ip);
        let payload = self.rng.bytes(len);
        let id = self.rng.next_u32();
        let net = Net {
            df: false,
            ..Net::new(peer.ip, dst, id as u16)
        };
        let whole = ip_frame(&link, &net, L4::Udp(sport, dport), &payload);
        let fragments = match peer.ip {
            IpAddr::V4(_) => fragment_ipv4(&whole, link.header_len(), chunk),
            IpAddr::V6(_) => fragment_ipv6(&whole, link.header_len(), chunk, id),
        };
        let frames = fragments
            .into_iter()
            .map(|bytes| {
                let label = self.label_ip(&bytes, &link, dst, Upper::Udp(sport, dport), scenario);
                LabelledFrame { bytes, label }
            })
            .collect();
        self.flows.push(frames);
    }

    // ---- scenarios -------------------------------------------------------------------------------------------

    fn esxi(&self, vmk: &Vmk, host: u8) -> Peer {
        let (mac, ip) = esxi_peer(vmk, host);
        Peer { mac, ip: ip.into() }
    }

    fn array(&self, vmk: &Vmk, host: u8) -> Peer {
        let (mac, ip) = array_peer(vmk, host);
        Peer { mac, ip: ip.into() }
    }

    fn routed(&self, vmk: &Vmk, ip: Ipv4Addr) -> Peer {
        Peer {
            mac: router_mac(vmk),
            ip: ip.into(),
        }
    }

    fn vmotion(&mut self, v: &Vmk) {
        for host in [12, 13, 15] {
            let (peer, n) = (self.esxi(v, host), self.rng.between(240, 320));
            self.inbound(
                v,
                peer,
                8000,
                n,
                97,
                &format!("vMotion stream into {} (TCP 8000, jumbo)", v.name),
            );
        }
        let (peer, n) = (self.esxi(v, 14), self.rng.between(130, 170));
        self.outbound(
            v,
            peer,
            8000,
            0,
            n,
            &format!("vMotion stream out of {}: peer ACKs (TCP sport 8000)", v.name),
        );
        if let (Some(src), Some(_)) = (subnet_host_v6(v, 0x12), v.ipv6.addresses.first()) {
            let peer = Peer {
                mac: esxi_peer(v, 12).0,
                ip: src.into(),
            };
            self.inbound(v, peer, 8000, 16, 90, &format!("vMotion over IPv6 into {}", v.name));
        }
    }

    fn iscsi(&mut self, v: &Vmk) {
        let target = self.array(v, 100);
        let (data, acks) = (self.rng.between(150, 200), self.rng.between(25, 40));
        self.outbound(
            v,
            target,
            3260,
            data,
            acks,
            &format!("iSCSI target -> {} (TCP sport 3260, Data-In jumbo)", v.name),
        );
        // The host is an initiator: it opens every session, so nothing arrives *to* 3260. The second portal's
        // session: login response, NOP-Ins, R2Ts and small reads, mostly short PDUs.
        let n = self.rng.between(15, 25);
        self.served(
            v,
            self.array(v, 101),
            3260,
            n,
            10,
            &format!(
                "iSCSI second portal -> {} (TCP sport 3260, login and NOP-In PDUs)",
                v.name
            ),
        );
    }

    fn nvme_tcp(&mut self, v: &Vmk) {
        // The host is the NVMe/TCP host (initiator): discovery controller on 8009, I/O controller on 4420.
        let controller = self.array(v, 110);
        let n = self.rng.between(4, 8);
        self.served(
            v,
            controller,
            8009,
            n,
            0,
            &format!("NVMe/TCP discovery log -> {} (TCP sport 8009)", v.name),
        );
        let (data, acks) = (self.rng.between(120, 160), self.rng.between(20, 30));
        self.outbound(
            v,
            controller,
            4420,
            data,
            acks,
            &format!("NVMe/TCP controller -> {} (TCP sport 4420, C2HData jumbo)", v.name),
        );
    }

    fn nfs(&mut self, v: &Vmk) {
        let server = self.array(v, 100);
        let (data, acks) = (self.rng.between(80, 110), self.rng.between(30, 40));
        self.outbound(
            v,
            server,
            2049,
            data,
            acks,
            &format!("NFSv3 server -> {} (TCP sport 2049)", v.name),
        );
        let server41 = self.array(v, 101);
        let (data, acks) = (self.rng.between(30, 45), self.rng.between(10, 15));
        self.outbound(
            v,
            server41,
            2049,
            data,
            acks,
            &format!("NFSv4.1 server -> {} (TCP sport 2049)", v.name),
        );
        // The host only ever connects to 2049; NFSv4.1 callbacks ride the backchannel of that connection.
        self.served(
            v,
            server41,
            2049,
            10,
            20,
            &format!("NFSv4.1 backchannel callbacks -> {} (TCP sport 2049)", v.name),
        );
        let port = self.rng.ephemeral_port();
        self.udp_run(
            v,
            server,
            111,
            port,
            6,
            (28, 40),
            &format!("NFSv3 portmapper replies (UDP sport 111) -> {}", v.name),
        );
        for _ in 0..2 {
            let port = self.rng.ephemeral_port();
            let chunk = (usize::from(v.mtu) - 20) / 8 * 8;
            let scenario = format!("NFSv3 READ reply over UDP 2049, IPv4-fragmented -> {}", v.name);
            self.fragmented_udp(v, server, 2049, port, 32768 + 128, chunk, &scenario);
        }
    }

    fn fault_tolerance(&mut self, v: &Vmk) {
        let peer = self.esxi(v, 12);
        let n = self.rng.between(60, 80);
        self.inbound(v, peer, 8100, n, 60, &format!("FT logging into {} (TCP 8100)", v.name));
        let n = self.rng.between(30, 40);
        self.outbound(
            v,
            peer,
            8200,
            0,
            n,
            &format!("FT logging out of {}: peer ACKs (TCP sport 8200)", v.name),
        );
        let n = self.rng.between(25, 35);
        self.udp_run(
            v,
            peer,
            8301,
            8301,
            n,
            (100, 600),
            &format!("FT DVSSync (UDP 8301) -> {}", v.name),
        );
    }

    fn replication(&mut self, v: &Vmk) {
        let appliance = self.esxi(v, 50);
        let n = self.rng.between(40, 55);
        self.outbound(
            v,
            appliance,
            31031,
            0,
            n,
            &format!("vSphere Replication to appliance: ACKs (TCP sport 31031) -> {}", v.name),
        );
        let n = self.rng.between(20, 30);
        self.outbound(
            v,
            appliance,
            44046,
            0,
            n,
            &format!("vSphere Replication to appliance: ACKs (TCP sport 44046) -> {}", v.name),
        );
        let n = self.rng.between(50, 70);
        self.inbound(
            v,
            self.esxi(v, 51),
            902,
            n,
            90,
            &format!("Replication NFC from VR server to {}:902", v.name),
        );
    }

    fn provisioning(&mut self, v: &Vmk) {
        let n = self.rng.between(80, 110);
        self.inbound(
            v,
            self.esxi(v, 12),
            902,
            n,
            95,
            &format!("Provisioning NFC (cold migration) into {}:902", v.name),
        );
        let n = self.rng.between(25, 35);
        self.outbound(
            v,
            self.esxi(v, 13),
            902,
            0,
            n,
            &format!("Provisioning NFC out of {}: peer ACKs (TCP sport 902)", v.name),
        );
    }

    fn vsan(&mut self, v: &Vmk) {
        let n = self.rng.between(80, 100);
        self.inbound(
            v,
            self.esxi(v, 12),
            2233,
            n,
            80,
            &format!("vSAN RDT into {}:2233 (jumbo)", v.name),
        );
        let (data, acks) = (self.rng.between(60, 80), self.rng.between(10, 20));
        self.outbound(
            v,
            self.esxi(v, 13),
            2233,
            data,
            acks,
            &format!("vSAN RDT reads (TCP sport 2233) -> {}", v.name),
        );
        for host in [12, 13] {
            let n = self.rng.between(10, 15);
            self.udp_run(
                v,
                self.esxi(v, host),
                12321,
                12321,
                n,
                (60, 400),
                &format!("vSAN unicast agent (UDP 12321) -> {}", v.name),
            );
        }
        let witness = self.routed(v, Ipv4Addr::new(10, 99, 1, 10));
        let n = self.rng.between(10, 15);
        self.udp_run(
            v,
            witness,
            12321,
            12321,
            n,
            (60, 300),
            &format!("vSAN witness, routed (UDP 12321) -> {}", v.name),
        );
        let n = self.rng.between(8, 12);
        self.udp_run(
            v,
            self.esxi(v, 12),
            12345,
            12345,
            n,
            (100, 1200),
            &format!("vSAN CMMDS unicast (UDP 12345) -> {}", v.name),
        );
    }

    fn management(&mut self, v: &Vmk) {
        let vcenter = Peer {
            mac: [0x00, 0x50, 0x56, 0x9a, 0x10, 0x20],
            ip: subnet_host(v, 20).into(),
        };
        for _ in 0..2 {
            let n = self.rng.between(25, 35);
            self.inbound(v, vcenter, 443, n, 30, &format!("vCenter -> {}:443 (HTTPS)", v.name));
        }
        if let Some(ip) = subnet_host_v6(v, 0x20) {
            let peer = Peer {
                mac: vcenter.mac,
                ip: ip.into(),
            };
            self.inbound(v, peer, 443, 14, 30, &format!("vCenter over IPv6 -> {}:443", v.name));
        }
        let admin = self.routed(v, Ipv4Addr::new(10, 1, 5, 23));
        let n = self.rng.between(20, 30);
        self.inbound(
            v,
            admin,
            22,
            n,
            0,
            &format!("SSH from admin workstation, routed -> {}:22", v.name),
        );
        let n = self.rng.between(20, 30);
        self.inbound(
            v,
            vcenter,
            902,
            n,
            20,
            &format!("vCenter -> {}:902 (NFC/authd)", v.name),
        );
        let (n, port) = (self.rng.between(15, 20), self.rng.ephemeral_port());
        self.udp_run(
            v,
            vcenter,
            902,
            port,
            n,
            (40, 80),
            &format!("vCenter heartbeat replies (UDP sport 902) -> {}", v.name),
        );
        let dns = Peer {
            mac: [0x00, 0x50, 0x56, 0x9a, 0x10, 0x53],
            ip: subnet_host(v, 53).into(),
        };
        for _ in 0..3 {
            let (n, port) = (self.rng.between(4, 6), self.rng.ephemeral_port());
            self.udp_run(
                v,
                dns,
                53,
                port,
                n,
                (60, 220),
                &format!("DNS replies (UDP sport 53) -> {}", v.name),
            );
        }
        let ntp = self.routed(v, Ipv4Addr::new(10, 1, 1, 123));
        self.udp_run(
            v,
            ntp,
            123,
            123,
            8,
            (48, 48),
            &format!("NTP replies (UDP 123) -> {}", v.name),
        );
        let syslog = Peer {
            mac: [0x00, 0x50, 0x56, 0x9a, 0x10, 0x60],
            ip: subnet_host(v, 60).into(),
        };
        self.outbound(
            v,
            syslog,
            1514,
            0,
            10,
            &format!("syslog collector ACKs (TCP sport 1514) -> {}", v.name),
        );
        self.inbound(
            v,
            self.esxi(v, 12),
            8182,
            10,
            10,
            &format!("vSphere HA agent (TCP 8182) -> {}", v.name),
        );
        let port = self.rng.ephemeral_port();
        self.udp_run(
            v,
            self.esxi(v, 13),
            port,
            8182,
            8,
            (80, 300),
            &format!("vSphere HA agent (UDP 8182) -> {}", v.name),
        );
        let nms = self.routed(v, Ipv4Addr::new(10, 1, 5, 50));
        let port = self.rng.ephemeral_port();
        self.udp_run(
            v,
            nms,
            port,
            161,
            5,
            (40, 90),
            &format!("SNMP queries (UDP 161) -> {}", v.name),
        );
        self.inbound(
            v,
            vcenter,
            5989,
            6,
            20,
            &format!("CIM over HTTPS (TCP 5989) -> {}", v.name),
        );
        let port = self.rng.ephemeral_port();
        self.udp_run(
            v,
            self.esxi(v, 14),
            port,
            6999,
            3,
            (60, 120),
            &format!("UDP to an unlisted port (6999) -> {}", v.name),
        );
    }

    /// A large DNS answer (EDNS0) that arrives fragmented, over IPv4 and IPv6.
    fn fragmented_dns(&mut self, v: &Vmk) {
        let mac = [0x00, 0x50, 0x56, 0x9a, 0x10, 0x53];
        let chunk4 = (usize::from(v.mtu).min(1500) - 20) / 8 * 8;
        let peer = Peer {
            mac,
            ip: subnet_host(v, 53).into(),
        };
        let port = self.rng.ephemeral_port();
        self.fragmented_udp(
            v,
            peer,
            53,
            port,
            2400,
            chunk4,
            &format!("DNS reply, IPv4-fragmented -> {}", v.name),
        );
        if let Some(ip) = subnet_host_v6(v, 0x53) {
            let chunk6 = (usize::from(v.mtu).min(1500) - 48) / 8 * 8;
            let peer = Peer { mac, ip: ip.into() };
            for _ in 0..2 {
                let port = self.rng.ephemeral_port();
                let scenario = format!("DNS reply over IPv6, fragmented -> {}", v.name);
                self.fragmented_udp(v, peer, 53, port, 3000, chunk6, &scenario);
            }
        }
    }

    fn arp(&mut self, v: &Vmk) {
        let Some(cidr) = v.ipv4_cidr() else { return };
        let link = |src| Link {
            src,
            dst: BROADCAST,
            vlan: tag_of(v),
        };
        let mut frames = Vec::new();
        let mut push = |bytes: Vec<u8>, label: Label| frames.push(LabelledFrame { bytes, label });
        for host in [1, 12, 13] {
            let (mac, ip) = if host == 1 {
                (router_mac(v), subnet_host(v, 1))
            } else {
                esxi_peer(v, host)
            };
            let bytes = arp_frame(&link(mac), ArpOperation::REQUEST, (mac, ip), ([0; 6], cidr.addr));
            let scenario = format!("ARP request for {} (broadcast)", v.name);
            push(
                bytes,
                expect_arp(self.model, BROADCAST, tag_of(v), cidr.addr, true, &scenario),
            );
        }
        for host in [1, 14] {
            let (mac, ip) = if host == 1 {
                (router_mac(v), subnet_host(v, 1))
            } else {
                esxi_peer(v, host)
            };
            let bytes = arp_frame(&to_vmk(v, mac), ArpOperation::REPLY, (mac, ip), (v.mac.0, cidr.addr));
            let scenario = format!("ARP reply to {}", v.name);
            push(
                bytes,
                expect_arp(self.model, v.mac.0, tag_of(v), cidr.addr, false, &scenario),
            );
        }
        // Neighbours resolving each other: Linux's (or nobody's) business.
        for (asker, wanted) in [(12, 1), (13, 14)] {
            let (mac, ip) = esxi_peer(v, asker);
            let target = subnet_host(v, wanted);
            let bytes = arp_frame(&link(mac), ArpOperation::REQUEST, (mac, ip), ([0; 6], target));
            let scenario = "ARP request for another host's IP (broadcast)";
            push(
                bytes,
                expect_arp(self.model, BROADCAST, tag_of(v), target, true, scenario),
            );
        }
        let (mac, ip) = esxi_peer(v, 15);
        let bytes = arp_frame(&link(mac), ArpOperation::REQUEST, (mac, ip), ([0; 6], ip));
        push(
            bytes,
            expect_arp(
                self.model,
                BROADCAST,
                tag_of(v),
                ip,
                true,
                "gratuitous ARP from a neighbour",
            ),
        );
        self.flows.push(frames);
    }

    fn neighbor_discovery(&mut self, v: &Vmk) {
        let Some(addr) = v.ipv6.addresses.first().map(|c| c.addr) else {
            return;
        };
        let mut frames = Vec::new();
        for host in [12u8, 13, 14] {
            let mac = esxi_peer_mac(v, host);
            let group = solicited_node(addr);
            let link = Link {
                src: mac,
                dst: ipv6_multicast_mac(group),
                vlan: tag_of(v),
            };
            let net = Net {
                ttl: 255,
                ..Net::new(link_local(mac).into(), group.into(), 0)
            };
            let mut body = addr.octets().to_vec();
            body.extend_from_slice(&[1, 1]);
            body.extend_from_slice(&mac);
            let scenario = format!("IPv6 NS for {} (solicited-node multicast)", v.name);
            frames.push(self.labelled_ip(
                &link,
                &net,
                L4::Icmpv6(Icmpv6Type::NeighborSolicitation),
                &body,
                Upper::NeighborSolicitation(addr),
                &scenario,
            ));
        }
        for host in [0x12u16, 0x13] {
            let mac = esxi_peer_mac(v, host as u8);
            let Some(src) = subnet_host_v6(v, host) else { return };
            let link = to_vmk(v, mac);
            let net = Net {
                ttl: 255,
                ..Net::new(src.into(), addr.into(), 0)
            };
            let mut body = src.octets().to_vec();
            body.extend_from_slice(&[2, 1]);
            body.extend_from_slice(&mac);
            let na = Icmpv6Type::NeighborAdvertisement(etherparse::icmpv6::NeighborAdvertisementHeader {
                router: false,
                solicited: true,
                r#override: true,
            });
            let scenario = format!("IPv6 NA to {}", v.name);
            frames.push(self.labelled_ip(&link, &net, L4::Icmpv6(na), &body, Upper::Icmpv6(136), &scenario));
        }
        // Multicast the host is not steered for: router advertisements, duplicate address detection.
        let router = router_mac(v);
        let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
        let link = Link {
            src: router,
            dst: ipv6_multicast_mac(all_nodes),
            vlan: tag_of(v),
        };
        let net = Net {
            ttl: 255,
            ..Net::new(link_local(router).into(), all_nodes.into(), 0)
        };
        let ra = Icmpv6Type::RouterAdvertisement(etherparse::icmpv6::RouterAdvertisementHeader {
            cur_hop_limit: 64,
            managed_address_config: false,
            other_config: false,
            router_lifetime: 1800,
        });
        let mut body = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        body.extend_from_slice(&router);
        frames.push(self.labelled_ip(
            &link,
            &net,
            L4::Icmpv6(ra),
            &body,
            Upper::Icmpv6(134),
            "IPv6 router advertisement to all nodes",
        ));
        if let Some(tentative) = subnet_host_v6(v, 0x16) {
            let mac = esxi_peer_mac(v, 16);
            let group = solicited_node(tentative);
            let link = Link {
                src: mac,
                dst: ipv6_multicast_mac(group),
                vlan: tag_of(v),
            };
            let net = Net {
                ttl: 255,
                ..Net::new(Ipv6Addr::UNSPECIFIED.into(), group.into(), 0)
            };
            let body = tentative.octets();
            let scenario = "IPv6 DAD NS for another host's address";
            frames.push(self.labelled_ip(
                &link,
                &net,
                L4::Icmpv6(Icmpv6Type::NeighborSolicitation),
                &body,
                Upper::NeighborSolicitation(tentative),
                scenario,
            ));
        }
        self.flows.push(frames);
    }

    fn icmp(&mut self, v: &Vmk) {
        let mut frames = Vec::new();
        if let Some(cidr) = v.ipv4_cidr() {
            let (mac, peer) = esxi_peer(v, 12);
            let link = to_vmk(v, mac);
            let id = self.rng.next_u32() as u16;
            for seq in 0..3 {
                let net = Net::new(peer.into(), cidr.addr.into(), id.wrapping_add(seq));
                let echo = IcmpEchoHeader { id, seq };
                let data = self.rng.bytes(56);
                let scenario = format!("ICMP echo request to {}", v.name);
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Icmpv4(Icmpv4Type::EchoRequest(echo)),
                    &data,
                    Upper::EchoRequest,
                    &scenario,
                ));
                let scenario = format!("ICMP echo reply to {}", v.name);
                let net = Net::new(peer.into(), cidr.addr.into(), id.wrapping_add(seq + 100));
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Icmpv4(Icmpv4Type::EchoReply(echo)),
                    &data,
                    Upper::Icmpv4,
                    &scenario,
                ));
            }
            if v.mtu >= 9000 {
                let net = Net::new(peer.into(), cidr.addr.into(), id);
                let data = self.rng.bytes(usize::from(v.mtu) - 28);
                let echo = Icmpv4Type::EchoRequest(IcmpEchoHeader { id, seq: 9 });
                let scenario = format!("vmkping -d -s {} to {} (jumbo echo request)", data.len(), v.name);
                frames.push(self.labelled_ip(&link, &net, L4::Icmpv4(echo), &data, Upper::EchoRequest, &scenario));
            }
        }
        if let (Some(addr), Some(peer)) = (v.ipv6.addresses.first().map(|c| c.addr), subnet_host_v6(v, 0x12)) {
            let link = to_vmk(v, esxi_peer_mac(v, 12));
            let net = Net::new(peer.into(), addr.into(), 0);
            let id = self.rng.next_u32() as u16;
            for seq in 0..2 {
                let echo = IcmpEchoHeader { id, seq };
                let data = self.rng.bytes(56);
                let scenario = format!("ICMPv6 echo request to {}", v.name);
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Icmpv6(Icmpv6Type::EchoRequest(echo)),
                    &data,
                    Upper::EchoRequest,
                    &scenario,
                ));
                let scenario = format!("ICMPv6 echo reply to {}", v.name);
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Icmpv6(Icmpv6Type::EchoReply(echo)),
                    &data,
                    Upper::Icmpv6(129),
                    &scenario,
                ));
            }
            if v.mtu >= 9000 {
                let data = self.rng.bytes(usize::from(v.mtu) - 48);
                let echo = Icmpv6Type::EchoRequest(IcmpEchoHeader { id, seq: 9 });
                let scenario = format!("vmkping -6 -d -s {} to {} (jumbo echo request)", data.len(), v.name);
                frames.push(self.labelled_ip(&link, &net, L4::Icmpv6(echo), &data, Upper::EchoRequest, &scenario));
            }
        }
        self.flows.push(frames);
    }

    /// A vmk's MAC on another vmk's VLAN: not the vmk's frame (rule 1).
    fn wrong_vlan(&mut self, v: &Vmk, other: &Vmk) {
        if v.vlan == other.vlan {
            return;
        }
        let Some(cidr) = v.ipv4_cidr() else { return };
        let (mac, peer) = esxi_peer(other, 12);
        let link = Link {
            src: mac,
            dst: v.mac.0,
            vlan: tag_of(other),
        };
        let mut frames = Vec::new();
        for i in 0..5 {
            let net = Net::new(peer.into(), cidr.addr.into(), i);
            let h = TcpHeader::new(self.rng.ephemeral_port(), 8000, self.rng.next_u32(), 0xffff);
            let scenario = format!("{} MAC on VLAN {} (wrong VLAN)", v.name, other.vlan);
            frames.push(self.labelled_ip(&link, &net, L4::Tcp(h), &[], Upper::Tcp(0, 8000), &scenario));
        }
        self.flows.push(frames);
    }

    /// Frames for the Linux host and for nobody: never the VMkernel's.
    fn linux(&mut self, mgmt: Option<&Vmk>, vsan: Option<&Vmk>) {
        const LINUX_MAC: [u8; 6] = [0x3c, 0xec, 0xef, 0x10, 0x00, 0x01];
        const GATEWAY_MAC: [u8; 6] = [0x00, 0x1c, 0x73, 0xa0, 0x00, 0x01];
        let linux_ip: IpAddr = Ipv4Addr::new(192, 168, 100, 10).into();
        let link = Link {
            src: GATEWAY_MAC,
            dst: LINUX_MAC,
            vlan: None,
        };
        for (port, n, scenario) in [
            (22, 30, "Linux host's own SSH (not a vmk MAC)"),
            (443, 20, "Linux host's own HTTPS (not a vmk MAC)"),
        ] {
            let mut frames = Vec::new();
            let sport = self.rng.ephemeral_port();
            let mut seq = self.rng.next_u32();
            for i in 0..n {
                let mut h = TcpHeader::new(sport, port, seq, 0xffff);
                h.ack = true;
                let len = self.rng.between(0, 600);
                let data = self.rng.bytes(len);
                seq = seq.wrapping_add(data.len() as u32);
                let net = Net::new(Ipv4Addr::new(192, 168, 1, 50).into(), linux_ip, i);
                frames.push(self.labelled_ip(&link, &net, L4::Tcp(h), &data, Upper::Tcp(sport, port), scenario));
            }
            self.flows.push(frames);
        }
        let mut frames = Vec::new();
        for i in 0..20u8 {
            let vlan = [10, 100][usize::from(i % 2)];
            let link = Link {
                src: GATEWAY_MAC,
                dst: [0x00, 0x50, 0x56, 0x9a, 0x33, i],
                vlan: Some(vlan),
            };
            let net = Net::new(
                Ipv4Addr::new(10, 1, 7, 9).into(),
                Ipv4Addr::new(10, 100, 0, 20 + i).into(),
                u16::from(i),
            );
            let h = TcpHeader::new(443, self.rng.ephemeral_port(), self.rng.next_u32(), 0xffff);
            let len = self.rng.between(100, 1400);
            let data = self.rng.bytes(len);
            frames.push(self.labelled_ip(
                &link,
                &net,
                L4::Tcp(h),
                &data,
                Upper::Tcp(443, 0),
                "unknown unicast to a VM MAC (flooded)",
            ));
        }
        self.flows.push(frames);

        let switch_mac = [0x00, 0x1c, 0x73, 0x11, 0x22, 0x33];
        let mut frames = Vec::new();
        for _ in 0..4 {
            let mut lldp = vec![0x02, 0x07, 0x04];
            lldp.extend_from_slice(&switch_mac);
            lldp.extend_from_slice(&[0x04, 0x0b, 0x05]);
            lldp.extend_from_slice(b"Ethernet12");
            lldp.extend_from_slice(&[0x06, 0x02, 0x00, 0x78, 0x00, 0x00]);
            let bytes = padded(raw_frame(
                [0x01, 0x80, 0xc2, 0, 0, 0x0e],
                switch_mac,
                &[],
                0x88cc,
                &lldp,
            ));
            frames.push(LabelledFrame {
                bytes,
                label: Label::passed("LLDP from the switch (link-local multicast)"),
            });
            let mut bpdu = vec![0x42, 0x42, 0x03, 0x00, 0x00, 0x02, 0x3c, 0x01];
            bpdu.extend_from_slice(&[0x80, 0x00]);
            bpdu.extend_from_slice(&switch_mac);
            bpdu.extend_from_slice(&[0; 25]);
            let len = bpdu.len() as u16;
            let bytes = padded(raw_frame([0x01, 0x80, 0xc2, 0, 0, 0], switch_mac, &[], len, &bpdu));
            frames.push(LabelledFrame {
                bytes,
                label: Label::passed("RSTP BPDU (802.3/LLC)"),
            });
        }
        self.flows.push(frames);

        let mut frames = Vec::new();
        if let Some(m) = mgmt {
            let mdns = Ipv4Addr::new(224, 0, 0, 251);
            let vm: [u8; 6] = [0x00, 0x50, 0x56, 0x9a, 0x44, 0x01];
            for i in 0..3 {
                let link = Link {
                    src: vm,
                    dst: [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb],
                    vlan: tag_of(m),
                };
                let net = Net {
                    ttl: 255,
                    ..Net::new(subnet_host(m, 77).into(), mdns.into(), i)
                };
                let data = self.rng.bytes(80);
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Udp(5353, 5353),
                    &data,
                    Upper::Udp(5353, 5353),
                    "mDNS multicast (group MAC)",
                ));
            }
            for i in 0..3 {
                let link = Link {
                    src: vm,
                    dst: BROADCAST,
                    vlan: tag_of(m),
                };
                let net = Net::new(Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::BROADCAST.into(), i);
                let data = self.rng.bytes(300);
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Udp(68, 67),
                    &data,
                    Upper::Udp(68, 67),
                    "DHCP discover from a VM (broadcast)",
                ));
            }
        }
        if let Some(s) = vsan {
            let group = Ipv4Addr::new(224, 1, 2, 3);
            for i in 0..4 {
                let (mac, ip) = esxi_peer(s, 12);
                let link = Link {
                    src: mac,
                    dst: [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03],
                    vlan: tag_of(s),
                };
                let net = Net::new(ip.into(), group.into(), i);
                let data = self.rng.bytes(200);
                frames.push(self.labelled_ip(
                    &link,
                    &net,
                    L4::Udp(12345, 12345),
                    &data,
                    Upper::Udp(12345, 12345),
                    "legacy vSAN CMMDS multicast (group MAC)",
                ));
            }
        }
        self.flows.push(frames);
    }

    /// Merges the flows at random, weighted by what each has left, keeping every flow's order.
    fn interleave(mut self) -> Vec<LabelledFrame> {
        let mut queues: Vec<std::vec::IntoIter<LabelledFrame>> = std::mem::take(&mut self.flows)
            .into_iter()
            .map(Vec::into_iter)
            .collect();
        let mut remaining: usize = queues.iter().map(ExactSizeIterator::len).sum();
        let mut out = Vec::with_capacity(remaining);
        while remaining > 0 {
            let mut pick = self.rng.below(remaining);
            for queue in &mut queues {
                if pick < queue.len() {
                    out.extend(queue.next());
                    break;
                }
                pick -= queue.len();
            }
            remaining -= 1;
        }
        out
    }
}

fn esxi_peer_mac(vmk: &Vmk, host: u8) -> [u8; 6] {
    esxi_peer(vmk, host).0
}

/// The raw-protocol builder, for scenarios carrying something other than TCP, UDP or ICMP.
pub(crate) fn raw_ip(link: &Link, net: &Net, protocol: IpNumber, payload: &[u8]) -> Vec<u8> {
    padded(ip_frame(link, net, L4::Raw(protocol), payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_of_the_default_host() {
        let model = HostModel::embedded_default();
        let roles = Roles::find(&model);
        fn name(v: Option<&Vmk>) -> Option<&str> {
            v.map(|v| v.name.as_str())
        }
        assert_eq!(name(roles.management), Some("vmk0"));
        assert_eq!(name(roles.vmotion), Some("vmk1"));
        assert_eq!(
            roles.iscsi.iter().map(|v| v.name.as_str()).collect::<Vec<_>>(),
            ["vmk2", "vmk3"]
        );
        assert_eq!(name(roles.nfs), Some("vmk4"));
        assert_eq!(name(roles.nvme), None, "the default host has no NVMe/TCP adapter");
        assert_eq!(name(roles.ft), Some("vmk5"));
        assert_eq!(name(roles.replication), Some("vmk6"));
        assert_eq!(name(roles.provisioning), Some("vmk7"));
        assert_eq!(name(roles.vsan), Some("vmk8"));
    }

    #[test]
    fn link_local_is_eui64() {
        let ll = link_local([0x00, 0x50, 0x56, 0x6b, 0x20, 0x12]);
        assert_eq!(ll, "fe80::250:56ff:fe6b:2012".parse::<Ipv6Addr>().unwrap());
    }
}
