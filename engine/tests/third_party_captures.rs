//! Replays the third-party captures of `shared/captures/` (see its README) through the pipeline, with the host
//! configuration each capture implies, and asserts the verdict of every frame.
//!
//! For each capture one endpoint is made a VMkernel adapter: its MAC, VLAN, address, MTU, netstack and tags are
//! what an ESXi host serving that traffic would have. The expected verdicts come from reading the capture
//! (`tcpdump -nn -e -r FILE`) and the rules the pipeline documents (steering in `vmknet_common::classify`, the
//! checks in `pipeline/mod.rs`, the port table and its tag requirements in `pipeline/service.rs`, the fact sheet
//! `shared/vmkernel.md`), never from printing the pipeline's output. Where the pipeline disagrees with what a
//! VMkernel host does, the test keeps the host's behaviour and fails with a message saying so.
//!
//! Verdicts are written as strings so a mismatch reads plainly: `passed` (not VMkernel traffic, left to Linux),
//! `vmk0 delivered nfs`, `vmk0 dropped mtu_exceeded`, `vmk0 dropped service_disabled (vmotion)` (a drop with the
//! service refused), `- dropped qinq` (a drop before any vmk was chosen). Frames are numbered from 1, as tcpdump
//! and Wireshark number them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use vmknet::io::CaptureReader;
use vmknet::model::HostModel;
use vmknet::pipeline::{Outcome, Pipeline, Service, Verdict};

// ---------------------------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------------------------

const P: &str = "passed";

/// The captures folder: `shared/` beside the repository clone (CI has the same layout).
fn captures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/captures");
    assert!(
        dir.is_dir(),
        "the third-party captures are missing: expected the folder {} (shared/ beside the repository clone)",
        dir.display()
    );
    dir
}

/// A host file with one uplink and the given `[[netstack]]`/`[[vmk]]` tables.
fn host(name: &str, body: &str) -> Arc<HostModel> {
    let text = format!("[host]\nname = \"{name}.capture.test\"\nuplinks = [\"vmnic0\"]\n\n{body}");
    match HostModel::from_toml(name, &text) {
        Ok(model) => Arc::new(model),
        Err(err) => panic!("host config `{name}` is invalid:\n{err}\n--- config ---\n{text}"),
    }
}

/// What replaying a capture gave.
struct Replay {
    capture: &'static str,
    model: Arc<HostModel>,
    /// One outcome per frame processed, in capture order.
    outcomes: Vec<Outcome>,
    /// The frames processed (as the pipeline saw them), for expectations that read headers.
    frames: Vec<Vec<u8>>,
}

impl Replay {
    /// A frame's outcome in words.
    fn describe(&self, outcome: Outcome) -> String {
        let vmk = outcome
            .vmk
            .map_or_else(|| "-".to_owned(), |id| self.model.vmks[id.index()].name.clone());
        match outcome.verdict {
            Verdict::Passed if outcome.vmk.is_none() => P.to_owned(),
            Verdict::Passed => format!("{vmk} passed"),
            Verdict::Delivered(s) => format!("{vmk} delivered {s}"),
            Verdict::Replied(s) => format!("{vmk} replied {s}"),
            Verdict::Forwarded(s) => format!("{vmk} forwarded {s}"),
            Verdict::Dropped { reason, service: None } => format!("{vmk} dropped {}", reason.name()),
            Verdict::Dropped {
                reason,
                service: Some(s),
            } => format!("{vmk} dropped {} ({s})", reason.name()),
        }
    }

    fn verdicts(&self) -> Vec<String> {
        self.outcomes.iter().map(|o| self.describe(*o)).collect()
    }

    /// Asserts the verdict of every frame, listing every frame that differs.
    fn assert_frames(&self, variant: &str, expected: &[&str]) {
        let got = self.verdicts();
        assert_eq!(
            got.len(),
            expected.len(),
            "{} [{variant}]: {} frames replayed, {} expectations written",
            self.capture,
            got.len(),
            expected.len()
        );
        let wrong: Vec<String> = got
            .iter()
            .zip(expected)
            .enumerate()
            .filter(|(_, (g, e))| g != *e)
            .map(|(i, (g, e))| format!("  frame {}: expected `{e}`, got `{g}`", i + 1))
            .collect();
        assert!(
            wrong.is_empty(),
            "{} [{variant}]: {} of {} frames got the wrong verdict:\n{}",
            self.capture,
            wrong.len(),
            got.len(),
            wrong.join("\n")
        );
    }

    /// Asserts the number of frames per verdict (every verdict that occurs must be listed).
    fn assert_counts(&self, variant: &str, expected: &[(&str, usize)]) {
        let mut got: BTreeMap<String, usize> = BTreeMap::new();
        for v in self.verdicts() {
            *got.entry(v).or_default() += 1;
        }
        let expected: BTreeMap<String, usize> = expected
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(k, n)| ((*k).to_owned(), *n))
            .collect();
        assert_eq!(
            got, expected,
            "{} [{variant}]: verdict counts (left: got, right: expected)",
            self.capture
        );
    }
}

/// Replays every frame of `capture`, which must hold `frames` frames, through a fresh pipeline for `model`.
fn replay(capture: &'static str, frames: usize, model: &Arc<HostModel>) -> Replay {
    replay_with(capture, frames, model, |_, _| true)
}

