//! Whole-crate tests: captures round-trip, labels line up, output is deterministic.

use std::collections::BTreeSet;
use std::path::PathBuf;

use vmknet::model::HostModel;

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmknet-testbed-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn captures_round_trip() {
    let dir = scratch("round-trip");
    let mix = vsphere_mix(&HostModel::embedded_default(), DEFAULT_SEED);
    let bad = bad_cases(&testbed_host());
    for (name, frames) in [("vsphere-mix", &mix), ("bad-cases", &bad)] {
        let (pcap, labels) = write_capture(&dir, name, frames).unwrap();
        let packets = read_pcap(&pcap).unwrap();
        assert_eq!(packets.len(), frames.len(), "{name}: frame count");
        for (i, ((ts, bytes), frame)) in packets.iter().zip(frames.iter()).enumerate() {
            assert_eq!(bytes, &frame.bytes, "{name}: frame {} bytes", i + 1);
            assert_eq!(*ts, capture::CAPTURE_EPOCH + capture::FRAME_SPACING * i as u32);
        }
        assert!(packets.windows(2).all(|w| w[0].0 < w[1].0), "timestamps increase");
        let read = read_labels(&labels).unwrap();
        assert_eq!(read.len(), frames.len(), "{name}: one label per frame");
        assert!(read.iter().zip(frames.iter()).all(|(l, f)| *l == f.label));
        assert_eq!(read_capture(&pcap, &labels).unwrap(), *frames);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sidecar_lines_carry_the_frame_number() {
    let dir = scratch("sidecar");
    let frames = bad_cases(&testbed_host());
    let (_, labels) = write_capture(&dir, "bad", &frames).unwrap();
    let text = std::fs::read_to_string(labels).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["frame"], 1);
    assert_eq!(first["verdict"], "dropped");
    assert_eq!(first["reason"], "runt");
    assert!(first["vmk"].is_null() && first["service"].is_null());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn same_seed_same_bytes() {
    let model = HostModel::embedded_default();
    let a = vsphere_mix(&model, 42);
    let b = vsphere_mix(&model, 42);
    assert_eq!(a, b);
    assert_ne!(a, vsphere_mix(&model, 43));
    assert_eq!(bad_cases(&testbed_host()), bad_cases(&testbed_host()));
}

#[test]
fn mix_is_realistic() {
    let model = HostModel::embedded_default();
    let mix = vsphere_mix(&model, DEFAULT_SEED);
    assert!((2500..6000).contains(&mix.len()), "{} frames", mix.len());
    // The good traffic is good: nothing in the mix is dropped.
    let dropped: Vec<_> = mix
        .iter()
        .filter(|f| f.label.verdict == "dropped")
        .map(|f| &f.label)
        .collect();
    assert!(dropped.is_empty(), "dropped in the mix: {dropped:?}");
    // Every vmk receives traffic, every service of the default host shows up.
    let vmks: BTreeSet<_> = mix.iter().filter_map(|f| f.label.vmk.as_deref()).collect();
    assert_eq!(vmks.len(), model.vmks.len());
    let services: BTreeSet<_> = mix.iter().filter_map(|f| f.label.service.as_deref()).collect();
    for service in [
        "vmotion",
        "fault_tolerance",
        "replication",
        "replication_nfc",
        "provisioning",
        "vsan",
        "iscsi",
        "nfs",
        "management",
        "infrastructure",
        "arp",
        "neighbor_discovery",
        "icmp",
        "unclassified",
    ] {
        assert!(services.contains(service), "no {service} in the mix");
    }
    assert!(mix.iter().any(|f| f.label.verdict == "passed"));
    // Jumbo vMotion: 9018-byte tagged frames of 9000-byte packets.
    let jumbo = mix
        .iter()
        .filter(|f| f.bytes.len() == 9018 && f.label.service.as_deref() == Some("vmotion"))
        .count();
    assert!(jumbo > 500, "{jumbo} jumbo vMotion frames");
    // No frame below the Ethernet minimum: the mix is what a NIC delivers.
    assert!(mix.iter().all(|f| f.bytes.len() >= frames::MIN_FRAME));
}

#[test]
fn labels_use_the_pipeline_vocabulary() {
    let services: BTreeSet<_> = Service::ALL.iter().map(|s| s.name()).collect();
    let reasons: BTreeSet<_> = Reason::ALL.iter().map(|r| r.name()).collect();
    let verdicts = ["delivered", "replied", "forwarded", "passed", "dropped"];
    let mut all = vsphere_mix(&HostModel::embedded_default(), 7);
    all.extend(bad_cases(&testbed_host()));
    for LabelledFrame { label, .. } in &all {
        assert!(verdicts.contains(&label.verdict.as_str()));
        assert!(label.service.as_deref().is_none_or(|s| services.contains(s)));
        assert!(label.reason.as_deref().is_none_or(|r| reasons.contains(r)));
        assert_eq!(label.verdict == "dropped", label.reason.is_some(), "{label:?}");
        if label.verdict == "passed" {
            assert!(label.vmk.is_none() && label.service.is_none());
        }
        assert!(!label.scenario.is_empty());
    }
}

#[test]
fn fragments_follow_their_first() {
    // In the mix, every later IPv4 fragment comes after a first fragment with the same key.
    let mix = vsphere_mix(&HostModel::embedded_default(), DEFAULT_SEED);
    let mut firsts = BTreeSet::new();
    let mut later = 0;
    for f in &mix {
        let b = &f.bytes;
        let ip = if b[12..14] == [0x81, 0x00] { 18 } else { 14 };
        if b[ip - 2..ip] != [0x08, 0x00] {
            continue;
        }
        let frag = u16::from_be_bytes([b[ip + 6], b[ip + 7]]);
        let (offset, more) = (frag & 0x1fff, frag & 0x2000 != 0);
        let key = (b[ip + 12..ip + 20].to_vec(), b[ip + 9], [b[ip + 4], b[ip + 5]]);
        if offset == 0 && more {
            firsts.insert(key);
        } else if offset > 0 {
            assert!(firsts.contains(&key), "later fragment before its first: {:?}", f.label);
            later += 1;
        }
    }
    assert!(later >= 4, "{later} later fragments");
}

/// The transport and ports of a frame's TCP or UDP header, if it has one (first fragments included).
fn ports(bytes: &[u8]) -> Option<(expect::Transport, u16, u16)> {
    use etherparse::{SlicedPacket, TransportSlice};
    let sliced = SlicedPacket::from_ethernet(bytes).ok()?;
    match sliced.transport? {
        TransportSlice::Tcp(t) => Some((expect::Transport::Tcp, t.source_port(), t.destination_port())),
        TransportSlice::Udp(u) => Some((expect::Transport::Udp, u.source_port(), u.destination_port())),
        _ => None,
    }
}

#[test]
fn mix_sends_nothing_to_client_only_ports() {
    // The host is a client on the "Out" ports: what it receives of those comes from them, never to them.
    let mix = vsphere_mix(&HostModel::embedded_default(), DEFAULT_SEED);
    let mut from_servers = BTreeSet::new();
    for f in mix.iter().filter(|f| f.label.vmk.is_some()) {
        let Some((t, sport, dport)) = ports(&f.bytes) else {
            continue;
        };
        let from_server = expect::port_entry(t, sport).is_some_and(|(who, _)| who == expect::Listener::Remote);
        if let Some((who, _)) = expect::port_entry(t, dport) {
            // NTP's symmetric 123 -> 123 is a server's reply, classified by its source port.
            assert!(
                who.host_listens() || from_server,
                "to client-only {t:?} {dport}: {:?}",
                f.label
            );
        }
        if from_server {
            from_servers.insert(f.label.service.clone().unwrap_or_default());
        }
    }
    for service in ["iscsi", "nfs", "replication", "management", "infrastructure"] {
        assert!(from_servers.contains(service), "no {service} reply from a server port");
    }
}

#[test]
fn mix_carries_nvme_tcp_on_an_nvme_adapter() {
    // The default host has no NVMe/TCP adapter; rename the second iSCSI port group and the mix finds one.
    let toml = vmknet::model::EMBEDDED_DEFAULT.replace("portgroup = \"iSCSI-B\"", "portgroup = \"NVMe-TCP\"");
    let model = HostModel::from_toml("<nvme host>", &toml).unwrap();
    let mix = vsphere_mix(&model, DEFAULT_SEED);
    assert!(mix.iter().all(|f| f.label.verdict != "dropped"));
    let nvme: Vec<_> = mix
        .iter()
        .filter(|f| f.label.service.as_deref() == Some("nvme_tcp"))
        .collect();
    assert!(nvme.len() > 100, "{} NVMe/TCP frames", nvme.len());
    assert!(nvme.iter().all(|f| f.label.vmk.as_deref() == Some("vmk3")));
    assert!(
        nvme.iter()
            .all(|f| matches!(ports(&f.bytes), Some((_, 4420 | 8009, _))))
    );
}
