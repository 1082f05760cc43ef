//! The pipeline on hand-built frames for the embedded default host: one test per stage and rule.

use std::net::Ipv4Addr;
use std::sync::Arc;

use etherparse::PacketBuilder;
use vmknet_common::DropReason;

use super::*;
use crate::model::HostModel;

const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x99];

struct Host {
    model: Arc<HostModel>,
    pipeline: Pipeline,
}

impl Host {
    fn new() -> Self {
        let model = Arc::new(HostModel::embedded_default());
        Self {
            pipeline: Pipeline::new(Arc::clone(&model)),
            model,
        }
    }

    fn vmk(&self, name: &str) -> &crate::model::Vmk {
        self.model.vmk_by_name(name).expect("vmk of the default host")
    }

    fn run(&mut self, frame: &[u8]) -> Outcome {
        self.pipeline.process(frame, 1_000)
    }

    /// A TCP segment from a peer in `vmk`'s subnet to `vmk` on its VLAN.
    fn tcp_to(&self, vmk: &str, src_port: u16, dst_port: u16, payload_len: usize) -> Vec<u8> {
        let v = self.vmk(vmk);
        let dst = v.ipv4_cidr().expect("static IPv4").addr;
        let src = Ipv4Addr::from(u32::from(dst) - 10);
        self.ipv4_tcp(vmk, src, dst, src_port, dst_port, payload_len)
    }

    fn ipv4_tcp(&self, vmk: &str, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, len: usize) -> Vec<u8> {
        let v = self.vmk(vmk);
        let builder = PacketBuilder::ethernet2(PEER_MAC, v.mac.0)
            .single_vlan(v.vlan.try_into().unwrap())
            .ipv4(src.octets(), dst.octets(), 64)
            .tcp(sport, dport, 1, 65535);
        let payload = vec![0u8; len];
        let mut frame = Vec::new();
        builder.write(&mut frame, &payload).unwrap();
        frame
    }

    fn udp_to(&self, vmk: &str, sport: u16, dport: u16) -> Vec<u8> {
        let v = self.vmk(vmk);
        let dst = v.ipv4_cidr().unwrap().addr;
        let builder = PacketBuilder::ethernet2(PEER_MAC, v.mac.0)
            .single_vlan(v.vlan.try_into().unwrap())
            .ipv4(Ipv4Addr::from(u32::from(dst) - 10).octets(), dst.octets(), 64)
            .udp(sport, dport);
        let mut frame = Vec::new();
        builder.write(&mut frame, &[0u8; 32]).unwrap();
        frame
    }

    fn outcome(&self, vmk: &str, verdict: Verdict) -> Outcome {
        Outcome {
            vmk: Some(self.vmk(vmk).id),
            verdict,
        }
    }
}

fn dropped(reason: DropReason, service: Option<Service>) -> Verdict {
    Verdict::Dropped { reason, service }
}

#[test]
fn services_are_delivered_on_their_adapters() {
    let mut host = Host::new();
    let cases = [
        ("vmk1", 50000, 8000, Service::Vmotion),
        ("vmk1", 8000, 50000, Service::Vmotion),
        ("vmk2", 3260, 40000, Service::Iscsi),
        ("vmk3", 3260, 40001, Service::Iscsi),
        ("vmk4", 2049, 900, Service::Nfs),
        ("vmk5", 40000, 8100, Service::FaultTolerance),
        ("vmk6", 40000, 902, Service::ReplicationNfc),
        ("vmk6", 31031, 40000, Service::Replication),
        ("vmk7", 40000, 902, Service::Provisioning),
        ("vmk8", 40000, 2233, Service::Vsan),
        ("vmk0", 40000, 443, Service::Management),
        ("vmk0", 40000, 902, Service::Management),
        ("vmk0", 4420, 40000, Service::NvmeTcp),
        ("vmk2", 40000, 3260, Service::Unclassified),
        ("vmk0", 40000, 9999, Service::Unclassified),
    ];
    for (vmk, sport, dport, service) in cases {
        let frame = host.tcp_to(vmk, sport, dport, 100);
        assert_eq!(
            host.run(&frame),
            host.outcome(vmk, Verdict::Delivered(service)),
            "{vmk} {sport}->{dport}"
        );
    }
    let frame = host.udp_to("vmk0", 53, 40000);
    assert_eq!(
        host.run(&frame),
        host.outcome("vmk0", Verdict::Delivered(Service::Infrastructure))
    );
    assert!(host.pipeline.counters().conservation().holds());
}

