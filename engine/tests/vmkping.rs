//! vmkping between two VMkernel adapters through the real pipeline: the egress path of one netstack sends
//! the echo requests (ARP / neighbour solicitation first), the pipeline steers each frame to the other
//! adapter, its responders answer in place, and the answers come back through the pipeline's ingress (which
//! records the resolution in the cache the egress shares) to the ping session. Real bytes both ways.
//!
//! The two adapters share VLAN 10 and subnet 10.10.10.0/24 but sit on different netstacks, as two hosts on
//! one segment would: the default stack's vmk0 pings the custom stack's vmk1.

use std::net::IpAddr;
use std::sync::Arc;

use vmknet::model::{HostModel, NetstackKey, VmkId};
use vmknet::netstack::view::NeighborSnapshot;
use vmknet::netstack::{Egress, NeighborConfig, NetstackTables, Origin, Outcome, PingOptions, PingSession, RouteTable};
use vmknet::pipeline::{Pipeline, Verdict};
use vmknet::wire::EthernetFrame;

const HOST: &str = r#"
[host]
name = "esx-ping"
uplinks = ["vmnic0"]

[[netstack]]
key = "defaultTcpipStack"
ipv4_gateway = "10.10.10.1"

[[netstack]]
key = "peer"

[[vmk]]
name = "vmk0"
mac = "00:50:56:00:00:a0"
vlan = 10
mtu = 1500
ipv4 = "10.10.10.11/24"
ipv6 = ["fd00:10::11/64"]
tags = ["Management"]

[[vmk]]
name = "vmk1"
netstack = "peer"
mac = "00:50:56:00:00:b0"
vlan = 10
mtu = 9000
ipv4 = "10.10.10.12/24"
ipv6 = ["fd00:10::12/64"]
"#;

const VMK0: VmkId = VmkId(0);
const S: u64 = 1_000_000_000;
/// The wire's round trip in this test.
const RTT_NS: u64 = 250_000;

struct Host {
    model: Arc<HostModel>,
    routes: RouteTable,
    pipeline: Pipeline,
}

impl Host {
    fn new() -> Self {
        let model = Arc::new(HostModel::from_toml("ping.toml", HOST).expect("valid host"));
        let default = model.netstack_by_key(&NetstackKey::Default).expect("default stack");
        let routes = NetstackTables::compile(&model, default, NeighborConfig::default())
            .expect("tables")
            .routes;
        let pipeline = Pipeline::new(Arc::clone(&model));
        Self {
            model,
            routes,
            pipeline,
        }
    }

    /// The default stack's egress, resolving through the cache the pipeline's ingress fills.
    fn egress(&mut self) -> Egress<'_> {
        let neighbors = self
            .pipeline
            .neighbors_mut(self.routes.netstack())
            .expect("cache of the default stack");
        Egress::new(&self.model, &self.routes, neighbors)
    }

    /// Puts `frame` on the wire at `now_ns`: the pipeline judges it and, when it answers, builds the answer
    /// in place; returns it.
    fn wire(&mut self, frame: &mut [u8], now_ns: u64) -> Option<Vec<u8>> {
        let outcome = self.pipeline.process(frame, now_ns);
        if !matches!(outcome.verdict, Verdict::Replied(_)) {
            return None;
        }
        let len = self
            .pipeline
            .build_reply(&outcome, frame, frame.len())
            .expect("reply built");
        Some(frame[..len].to_vec())
    }

    /// Runs vmkping from vmk0 and returns its output.
    fn vmkping(&mut self, src: &str, dst: &str, options: PingOptions) -> String {
        let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
        let mut session = PingSession::new(src, dst, 0x0e5c, options).expect("session");
        let mut out = vec![session.header()];
        let mut packet = vec![0u8; session.request_len()];
        let mut frame = vec![0u8; 9018];
        for k in 0..options.count {
            let now = u64::from(k) * S;
            let len = session
                .next_request(now, k as u16, &mut packet)
                .unwrap()
                .expect("a request is due");
            let mut request = [0u8; 128];
            let outcome = self
                .egress()
                .send(&packet[..len], Some(VMK0), Origin::Local, k, now, &mut request);
            let mut frames = match outcome {
                Err(err) => {
                    out.push(session.send_failed(&err));
                    continue;
                }
                Ok(Outcome::Unresolved(u)) => {
                    // Resolution on the wire: the request reaches vmk1, its answer comes back to vmk0.
                    let asked = u.request_len.expect("the first packet asks");
                    let answer = self.wire(&mut request[..asked], now).expect("vmk1 answers");
                    let back = self.pipeline.process(&answer, now);
                    assert_eq!(back.vmk, Some(VMK0), "the answer is steered to vmk0");
                    assert!(
                        matches!(back.verdict, Verdict::Delivered(_)),
                        "and recorded, not answered"
                    );
                    let mut released = Vec::new();
                    assert_eq!(self.egress().release(u.next_hop, now, |h| released.push(h)), 1);
                    assert_eq!(released, [k]);
                    match self
                        .egress()
                        .send(&packet[..len], Some(VMK0), Origin::Local, k, now, &mut request)
                    {
                        Ok(Outcome::Send(frames)) => frames,
                        other => panic!("resolved, yet {other:?}"),
                    }
                }
                Ok(Outcome::Send(frames)) => frames,
                Ok(other) => panic!("unexpected {other:?}"),
            };
            while let Some(frame_len) = frames.write_next(&mut frame).expect("room") {
                let reply = self
                    .wire(&mut frame[..frame_len], now)
                    .expect("vmk1 answers the echo request");
                let ip = EthernetFrame::new_checked(&reply[..]).unwrap().payload();
                let matched = session.on_packet(ip, now + RTT_NS).expect("our reply");
                out.push(matched.to_string());
            }
        }
        out.push(session.statistics().to_string());
        out.join("\n")
    }
}

