//! The egress path on arbitrary IP packets: routing, neighbour resolution, MTU (fragmentation, refusals,
//! ICMP errors) and frame writing into buffers of any size, plus the ping session's reply matching. Nothing
//! may panic, and every frame written fits its buffer and the sending adapter's MTU.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vmknet::model::{HostModel, MacAddr, VmkId};
use vmknet::netstack::{
    Egress, MAX_REQUEST_LEN, NeighborCache, NeighborConfig, Origin, Outcome, PingOptions, PingSession, RouteTable,
    icmp_error,
};

const S: u64 = 1_000_000_000;

/// The embedded default host and its route tables, built once: the tables are immutable, only the
/// neighbour cache is per run.
fn host() -> &'static (HostModel, Vec<RouteTable>) {
    static HOST: OnceLock<(HostModel, Vec<RouteTable>)> = OnceLock::new();
    HOST.get_or_init(|| {
        let model = HostModel::embedded_default();
        let routes = model
            .netstacks
            .iter()
            .filter_map(|n| RouteTable::compile(&model, n).ok())
            .collect();
        (model, routes)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&[selector, vmk, out_len_hi, out_len_lo], packet)) = data.split_first_chunk::<4>() else {
        return;
    };
    let (model, tables) = host();
    let Some(routes) = tables.get(usize::from(selector & 3) % tables.len().max(1)) else {
        return;
    };
    let config = NeighborConfig {
        capacity: 16,
        ..NeighborConfig::default()
    };
    let Ok(mut neighbors) = NeighborCache::new(config) else {
        return;
    };
    if selector & 4 != 0 {
        // Resolve the stacks' gateways and a neighbour so packets can leave.
        for ip in [
            "10.10.10.1",
            "10.20.20.1",
            "10.80.80.1",
            "10.10.10.50",
            "fd00:10::1",
            "fd00:20::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            let _ = neighbors.lookup(ip, S);
            neighbors.update_from_reply(ip, MacAddr([2, 0, 0, 0, 0, 1]), S);
        }
    }
    let origin = if selector & 8 != 0 {
        Origin::Forwarded
    } else {
        Origin::Local
    };
    let from = (vmk < 12).then_some(VmkId(u32::from(vmk)));
    let mut out = vec![0u8; usize::from(u16::from_be_bytes([out_len_hi, out_len_lo]) % 10_000)];
    let mut request = [0u8; MAX_REQUEST_LEN];
    let mut egress = Egress::new(model, routes, &mut neighbors);
    match egress.send(packet, from, origin, 1, S, &mut request) {
        Ok(Outcome::Send(mut frames)) => {
            let mtu = model
                .vmks
                .get(frames.link().interface.index())
                .map_or(0, |v| usize::from(v.mtu));
            while let Ok(Some(len)) = frames.write_next(&mut out) {
                assert!(len <= out.len() && len <= mtu + 18);
            }
        }
        Ok(Outcome::TooBig(too_big)) => {
            let _ = egress.write_too_big(packet, too_big, 1, &mut out);
        }
        Ok(Outcome::Unresolved(u)) => assert!(u.request_len.is_none_or(|len| len <= request.len())),
        Err(_) => {}
    }
    let _ = icmp_error::frag_needed(packet, Ipv4Addr::new(10, 10, 10, 11), 1500, 1, &mut out);
    let _ = icmp_error::packet_too_big(
        packet,
        "fd00:10::11".parse().unwrap_or(std::net::Ipv6Addr::UNSPECIFIED),
        1500,
        &mut out,
    );
    if let Ok(mut session) = PingSession::new(
        IpAddr::V4(Ipv4Addr::new(10, 10, 10, 11)),
        IpAddr::V4(Ipv4Addr::new(10, 10, 10, 50)),
        7,
        PingOptions::default(),
    ) {
        let _ = session.next_request(0, 1, &mut out);
        let _ = session.on_packet(packet, S);
    }
});