#[test]
fn isolation_policy_refuses_services_an_adapter_does_not_carry() {
    let mut host = Host::new();
    let cases = [
        (
            "vmk0",
            8000,
            dropped(DropReason::ServiceDisabled, Some(Service::Vmotion)),
        ),
        (
            "vmk8",
            8100,
            dropped(DropReason::ServiceDisabled, Some(Service::FaultTolerance)),
        ),
        (
            "vmk1",
            902,
            dropped(DropReason::ServiceDisabled, Some(Service::Management)),
        ),
        (
            "vmk2",
            902,
            dropped(DropReason::ServiceDisabled, Some(Service::Management)),
        ),
        (
            "vmk1",
            443,
            dropped(DropReason::ServiceDisabled, Some(Service::Management)),
        ),
    ];
    for (vmk, dport, verdict) in cases {
        let frame = host.tcp_to(vmk, 40000, dport, 10);
        assert_eq!(host.run(&frame), host.outcome(vmk, verdict), "{vmk} :{dport}");
    }
}

#[test]
fn vmotion_on_a_default_stack_adapter_is_refused_once_the_vmotion_stack_has_one() {
    let text =
        crate::model::EMBEDDED_DEFAULT.replace("tags = [\"Management\"]", "tags = [\"Management\", \"VMotion\"]");
    let model = Arc::new(HostModel::from_toml("t", &text).unwrap());
    let mut host = Host {
        pipeline: Pipeline::new(Arc::clone(&model)),
        model,
    };
    let frame = host.tcp_to("vmk0", 40000, 8000, 10);
    let verdict = dropped(DropReason::ServiceMovedToOwnStack, Some(Service::Vmotion));
    assert_eq!(host.run(&frame), host.outcome("vmk0", verdict));
}

#[test]
fn frames_not_for_a_vmk_pass_to_linux() {
    let mut host = Host::new();
    let mut frame = host.tcp_to("vmk1", 40000, 8000, 10);
    frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x42]);
    assert_eq!(
        host.run(&frame),
        Outcome {
            vmk: None,
            verdict: Verdict::Passed
        }
    );
    let mut wrong_vlan = host.tcp_to("vmk1", 40000, 8000, 10);
    wrong_vlan[15] = 21;
    assert_eq!(
        host.run(&wrong_vlan),
        Outcome {
            vmk: None,
            verdict: Verdict::Passed
        }
    );
}

#[test]
fn ingress_mtu_is_the_adapters() {
    let mut host = Host::new();
    // A 9000-byte IP packet: 20 IP + 20 TCP + 8960 payload.
    let jumbo = host.tcp_to("vmk1", 40000, 8000, 8960);
    assert_eq!(jumbo.len(), 9018);
    assert_eq!(
        host.run(&jumbo),
        host.outcome("vmk1", Verdict::Delivered(Service::Vmotion))
    );
    let too_big = host.tcp_to("vmk1", 40000, 8000, 8961);
    assert_eq!(
        host.run(&too_big),
        host.outcome("vmk1", Verdict::drop(DropReason::MtuExceeded))
    );
    let to_1500 = host.tcp_to("vmk0", 40000, 443, 1461);
    assert_eq!(
        host.run(&to_1500),
        host.outcome("vmk0", Verdict::drop(DropReason::MtuExceeded))
    );
}

#[test]
fn destination_must_be_an_address_of_the_adapters_netstack() {
    let mut host = Host::new();
    let vmk0_ip = host.vmk("vmk0").ipv4_cidr().unwrap().addr;
    let vmk2_ip = host.vmk("vmk2").ipv4_cidr().unwrap().addr;
    let peer = Ipv4Addr::new(10, 20, 20, 50);
    // vmk0's address reached through vmk1 (vmotion stack): another routing domain.
    let frame = host.ipv4_tcp("vmk1", peer, vmk0_ip, 40000, 8000, 10);
    assert_eq!(
        host.run(&frame),
        host.outcome("vmk1", Verdict::drop(DropReason::NotLocal))
    );
    // vmk2's address through vmk4: same (default) stack, so local.
    let frame = host.ipv4_tcp("vmk4", Ipv4Addr::new(10, 50, 50, 9), vmk2_ip, 2049, 800, 10);
    assert_eq!(host.run(&frame), host.outcome("vmk4", Verdict::Delivered(Service::Nfs)));
}

