//! Criterion benches of the egress path on the embedded default's `defaultTcpipStack`: a resolved 64-byte
//! and 1500-byte IPv4 packet from vmk0 to a neighbour, a 9000-byte DF-clear packet fragmented for vmk0's MTU
//! of 1500 (seven frames), and a 1280-byte IPv6 packet. Each iteration sends one packet and writes all its
//! frames into one buffer, as a worker would before putting them on the TX ring; throughput is packets per
//! second. The packets are vmkping echo requests built by `PingSession`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vmknet::model::{HostModel, MacAddr, NetstackKey, VmkId};
use vmknet::netstack::{MAX_REQUEST_LEN, NeighborConfig, NetstackTables, Origin, Outcome, PingOptions, PingSession};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn echo_request(src: &str, dst: &str, size: usize) -> Vec<u8> {
    let options = PingOptions {
        size,
        count: 1,
        ..PingOptions::default()
    };
    let mut session = PingSession::new(ip(src), ip(dst), 1, options).expect("session");
    let mut packet = vec![0u8; session.request_len()];
    session.next_request(0, 1, &mut packet).expect("written");
    packet
}

fn egress(c: &mut Criterion) {
    let model = HostModel::embedded_default();
    let default = model.netstack_by_key(&NetstackKey::Default).expect("default stack");
    let mut tables = NetstackTables::compile(&model, default, NeighborConfig::default()).expect("tables");
    for neighbor in ["10.10.10.50", "fd00:10::50"] {
        let _ = tables.neighbors.lookup(ip(neighbor), 0);
        tables
            .egress(&model)
            .resolved(ip(neighbor), MacAddr([2, 0, 0, 0, 0, 1]), 0, |_| {});
    }
    let cases = [
        ("ipv4_64B", echo_request("10.10.10.11", "10.10.10.50", 36)),
        ("ipv4_1500B", echo_request("10.10.10.11", "10.10.10.50", 1472)),
        (
            "ipv4_9000B_fragmented",
            echo_request("10.10.10.11", "10.10.10.50", 8972),
        ),
        ("ipv6_1280B", echo_request("fd00:10::11", "fd00:10::50", 1232)),
    ];
    let mut group = c.benchmark_group("egress");
    group.throughput(Throughput::Elements(1));
    let mut frame = vec![0u8; 9018];
    let mut request = [0u8; MAX_REQUEST_LEN];
    for (name, packet) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| {
                let mut egress = tables.egress(&model);
                let Ok(Outcome::Send(mut frames)) =
                    egress.send(black_box(packet), Some(VmkId(0)), Origin::Local, 0, 1, &mut request)
                else {
                    panic!("the neighbour is resolved");
                };
                let mut bytes = 0;
                while let Ok(Some(len)) = frames.write_next(&mut frame) {
                    bytes += len;
                }
                black_box(bytes)
            });
        });
    }
    group.finish();
}

criterion_group!(benches, egress);
criterion_main!(benches);