#[test]
fn vmkping_ipv4_resolves_gets_replies_and_fails_locally_when_too_big() {
    let mut host = Host::new();
    let text = host.vmkping("10.10.10.11", "10.10.10.12", PingOptions::default());
    assert_eq!(
        text,
        "PING 10.10.10.12 (10.10.10.12): 56 data bytes\n\
         64 bytes from 10.10.10.12: icmp_seq=0 ttl=64 time=0.250 ms\n\
         64 bytes from 10.10.10.12: icmp_seq=1 ttl=64 time=0.250 ms\n\
         64 bytes from 10.10.10.12: icmp_seq=2 ttl=64 time=0.250 ms\n\
         \n\
         --- 10.10.10.12 ping statistics ---\n\
         3 packets transmitted, 3 packets received, 0% packet loss\n\
         round-trip min/avg/max = 0.250/0.250/0.250 ms\n"
    );
    // vmk0's MTU is 1500: 1472 data bytes fit with DF, 1473 do not.
    let fits = PingOptions {
        size: 1472,
        dont_fragment: true,
        count: 1,
        ..PingOptions::default()
    };
    assert!(
        host.vmkping("10.10.10.11", "10.10.10.12", fits)
            .contains("1480 bytes from 10.10.10.12: icmp_seq=0")
    );
    let too_big = PingOptions { size: 1473, ..fits };
    let text = host.vmkping("10.10.10.11", "10.10.10.12", too_big);
    assert!(text.contains("\nsendto() failed (Message too long)\n"));
    assert!(text.ends_with("1 packets transmitted, 0 packets received, 100% packet loss\n"));
}

/// After a ping, `show neighbors` of both stacks, from the pipeline's caches: vmk0's stack resolved vmk1
/// (reachable, from its ARP reply), vmk1's stack learnt vmk0 from its request (stale until confirmed).
#[test]
fn neighbors_after_a_ping() {
    let mut host = Host::new();
    host.vmkping(
        "10.10.10.11",
        "10.10.10.12",
        PingOptions {
            count: 1,
            ..PingOptions::default()
        },
    );
    let model = Arc::clone(&host.model);
    let peer = model
        .netstack_by_key(&NetstackKey::from_key("peer"))
        .expect("peer stack");
    let peer_routes = RouteTable::compile(&model, peer).expect("peer table");
    let stacks = [(&host.routes, host.routes.netstack()), (&peer_routes, peer.id)]
        .map(|(routes, id)| (routes, host.pipeline.neighbors(id).expect("cache")));
    let snapshot = NeighborSnapshot::capture(&model, stacks, 2 * S);
    assert_eq!(
        snapshot.view(None).to_text(),
        "Netstack           Neighbor     Mac Address        Vmknic  Expiry    State      Type\n\
         -----------------  -----------  -----------------  ------  --------  ---------  -------\n\
         defaultTcpipStack  10.10.10.12  00:50:56:00:00:b0  vmk0    1198 sec  Reachable  Dynamic\n\
         peer               10.10.10.11  00:50:56:00:00:a0  vmk1    1198 sec  Stale      Dynamic\n"
    );
}

#[test]
fn vmkping_ipv6_after_neighbor_discovery() {
    let mut host = Host::new();
    let text = host.vmkping(
        "fd00:10::11",
        "fd00:10::12",
        PingOptions {
            count: 2,
            ..PingOptions::default()
        },
    );
    assert_eq!(
        text,
        "PING fd00:10::12 (fd00:10::12): 56 data bytes\n\
         64 bytes from fd00:10::12: icmp_seq=0 hlim=64 time=0.250 ms\n\
         64 bytes from fd00:10::12: icmp_seq=1 hlim=64 time=0.250 ms\n\
         \n\
         --- fd00:10::12 ping statistics ---\n\
         2 packets transmitted, 2 packets received, 0% packet loss\n\
         round-trip min/avg/max = 0.250/0.250/0.250 ms\n"
    );
}