#[test]
fn header_errors_have_their_own_reasons() {
    let mut host = Host::new();
    let good = host.tcp_to("vmk0", 40000, 443, 10);
    let ip = 18; // after the tagged Ethernet header
    let mutate = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut frame = good.clone();
        f(&mut frame);
        frame
    };
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (mutate(&|f| f[ip] = 0x65), DropReason::IpBadVersion),
        (mutate(&|f| f[ip] = 0x44), DropReason::Ipv4BadHeaderLength),
        (mutate(&|f| f[ip] = 0x4f), DropReason::Ipv4BadHeaderLength),
        (
            mutate(&|f| f[ip + 2..ip + 4].copy_from_slice(&[0x10, 0])),
            DropReason::Ipv4BadTotalLength,
        ),
        (mutate(&|f| f[ip + 8] ^= 1), DropReason::Ipv4BadChecksum),
        (mutate(&|f| f.truncate(ip + 20 + 10)), DropReason::Ipv4BadTotalLength),
        (
            mutate(&|f| f[16..18].copy_from_slice(&[0x88, 0xcc])),
            DropReason::UnsupportedEthertype,
        ),
    ];
    for (frame, reason) in cases {
        assert_eq!(
            host.run(&frame),
            host.outcome("vmk0", Verdict::drop(reason)),
            "{reason:?}"
        );
    }
    let mut bad_tcp = good.clone();
    bad_tcp[ip + 20 + 12] = 0x40; // data offset 4 words
    let outcome = host.run(&bad_tcp);
    assert_eq!(outcome, host.outcome("vmk0", Verdict::drop(DropReason::L4Malformed)));
    assert!(host.pipeline.counters().conservation().holds());
}

#[test]
fn later_ipv4_fragments_follow_the_first() {
    let mut host = Host::new();
    let mut first = host.udp_to("vmk4", 2049, 40000);
    let ip = 18;
    // Set MF on the first fragment, fix the checksum.
    first[ip + 6] = 0x20;
    refresh_ipv4_checksum(&mut first[ip..ip + 20]);
    let mut later = first.clone();
    later[ip + 6] = 0x00;
    later[ip + 7] = 0x05; // offset 40 bytes
    refresh_ipv4_checksum(&mut later[ip..ip + 20]);
    let mut orphan = later.clone();
    orphan[ip + 5] ^= 0x77; // another identification
    refresh_ipv4_checksum(&mut orphan[ip..ip + 20]);

    assert_eq!(
        host.run(&orphan),
        host.outcome("vmk4", Verdict::drop(DropReason::FragmentOrphan))
    );
    assert_eq!(host.run(&first), host.outcome("vmk4", Verdict::Delivered(Service::Nfs)));
    assert_eq!(host.run(&later), host.outcome("vmk4", Verdict::Delivered(Service::Nfs)));
}

fn refresh_ipv4_checksum(header: &mut [u8]) {
    header[10..12].fill(0);
    let sum = crate::wire::checksum::data(header);
    header[10..12].copy_from_slice(&(!sum).to_be_bytes());
}

#[test]
fn runts_and_qinq_are_dropped_before_steering() {
    let mut host = Host::new();
    assert_eq!(
        host.run(&[0u8; 10]),
        Outcome {
            vmk: None,
            verdict: Verdict::drop(DropReason::Runt)
        }
    );
    let good = host.tcp_to("vmk0", 40000, 443, 10);
    let mut qinq = good[..12].to_vec();
    qinq.extend_from_slice(&[0x88, 0xa8, 0, 10]);
    qinq.extend_from_slice(&good[12..]);
    assert_eq!(
        host.run(&qinq),
        Outcome {
            vmk: None,
            verdict: Verdict::drop(DropReason::QinQ)
        }
    );
}

#[test]
fn arbitrary_bytes_never_panic_and_counters_add_up() {
    let mut host = Host::new();
    let seed = host.tcp_to("vmk1", 40000, 8000, 64);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for round in 0..20_000 {
        let mut frame = seed.clone();
        let len = (round * 7) % (seed.len() + 1);
        frame.truncate(len);
        for _ in 0..(round % 5) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            if !frame.is_empty() {
                let i = (state as usize) % frame.len();
                frame[i] = (state >> 32) as u8;
            }
        }
        host.run(&frame);
    }
    let conservation = host.pipeline.counters().conservation();
    assert_eq!(conservation.frames_in.packets, 20_000);
    assert!(conservation.holds());
}