/// Replays `capture` (which must hold `frames` frames), letting `edit` see each frame first, by 0-based index:
/// it may change the bytes, and returns whether the frame is replayed at all. Checks on the way that the
/// pipeline never panics, that every processed frame is counted in and got exactly one verdict (conservation),
/// and that the counters per (vmk, service, verdict) add up to the outcomes returned.
fn replay_with(
    capture: &'static str,
    frames: usize,
    model: &Arc<HostModel>,
    mut edit: impl FnMut(usize, &mut Vec<u8>) -> bool,
) -> Replay {
    let path = captures_dir().join(capture);
    let mut reader = CaptureReader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut pipeline = Pipeline::new(Arc::clone(model));
    let mut outcomes = Vec::new();
    let mut processed = Vec::new();
    let mut read = 0usize;
    let mut bytes = 0u64;
    while let Some(frame) = reader
        .next_frame()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        let mut data = frame.data.to_vec();
        let now = frame.timestamp_ns;
        let index = read;
        read += 1;
        if !edit(index, &mut data) {
            continue;
        }
        outcomes.push(pipeline.process(&data, now));
        bytes += data.len() as u64;
        processed.push(data);
    }
    assert_eq!(
        read, frames,
        "{capture}: the README lists {frames} frames, the file holds {read}"
    );

    let counters = pipeline.counters();
    let conservation = counters.conservation();
    assert!(
        conservation.holds(),
        "{capture}: counters do not add up: {conservation:?}"
    );
    assert_eq!(
        conservation.frames_in.packets,
        outcomes.len() as u64,
        "{capture}: frames_in differs from the frames replayed"
    );
    assert_eq!(
        conservation.frames_in.bytes, bytes,
        "{capture}: bytes in differ from the bytes replayed"
    );
    // Each counter cell (vmk, service, verdict kind) holds exactly the frames whose outcome falls in it.
    let mut by_cell: BTreeMap<(Option<usize>, Option<Service>, usize), u64> = BTreeMap::new();
    for o in &outcomes {
        *by_cell
            .entry((o.vmk.map(|v| v.index()), o.verdict.service(), o.verdict.kind_index()))
            .or_default() += 1;
    }
    let cells: BTreeMap<_, u64> = counters.cells().map(|(v, s, k, t)| ((v, s, k), t.packets)).collect();
    assert_eq!(cells, by_cell, "{capture}: counter cells differ from the outcomes");

    Replay {
        capture,
        model: Arc::clone(model),
        outcomes,
        frames: processed,
    }
}

/// `n` copies of `verdict`, for writing long per-frame lists.
fn times(n: usize, verdict: &'static str) -> impl Iterator<Item = &'static str> {
    std::iter::repeat_n(verdict, n)
}

/// Per-frame expectations from the 1-based frame numbers that carry `hit`; every other frame is `other`.
fn frames_where(total: usize, numbers: &[usize], hit: &'static str, other: &'static str) -> Vec<&'static str> {
    (1..=total)
        .map(|n| if numbers.contains(&n) { hit } else { other })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-icmp_dot1q.pcap — 802.1Q VID 123; ARP and ICMP echo between 192.168.123.1 and .2
// ---------------------------------------------------------------------------------------------------------------
//
//  #  src > dst (all VID 123)           what
//  1  .1's MAC > broadcast              gratuitous ARP reply, sender = target = 192.168.123.1
//  2  .2's MAC > broadcast              gratuitous ARP reply, sender = target = 192.168.123.2
//  3  .2 > broadcast                    ARP request who-has .1 tell .2
//  4  .1 > .2 (PCP 7)                   ARP reply .1 is-at, target .2
//  5  .2 > .1                           echo request seq 0 (never answered)
//  6  .1 > broadcast                    ARP request who-has .2 tell .1
//  7  .2 > .1 (PCP 7)                   ARP reply .2 is-at, target .1
//  8-15                                 echo request .2 > .1 / echo reply .1 > .2, seq 1-4, alternating

const DOT1Q: &str = "zeek-icmp_dot1q.pcap";
const DOT1Q_VMK_1: &str = r#"
[[vmk]]
name = "vmk0"
portgroup = "Management Network"
mac = "00:19:06:ea:b8:c1"
vlan = 123
ipv4 = "192.168.123.1/24"
tags = ["Management"]
"#;

/// The pinged host 192.168.123.1 is a management vmk on VLAN 123 (VST: the vSwitch strips tag 123 for it).
/// Broadcast ARP is steered by its target address on the frame's VLAN, unicast by the vmk MAC on that VLAN;
/// PCP bits do not change the VLAN. A request for the vmk's address is answered, an announcement or a reply
/// for it delivered to ARP; echo requests to its address are answered; the frames .1 itself sends (to .2 or
/// broadcast for .2) are not for it.
#[test]
fn icmp_dot1q_vmk_is_the_pinged_host() {
    let model = host("dot1q-a", DOT1Q_VMK_1);
    let r = replay(DOT1Q, 15, &model);
    let arp = "vmk0 delivered arp";
    let answer_arp = "vmk0 replied arp";
    let echo = "vmk0 replied icmp";
    #[rustfmt::skip]
    let expected = [
        arp,        // 1 gratuitous ARP for .1 (target .1 = the vmk's address): an announcement, not answered
        P,          // 2 gratuitous ARP for .2: target not ours
        answer_arp, // 3 who-has .1
        P,          // 4 .1's own reply to .2
        echo,       // 5 echo request to .1
        P,          // 6 .1 asks for .2
        arp,        // 7 reply to .1 (unicast, PCP 7)
        echo, P, echo, P, echo, P, echo, P, // 8-15 requests to .1, its replies
    ];
    r.assert_frames("vmk = 192.168.123.1", &expected);
    r.assert_counts("vmk = 192.168.123.1", &[(arp, 2), (answer_arp, 1), (echo, 5), (P, 7)]);
}

/// The other end: the pinging host 192.168.123.2 is the vmk (a `vmkping` from the host). It receives the ARP
/// for its address (answered) and the four echo replies (delivered).
#[test]
fn icmp_dot1q_vmk_is_the_pinging_host() {
    let model = host(
        "dot1q-b",
        r#"
[[vmk]]
name = "vmk0"
portgroup = "Management Network"
mac = "00:18:73:de:57:c1"
vlan = 123
ipv4 = "192.168.123.2/24"
tags = ["Management"]
"#,
    );
    let r = replay(DOT1Q, 15, &model);
    let arp = "vmk0 delivered arp";
    let icmp = "vmk0 delivered icmp";
    #[rustfmt::skip]
    let expected = [
        P,    // 1 gratuitous ARP for .1
        arp,  // 2 gratuitous ARP for .2 (target = the vmk's address)
        P,    // 3 the vmk asks for .1
        arp,  // 4 reply to the vmk (unicast, PCP 7)
        P,    // 5 the vmk's echo request
        "vmk0 replied arp", // 6 who-has .2
        P,    // 7 the vmk's reply
        P, icmp, P, icmp, P, icmp, P, icmp, // 8-15 its requests, the replies to it
    ];
    r.assert_frames("vmk = 192.168.123.2", &expected);
    r.assert_counts(
        "vmk = 192.168.123.2",
        &[(arp, 2), ("vmk0 replied arp", 1), (icmp, 4), (P, 8)],
    );
}

/// The right MAC and address on the wrong VLAN (untagged, VLAN 0): a vSwitch port on VLAN 0 never sees VID 123
/// frames, and steering keys on (VLAN, MAC) and (VLAN, ARP target), so nothing is VMkernel traffic.
#[test]
fn icmp_dot1q_vmk_on_another_vlan_gets_nothing() {
    let model = host("dot1q-c", &DOT1Q_VMK_1.replace("vlan = 123", "vlan = 0"));
    let r = replay(DOT1Q, 15, &model);
    r.assert_frames("vmk .1 on VLAN 0", &times(15, P).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-q-in-q.pcap — double 802.1Q (0x8100/0x8100), outer VID 13, inner VID 10
// ---------------------------------------------------------------------------------------------------------------
//
//  1-2  00:c0:e4:01:2c:ed > broadcast   UDP BACnet 172.19.51.37:47808 > 172.19.51.63 (the /26 directed broadcast)
//  3-4  > 01:00:5e:02:7f:fe             UDP SAP 193.1.186.60:9875 > 224.2.127.254
//  5    e0:cb:4e:5e:1a:0e > broadcast   ARP who-has 128.2.46.148 tell 128.2.46.227

const QINQ: &str = "zeek-q-in-q.pcap";

/// A vmk port is a VST access port (fact sheet §2.2) and never takes stacked tags. Steering drops QinQ only when
/// it is addressed to a vmk MAC (`qinq`); every frame here is broadcast or multicast, so all are Linux's. That
/// holds with the BACnet device as a vmk on the outer VLAN 13 (its /26 broadcast .63 would be delivered
/// single-tagged) and with the ARP target 128.2.46.148 as a vmk on either VLAN.
#[test]
fn q_in_q_broadcast_and_multicast_are_passed() {
    let bacnet = host(
        "qinq-a",
        r#"
[[vmk]]
name = "vmk0"
mac = "00:c0:e4:01:2c:ed"
vlan = 13
ipv4 = "172.19.51.37/26"
"#,
    );
    let r = replay(QINQ, 5, &bacnet);
    r.assert_frames("vmk = BACnet 172.19.51.37/26 on VLAN 13", &[P; 5]);

    for vlan in [10, 13] {
        // The ARP target's MAC is not in the capture: any VMware MAC will do, no frame is unicast.
        let arp_target = host(
            "qinq-b",
            &format!(
                r#"
[[vmk]]
name = "vmk0"
mac = "00:50:56:80:2e:94"
vlan = {vlan}
ipv4 = "128.2.46.148/24"
"#
            ),
        );
        let r = replay(QINQ, 5, &arp_target);
        r.assert_frames(&format!("vmk = ARP target 128.2.46.148 on VLAN {vlan}"), &[P; 5]);
    }
}

/// Derived from the capture: the same five double-tagged frames with their destination MAC rewritten to the
/// vmk's MAC. Now they are addressed to a VMkernel port that cannot take QinQ, and steering drops each one as
/// `qinq` before any vmk is chosen (`vmknet_common::classify`).
#[test]
fn q_in_q_to_a_vmk_mac_is_dropped_qinq() {
    let model = host(
        "qinq-c",
        r#"
[[vmk]]
name = "vmk0"
mac = "00:c0:e4:01:2c:ed"
vlan = 13
ipv4 = "172.19.51.37/26"
"#,
    );
    let vmk_mac = [0x00, 0xc0, 0xe4, 0x01, 0x2c, 0xed];
    let r = replay_with(QINQ, 5, &model, |_, frame| {
        frame[..6].copy_from_slice(&vmk_mac);
        true
    });
    r.assert_frames("frames readdressed to the vmk MAC", &["- dropped qinq"; 5]);
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-http-vlan-0.pcap — priority-tagged (VID 0, PCP 5, DEI) HTTP: 141.142.228.5:59856 > 192.150.187.43:80
// ---------------------------------------------------------------------------------------------------------------
//
// Client c8:bc:c8:96:d2:a0 > server 00:10:db:88:d2:ef: frames 1, 3, 4, 10, 11, 12, 14 (SYN, ACK, GET, ACKs, FIN).
// Server > client: frames 2, 5-9, 13 (SYN/ACK, 200 OK in three 1500-byte packets and a 715-byte one, FIN).

const HTTP_VLAN0: &str = "zeek-http-vlan-0.pcap";
const HTTP_TO_SERVER: [usize; 7] = [1, 3, 4, 10, 11, 12, 14];
const HTTP_SERVER_VMK: &str = r#"
[[vmk]]
name = "vmk0"
portgroup = "Management Network"
mac = "00:10:db:88:d2:ef"
vlan = 0
ipv4 = "192.150.187.43/24"
tags = ["Management"]
"#;

/// The web server 192.150.187.43 is a management vmk on the untagged VLAN 0 (the host's web welcome page,
/// TCP 80 In, fact sheet §3). 802.1Q VID 0 is a priority tag, not a VLAN (§2.2): the frames belong to VLAN 0
/// and PCP/DEI change nothing. The client's seven segments to port 80 are management traffic; the server's own
/// segments go to the client's MAC and are not the vmk's.
#[test]
fn http_vlan_0_priority_tagged_frames_reach_the_untagged_management_vmk() {
    let model = host("http-vlan0-a", HTTP_SERVER_VMK);
    let r = replay(HTTP_VLAN0, 14, &model);
    let mgmt = "vmk0 delivered management";
    r.assert_frames(
        "vmk = web server, Management",
        &frames_where(14, &HTTP_TO_SERVER, mgmt, P),
    );
    r.assert_counts("vmk = web server, Management", &[(mgmt, 7), (P, 7)]);
}

/// The same vmk without the Management tag: port 80 is a management port, and management is enabled only by
/// its tag (service.rs `Requirement::Tag`), so the client's segments are dropped `service_disabled`.
#[test]
fn http_vlan_0_without_management_tag_is_service_disabled() {
    let model = host("http-vlan0-b", &HTTP_SERVER_VMK.replace("tags = [\"Management\"]", ""));
    let r = replay(HTTP_VLAN0, 14, &model);
    let disabled = "vmk0 dropped service_disabled (management)";
    r.assert_frames(
        "vmk = web server, no tag",
        &frames_where(14, &HTTP_TO_SERVER, disabled, P),
    );
}

/// The right MAC on VLAN 5: priority-tagged frames are VLAN 0, so none reaches a VLAN 5 port.
#[test]
fn http_vlan_0_vmk_on_a_real_vlan_gets_nothing() {
    let model = host("http-vlan0-c", &HTTP_SERVER_VMK.replace("vlan = 0", "vlan = 5"));
    let r = replay(HTTP_VLAN0, 14, &model);
    r.assert_frames("vmk = web server on VLAN 5", &[P; 14]);
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-5-pings.pcap — untagged echo 172.16.133.2 (00:0c:29:cf:30:15) > 172.217.11.78 via a6:83:e7:0c:90:64
// ---------------------------------------------------------------------------------------------------------------

const PINGS: &str = "zeek-5-pings.pcap";
const PINGS_VMK: &str = r#"
[[netstack]]
key = "defaultTcpipStack"
ipv4_gateway = "172.16.133.1"

[[vmk]]
name = "vmk0"
portgroup = "Management Network"
mac = "00:0c:29:cf:30:15"
ipv4 = "172.16.133.2/24"
tags = ["Management"]
"#;

/// The pinging host is the vmk (`vmkping 172.217.11.78` through the default stack's gateway; the gateway's
/// address is not in the capture, any in-subnet one does). Its requests go to the gateway MAC (passed); the
/// five replies come to its MAC and address and are delivered to ICMP.
#[test]
fn five_pings_replies_reach_the_pinging_vmk() {
    let model = host("pings-a", PINGS_VMK);
    let r = replay(PINGS, 10, &model);
    let icmp = "vmk0 delivered icmp";
    r.assert_frames("vmk = 172.16.133.2", &[P, icmp, P, icmp, P, icmp, P, icmp, P, icmp]);
}

/// The same adapter on VLAN 20: untagged frames are VLAN 0, so its MAC on VLAN 20 matches nothing.
#[test]
fn five_pings_vmk_on_another_vlan_gets_nothing() {
    let model = host("pings-b", &PINGS_VMK.replace("tags =", "vlan = 20\ntags ="));
    let r = replay(PINGS, 10, &model);
    r.assert_frames("vmk on VLAN 20", &[P; 10]);
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-icmp6-nd-options.pcap — ND and MLD on one untagged link
// ---------------------------------------------------------------------------------------------------------------
//
// Router c2:00:54:f5:00:00 (fe80::c000:54ff:fef5:0, 2001:db8:0:1:c000:54ff:fef5:0) and host 00:0c:29:0e:4c:67
// (fe80::20c:29ff:fe0e:4c67, 2001:db8:0:1:20c:29ff:fe0e:4c67, temporary 2001:db8:0:1:fd97:f9f0:a810:782e).
//
//   1  NS  :: > ff02::1:fff5:0       DAD for the router's fe80::c000:54ff:fef5:0
//   2  NA  > ff02::1                  router, unsolicited
//   3  RA  > ff02::1                  prefix 2001:db8:0:1::/64
//   4  MLDv2 report > ff02::16        (hop-by-hop header)
//   5  MLDv2 report > ff02::16
//   6  NS  :: > ff02::1:fff5:0       DAD for the router's 2001:db8:0:1:c000:54ff:fef5:0
//   7  MLDv2 report > ff02::16
//   8  MLDv2 report > ff02::16
//   9  NA  > ff02::1                  router, unsolicited
//  10  RA  > ff02::1
//  11  RA  > ff02::1
//  12  MLDv1 report > ff02::1:ff0e:4c67 (MAC 33:33:ff:0e:4c:67, hop-by-hop header)
//  13  RS  :: > ff02::2
//  14  NS  :: > ff02::1:ff0e:4c67    DAD for the host's fe80::20c:29ff:fe0e:4c67
//  15  RA  > ff02::1
//  16  MLDv1 report > ff02::1:ff10:782e
//  17  NS  :: > ff02::1:ff10:782e    DAD for the host's temporary 2001:db8:0:1:fd97:f9f0:a810:782e
//  18  NS  :: > ff02::1:ff0e:4c67    DAD for the host's 2001:db8:0:1:20c:29ff:fe0e:4c67
//  19  MLDv1 report > ff02::1:ff10:782e
//  20  MLDv1 report > ff02::1:ff0e:4c67

const ND: &str = "zeek-icmp6-nd-options.pcap";
const ND_VMK: &str = r#"
[[vmk]]
name = "vmk0"
mac = "00:0c:29:0e:4c:67"
vlan = 0
ipv6 = ["2001:db8:0:1:20c:29ff:fe0e:4c67/64"]
ipv6_router_advertisement = false
"#;

/// The host is the vmk, with its static address 2001:db8:0:1:20c:29ff:fe0e:4c67 (SLAAC off). Its link-local
/// fe80::20c:29ff:fe0e:4c67 (EUI-64 of its MAC) has the same low 24 bits, so both live in the solicited-node
/// group ff02::1:ff0e:4c67. Steering takes a neighbour solicitation to the group of a vmk address (frames 14,
/// 18). Frame 18 probes (duplicate address detection) the vmk's own address: the vmk defends it with an
/// advertisement (replied); frame 14 probes the link-local address, which is not configured on the vmk, and
/// is delivered to neighbour discovery. Every other frame is multicast to all-nodes, all-routers, the
/// MLDv2 routers group or another node's group, or is an MLD report (hop-by-hop header first, not an NS), none
/// addressed to the vmk's MAC, so they are passed.
#[test]
fn icmp6_nd_solicitations_for_the_vmk_address_are_neighbor_discovery() {
    let model = host("nd-a", ND_VMK);
    let r = replay(ND, 20, &model);
    let nd = "vmk0 delivered neighbor_discovery";
    let defended = "vmk0 replied neighbor_discovery";
    let mut expected = frames_where(20, &[14], nd, P);
    expected[17] = defended;
    r.assert_frames("vmk = host, static address", &expected);
    r.assert_counts("vmk = host, static address", &[(nd, 1), (defended, 1), (P, 18)]);
}

/// With the temporary address 2001:db8:0:1:fd97:f9f0:a810:782e configured too, the vmk also joins
/// ff02::1:ff10:782e and receives frame 17's solicitation, which it answers as it does 18; the MLD reports to
/// that group stay passed.
#[test]
fn icmp6_nd_second_address_adds_its_group() {
    let model = host(
        "nd-b",
        &ND_VMK.replace(
            "ipv6 = [\"2001:db8:0:1:20c:29ff:fe0e:4c67/64\"]",
            "ipv6 = [\"2001:db8:0:1:20c:29ff:fe0e:4c67/64\", \"2001:db8:0:1:fd97:f9f0:a810:782e/64\"]",
        ),
    );
    let r = replay(ND, 20, &model);
    let nd = "vmk0 delivered neighbor_discovery";
    let mut expected = frames_where(20, &[14, 17, 18], "vmk0 replied neighbor_discovery", P);
    expected[13] = nd;
    r.assert_frames("vmk = host, two addresses", &expected);
}

/// Solicited-node steering is per VLAN: the same adapter on VLAN 7 receives none of these untagged frames.
#[test]
fn icmp6_nd_vmk_on_another_vlan_gets_nothing() {
    let model = host("nd-c", &ND_VMK.replace("vlan = 0", "vlan = 7"));
    let r = replay(ND, 20, &model);
    r.assert_frames("vmk = host on VLAN 7", &[P; 20]);
}

// ---------------------------------------------------------------------------------------------------------------
// sv-ipv4frags.pcap — echo request 2.1.1.2 > 2.1.1.1 in two IPv4 fragments (ID 0xb5d0), unfragmented reply
// ---------------------------------------------------------------------------------------------------------------
//
//  1  08:00:27:fc:6a:c9 > 08:00:27:e2:9f:a6  first fragment, MF=1, offset 0, 996 bytes (ICMP header inside)
//  2  same                                   last fragment, MF=0, offset 976, 452 bytes
//  3  08:00:27:e2:9f:a6 > 08:00:27:fc:6a:c9  echo reply 2.1.1.1 > 2.1.1.2, 1428 bytes, not fragmented

const FRAGS: &str = "sv-ipv4frags.pcap";
const FRAGS_VMK_PINGED: &str = r#"
[[vmk]]
name = "vmk0"
mac = "08:00:27:e2:9f:a6"
ipv4 = "2.1.1.1/24"
tags = ["Management"]
"#;

/// The pinged host 2.1.1.1 is the vmk: the first fragment carries the ICMP header (echo request → ICMP); the
/// last fragment has no transport header and follows its first fragment's service (key: source, destination,
/// protocol, ID). The reply is the vmk's own.
#[test]
fn ipv4_frags_later_fragment_follows_the_first() {
    let model = host("frags-a", FRAGS_VMK_PINGED);
    let r = replay(FRAGS, 3, &model);
    let icmp = "vmk0 delivered icmp";
    r.assert_frames("vmk = 2.1.1.1", &[icmp, icmp, P]);
}

/// The pinging host 2.1.1.2 is the vmk (`vmkping -s 1400` without -d, fragmented at the source): it receives
/// only the 1428-byte reply, within its 1500 MTU.
#[test]
fn ipv4_frags_pinging_vmk_gets_the_reply() {
    let model = host(
        "frags-b",
        r#"
[[vmk]]
name = "vmk0"
mac = "08:00:27:fc:6a:c9"
ipv4 = "2.1.1.2/24"
tags = ["Management"]
"#,
    );
    let r = replay(FRAGS, 3, &model);
    r.assert_frames("vmk = 2.1.1.2", &[P, P, "vmk0 delivered icmp"]);
}

/// Without its first fragment (frame 1 not replayed), the last fragment has no service to follow: it is an
/// orphan, dropped `fragment_orphan`.
#[test]
fn ipv4_frags_last_fragment_alone_is_an_orphan() {
    let model = host("frags-c", FRAGS_VMK_PINGED);
    let r = replay_with(FRAGS, 3, &model, |i, _| i != 0);
    r.assert_frames("vmk = 2.1.1.1, frame 1 missing", &["vmk0 dropped fragment_orphan", P]);
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-ipv6-fragmented-dns.pcap — DNS over UDP/IPv6, resolver 2607:f740:b::f93:53
// ---------------------------------------------------------------------------------------------------------------
//
// Client 2001:470:1f11:81f:d138:5f55:6d4:1fe2 (c4:2c:03:3b:6c:aa) > resolver (d8:30:62:48:c5:b5):
//  1  query (sport 51850)        2  reply, unfragmented, sport 53 > 51850
//  3  query (sport 51851)        4  fragment ID 1, offset 2896, M=0: a last fragment whose first never came
//  5  query retransmitted        6  fragment ID 2, offset 0, M=1: UDP header 53 > 51851 (UDP length 3238)
//                                7  fragment ID 2, offset 1432, M=1
//                                8  fragment ID 2, offset 2864, M=0

const DNS6: &str = "zeek-ipv6-fragmented-dns.pcap";

/// The DNS client is a default-stack vmk (the host's own resolver, §3: DNS client replies come back to the
/// host). Replies from port 53 are infrastructure. The orphan last fragment (frame 4) has no first fragment →
/// `fragment_orphan`. The complete datagram's first fragment carries the UDP header, sport 53 → infrastructure,
/// and its two later fragments follow it. The first fragment's UDP length field is the whole datagram's (3238),
/// longer than the fragment (RFC 8200 §4.5: only the first fragment has the header; the length covers the
/// reassembled datagram), so a length check against the fragment must not apply.
#[test]
fn ipv6_fragmented_dns_reply_is_infrastructure_and_orphan_is_dropped() {
    let model = host(
        "dns6",
        r#"
[[vmk]]
name = "vmk0"
portgroup = "Management Network"
mac = "c4:2c:03:3b:6c:aa"
ipv6 = ["2001:470:1f11:81f:d138:5f55:6d4:1fe2/64"]
tags = ["Management"]
"#,
    );
    let r = replay(DNS6, 8, &model);
    let infra = "vmk0 delivered infrastructure";
    let got = r.verdicts();
    assert_ne!(
        got[5], "vmk0 dropped l4_malformed",
        "PIPELINE DISAGREES WITH VMKERNEL ({DNS6}): frame 6, the first fragment of a fragmented DNS reply (IPv6 \
         fragment offset 0, M=1), is dropped l4_malformed because its UDP length field (the whole datagram, 3238) \
         exceeds the fragment; expected `{infra}`, and frames 7-8 then become orphans (all verdicts: {got:?})"
    );
    r.assert_frames(
        "vmk = DNS client",
        &[P, infra, P, "vmk0 dropped fragment_orphan", P, infra, infra, infra],
    );
}

// ---------------------------------------------------------------------------------------------------------------
// zeek-nfs_base.pcap — NFSv3 over TCP and MOUNT over UDP
// ---------------------------------------------------------------------------------------------------------------
//
// The README has the roles reversed: the capture shows client 10.111.131.18 (00:50:56:b2:4e:d3, ports 55647,
// 720; MOUNT from 59951, 765, 53989, 1016) > server 10.111.131.132 (00:50:56:b2:78:69) on TCP 2049 and UDP
// 20048 (mountd). 99 frames: 52 client > server (47 TCP to 2049, 5 UDP to 20048), 47 server > client (42 TCP
// from 2049, 5 UDP from 20048).

/// The ESXi host is the NFS client: a default-stack vmk with no tag (IP storage needs none, §2.3/§3; it runs on
/// the default stack). The server's 42 TCP segments from port 2049 are NFS (a remote listener's reply, matched
/// by source port). Its 5 MOUNT replies come from 20048: mountd's port is dynamic (§3), not in the port table,
/// so they are delivered unclassified to the stack's default sink. The client's own 52 frames are passed.
#[test]
fn nfs_base_client_vmk_receives_nfs_and_unclassified_mount_replies() {
    let model = host(
        "nfs3",
        r#"
[[vmk]]
name = "vmk0"
portgroup = "NFS"
mac = "00:50:56:b2:4e:d3"
ipv4 = "10.111.131.18/24"
"#,
    );
    let r = replay("zeek-nfs_base.pcap", 99, &model);
    r.assert_counts(
        "vmk = NFS client 10.111.131.18",
        &[("vmk0 delivered nfs", 42), ("vmk0 delivered unclassified", 5), (P, 52)],
    );
}

// ---------------------------------------------------------------------------------------------------------------
// sv-nfs4-01.pcap — NFSv4.1 over TCP, client 192.168.0.26:880 > server 192.168.0.61:2049
// ---------------------------------------------------------------------------------------------------------------
//
// Client 00:0c:29:52:a6:57, server 00:0c:29:e9:13:b1. Of the 38 frames to the client, 5 come from the server's
// MAC and 33 (frame 5 first) from 8c:85:90:0c:b6:f8, a router on the path; the other 43 frames go to the server.

const NFS4: &str = "sv-nfs4-01.pcap";
const NFS4_TO_CLIENT: [usize; 38] = [
    2, 5, 8, 10, 11, 12, 16, 18, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43, 45, 47, 49, 51, 54, 57, 59, 61,
    63, 65, 68, 71, 73, 75, 77, 79, 80,
];
const NFS4_CLIENT_VMK: &str = r#"
[[vmk]]
name = "vmk0"
portgroup = "NFS"
mac = "00:0c:29:52:a6:57"
ipv4 = "192.168.0.26/24"
"#;

/// The ESXi host is the NFS 4.1 client (it never serves NFS), a default-stack vmk. Steering matches the
/// destination MAC on the VLAN; the source MAC plays no part, so the replies relayed by the router (frame 5 and
/// 32 others) are delivered like those from the server's own MAC. All 38 come from port 2049: NFS. The
/// client's 43 segments to the server are passed.
#[test]
fn nfs4_client_vmk_receives_every_reply_whatever_the_source_mac() {
    let model = host("nfs4-a", NFS4_CLIENT_VMK);
    let r = replay(NFS4, 81, &model);
    let nfs = "vmk0 delivered nfs";
    r.assert_frames("vmk = NFS client", &frames_where(81, &NFS4_TO_CLIENT, nfs, P));
    r.assert_counts("vmk = NFS client", &[(nfs, 38), (P, 43)]);
}

/// The same client on a custom netstack: IP storage runs only on the default stack (`carries_ip_storage`), so
/// the NFS replies are dropped `service_disabled`.
#[test]
fn nfs4_client_on_a_custom_stack_is_service_disabled() {
    let body = r#"
[[netstack]]
key = "storage"

[[vmk]]
name = "vmk0"
netstack = "storage"
portgroup = "NFS"
mac = "00:0c:29:52:a6:57"
ipv4 = "192.168.0.26/24"
"#;
    let model = host("nfs4-b", body);
    let r = replay(NFS4, 81, &model);
    let disabled = "vmk0 dropped service_disabled (nfs)";
    r.assert_frames(
        "vmk = NFS client on a custom stack",
        &frames_where(81, &NFS4_TO_CLIENT, disabled, P),
    );
}

// ---------------------------------------------------------------------------------------------------------------
// tcpdump-nfs-jumbo8014.pcapng — one 8014-byte frame: NFS client 10.131.101.60:923 > server 10.131.101.118:2049
// ---------------------------------------------------------------------------------------------------------------

const JUMBO: &str = "tcpdump-nfs-jumbo8014.pcapng";

/// The ESXi host is the NFS client 10.131.101.60 (source port 923, a reserved port NFS clients use; 2049 is the
/// server's). Its vmk has MTU 9000 — it sent an 8000-byte IP packet — but it does not receive this frame: the
/// frame is addressed to the server's MAC, so it is passed.
#[test]
fn nfs_jumbo_frame_is_sent_by_the_client_vmk_not_received() {
    let model = host(
        "jumbo-a",
        r#"
[[vmk]]
name = "vmk0"
portgroup = "NFS"
mac = "00:1c:c4:0e:63:8c"
mtu = 9000
ipv4 = "10.131.101.60/24"
"#,
    );
    let r = replay(JUMBO, 1, &model);
    r.assert_frames("vmk = NFS client, MTU 9000", &[P]);
}

/// Were the receiving end a 1500-MTU vmk, the 8000-byte IP packet would exceed its MTU: jumbo frames must be
/// configured end to end (§5 rules 1-3); the frame is dropped `mtu_exceeded` before anything else is read.
#[test]
fn nfs_jumbo_frame_to_a_1500_mtu_vmk_exceeds_the_mtu() {
    let model = host(
        "jumbo-b",
        r#"
[[vmk]]
name = "vmk0"
mac = "00:60:16:1d:d8:ab"
mtu = 1500
ipv4 = "10.131.101.118/24"
"#,
    );
    let r = replay(JUMBO, 1, &model);
    r.assert_frames("vmk = receiver, MTU 1500", &["vmk0 dropped mtu_exceeded"]);
}

// ---------------------------------------------------------------------------------------------------------------
// tcpdump-bigtcp-ipv4.pcap — one 80066-byte BIG TCP super-frame 10.25.132.13 > 10.25.132.11:36425
// ---------------------------------------------------------------------------------------------------------------

const BIGTCP: &str = "tcpdump-bigtcp-ipv4.pcap";

/// To a vmk, even at the largest MTU (9000, §2.1), an 80052-byte IP packet (IPv4 total length 0, the BIG TCP
/// convention) cannot be a received frame: dropped `mtu_exceeded`, no service known.
#[test]
fn bigtcp_super_frame_to_a_vmk_exceeds_the_mtu() {
    let model = host(
        "bigtcp-a",
        r#"
[[vmk]]
name = "vmk0"
mac = "06:00:de:ad:be:ef"
mtu = 9000
ipv4 = "10.25.132.11/24"
"#,
    );
    let r = replay(BIGTCP, 1, &model);
    r.assert_frames("vmk = receiver 10.25.132.11, MTU 9000", &["vmk0 dropped mtu_exceeded"]);
}

/// As the sending end (the stack that built the GSO super-frame), the vmk does not receive it: passed.
#[test]
fn bigtcp_super_frame_from_the_vmk_is_passed() {
    let model = host(
        "bigtcp-b",
        r#"
[[vmk]]
name = "vmk0"
mac = "b8:ce:f6:04:8b:14"
mtu = 9000
ipv4 = "10.25.132.13/24"
"#,
    );
    let r = replay(BIGTCP, 1, &model);
    r.assert_frames("vmk = sender 10.25.132.13", &[P]);
}

// ---------------------------------------------------------------------------------------------------------------
// ndpi-synscan.pcap — nmap SYN scan 172.16.0.8 (00:25:b3:bf:91:ee) > 64.13.134.52 (00:26:0b:31:07:33)
// ---------------------------------------------------------------------------------------------------------------
//
// 2011 frames: 1994 SYNs to 1000 ports (two each, one each to 22, 25, 53, 70, 80 and 31337), source ports
// 36050/36051/36061 (none a service port); 17 answers from the scanned host (12 SYN/ACK from 22, 53, 80; 5 RST)
// go to the scanner's MAC.
//
// Ports of the fact sheet's table (§3) among the scanned ones, and what a management vmk does with a SYN to it:
//   443, 80, 22, 427, 5988, 5989 (Management, In)               → delivered management
//   902 (shared NFC/authd: the Management tag decides, service.rs) → delivered management
//   8000 (vMotion), 8100/8200/8300 (FT), 8080 (vSAN VASA)       → dropped service_disabled: In+Out services whose
//                                                                 tag the vmk lacks
//   2049, 111 (NFS), 3260 (iSCSI), 8009 (NVMe/TCP discovery), 53 (DNS), 514 (syslog): Out only — the host is the
//   client and never listens there, so a SYN to them is traffic to no service of the host → unclassified.
//   12345 and 161 are vSAN CMMDS and SNMP over UDP only; a TCP SYN there is unclassified, as is every other port.

const SYNSCAN: &str = "ndpi-synscan.pcap";
const SCANNED: Ipv4Addr = Ipv4Addr::new(64, 13, 134, 52);

/// Destination ports of services the host is only ever a client of (fact sheet §3, direction Out).
const OUT_ONLY_PORTS: [u16; 6] = [111, 2049, 3260, 8009, 53, 514];

/// The expected verdict of a SYN to `port` on the vmk of `mgmt_tagged`.
fn syn_verdict(port: u16, mgmt_tagged: bool) -> &'static str {
    let mgmt = if mgmt_tagged {
        "vmk0 delivered management"
    } else {
        "vmk0 dropped service_disabled (management)"
    };
    match port {
        22 | 80 | 427 | 443 | 902 | 5988 | 5989 => mgmt,
        8000 => "vmk0 dropped service_disabled (vmotion)",
        8100 | 8200 | 8300 => "vmk0 dropped service_disabled (fault_tolerance)",
        8080 => "vmk0 dropped service_disabled (vsan)",
        _ => "vmk0 delivered unclassified",
    }
}

/// The TCP destination port of a SYN (no ACK) to the scanned host, `None` for the host's answers.
fn syn_to_scanned(frame: &[u8]) -> Option<u16> {
    let packet = SlicedPacket::from_ethernet(frame).expect("the scan capture is plain Ethernet/IPv4/TCP");
    let (Some(NetSlice::Ipv4(ip)), Some(TransportSlice::Tcp(tcp))) = (&packet.net, &packet.transport) else {
        panic!("the scan capture holds only IPv4/TCP");
    };
    (ip.header().destination_addr() == SCANNED && tcp.syn() && !tcp.ack()).then(|| tcp.destination_port())
}

/// One row per frame of the scan: the SYN's destination port (`None` for the host's answers), the verdict got
/// and the verdict expected.
fn synscan_rows(r: &Replay, mgmt_tagged: bool) -> Vec<(Option<u16>, String, &'static str)> {
    r.frames
        .iter()
        .zip(&r.outcomes)
        .map(|(frame, outcome)| {
            let port = syn_to_scanned(frame);
            (
                port,
                r.describe(*outcome),
                port.map_or(P, |p| syn_verdict(p, mgmt_tagged)),
            )
        })
        .collect()
}

fn is_out_only(port: Option<u16>) -> bool {
    port.is_some_and(|p| OUT_ONLY_PORTS.contains(&p))
}

/// The rows that differ, in words.
fn synscan_mismatches<'a>(rows: impl Iterator<Item = &'a (Option<u16>, String, &'static str)>) -> Vec<String> {
    rows.filter(|(_, got, expected)| got != expected)
        .map(|(port, got, expected)| {
            let what = port.map_or_else(|| "answer to the scanner".to_owned(), |p| format!("SYN to {p}"));
            format!("  {what}: expected `{expected}`, got `{got}`")
        })
        .collect()
}

/// Asserts every frame except the SYNs to Out-only ports; returns the expected verdict counts of those frames.
fn assert_synscan(r: &Replay, variant: &str, mgmt_tagged: bool) -> BTreeMap<&'static str, usize> {
    let rows = synscan_rows(r, mgmt_tagged);
    let checked = || rows.iter().filter(|(port, _, _)| !is_out_only(*port));
    let wrong = synscan_mismatches(checked());
    assert!(
        wrong.is_empty(),
        "{SYNSCAN} [{variant}]: wrong verdicts:\n{}",
        wrong.join("\n")
    );
    let mut counts = BTreeMap::new();
    for (_, _, expected) in checked() {
        *counts.entry(*expected).or_default() += 1;
    }
    counts
}

const SCANNED_VMK: &str = r#"
[[vmk]]
name = "vmk0"
portgroup = "Management Network"
mac = "00:26:0b:31:07:33"
ipv4 = "64.13.134.52/24"
tags = ["Management"]
"#;

/// The scanned host is a management vmk on the default stack. Every SYN but those to Out-only ports (checked in
/// `synscan_out_only_ports_have_no_listener_on_the_host`) gets the verdict of its port; the host's 17 answers
/// are addressed to the scanner and passed. Counts, from the port list above: management 12 (443×2, 902×2,
/// 427×2, 5988×2, 5989×2, 80×1, 22×1), service_disabled 10 (vmotion 2, fault_tolerance 6, vsan 2), unclassified
/// 1961, passed 17 — 2000 frames, plus 11 SYNs to Out-only ports (111×2, 2049×2, 3260×2, 8009×2, 514×2, 53×1).
#[test]
fn synscan_management_vmk_verdicts_per_port() {
    let model = host("synscan-a", SCANNED_VMK);
    let r = replay(SYNSCAN, 2011, &model);
    let counts = assert_synscan(&r, "management vmk", true);
    let expected_counts = BTreeMap::from([
        (P, 17),
        ("vmk0 delivered management", 12),
        ("vmk0 dropped service_disabled (vmotion)", 2),
        ("vmk0 dropped service_disabled (fault_tolerance)", 6),
        ("vmk0 dropped service_disabled (vsan)", 2),
        ("vmk0 delivered unclassified", 1961),
    ]);
    assert_eq!(
        counts, expected_counts,
        "the capture's port list differs from the one read with tcpdump"
    );
}

/// Without the Management tag (a plain default-stack adapter), the 12 SYNs to management ports, 902 included
/// (no NFC tag either), are dropped `service_disabled (management)`; nothing else changes.
#[test]
fn synscan_untagged_vmk_refuses_management() {
    let model = host("synscan-b", &SCANNED_VMK.replace("tags = [\"Management\"]", ""));
    let r = replay(SYNSCAN, 2011, &model);
    assert_synscan(&r, "untagged vmk", false);
}

/// SYNs to the ports of services the host only uses as a client (NFS 2049 and portmapper 111, iSCSI 3260,
/// NVMe/TCP discovery 8009, DNS 53, syslog 514: all "Out" in fact sheet §3) are not traffic to a listener on the
/// host — the port table's own definition of a destination-port match (service.rs module docs). An ESXi host
/// has no NFS server, iSCSI target, discovery controller, DNS or syslog server, so these SYNs belong to no
/// service: `vmk0 delivered unclassified`, like any other closed port.
#[test]
fn synscan_out_only_ports_have_no_listener_on_the_host() {
    let model = host("synscan-c", SCANNED_VMK);
    let r = replay(SYNSCAN, 2011, &model);
    let rows = synscan_rows(&r, true);
    let out_only: Vec<_> = rows.iter().filter(|(port, _, _)| is_out_only(*port)).collect();
    assert_eq!(out_only.len(), 11, "SYNs to Out-only ports in the capture");
    let wrong = synscan_mismatches(out_only.into_iter());
    assert!(
        wrong.is_empty(),
        "PIPELINE DISAGREES WITH VMKERNEL ({SYNSCAN}): the port table classifies by destination port whatever the \
         service's direction, so unsolicited SYNs to ports the host only connects to are delivered to that \
         service:\n{}",
        wrong.join("\n")
    );
}
