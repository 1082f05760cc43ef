//! The XDP classifier steers exactly like its userspace twin.
//!
//! Both run `vmknet_common::classify`, but the kernel side reads the packet through verifier-checked pointers
//! and looks keys up in BPF hash maps. Here the loaded program runs every frame of a table (and of a seeded
//! random set) with `BPF_PROG_TEST_RUN`, and for each frame the test compares the XDP action and *which
//! verdict counter moved* with what `classify` over the same entries in Rust maps predicts. An AF_XDP socket
//! (bound to loopback queue 0, never fed) sits in one netstack's slot at a time, so a frame steered to that
//! netstack must come back `XDP_REDIRECT` and count as redirected while frames steered to the others fall back
//! to `XDP_PASS` and count as "no socket": this checks the chosen netstack too, not only steered-or-not.
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN); without it each test prints why it skips and passes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use vmknet::runtime::{CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, has_capability};
use vmknet::xdp::{AttachMode, Classifier, SteeringEntries, XdpCounters, XdpError};
use vmknet_common::classify::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};
use vmknet_common::keys::solicited_node;
use vmknet_common::{DropReason, Ipv4Key, Ipv6Key, MacKey, Steer, SteerTarget, SteeringTables, XdpVerdict, classify};
use vmknet_testbed::sender::send_from_peer;
use vmknet_testbed::topology::Topology;

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;
const N_NETSTACKS: u32 = 3;

/// A vmk of the test host.
struct Vmk {
    mac: [u8; 6],
    vlan: u16,
    netstack: u32,
    ipv4: [u8; 4],
    ipv6: [u8; 16],
}

const fn vmk(index: u8, vlan: u16, netstack: u32) -> Vmk {
    Vmk {
        mac: [0x00, 0x50, 0x56, 0x6a, 0x00, index],
        vlan,
        netstack,
        ipv4: [10, 0, (vlan & 0xff) as u8, 10 + index],
        ipv6: [
            0xfd,
            0,
            0,
            (vlan & 0xff) as u8,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0x12,
            0x34,
            index,
        ],
    }
}

/// Management untagged on the default stack, vMotion on VLAN 10 with its own stack, two storage vmks on VLAN
/// 20 sharing a third stack.
const VMKS: [Vmk; 4] = [vmk(0, 0, 0), vmk(1, 10, 1), vmk(2, 20, 2), vmk(3, 20, 2)];

fn entries() -> SteeringEntries {
    let target = |i: usize| SteerTarget {
        netstack: VMKS[i].netstack,
        vmk: i as u32,
    };
    SteeringEntries {
        by_mac: (0..VMKS.len())
            .map(|i| (MacKey::new(VMKS[i].vlan, VMKS[i].mac), target(i)))
            .collect(),
        by_arp_target: (0..VMKS.len())
            .map(|i| (Ipv4Key::new(VMKS[i].vlan, VMKS[i].ipv4), target(i)))
            .collect(),
        by_ipv6_group: (0..VMKS.len())
            .map(|i| (Ipv6Key::new(VMKS[i].vlan, solicited_node(VMKS[i].ipv6)), target(i)))
            .collect(),
    }
}

/// The userspace twin of the BPF maps, filled from the same entries.
struct Tables {
    by_mac: BTreeMap<MacKey, SteerTarget>,
    by_arp_target: BTreeMap<Ipv4Key, SteerTarget>,
    by_ipv6_group: BTreeMap<Ipv6Key, SteerTarget>,
    vmk_macs: BTreeSet<[u8; 6]>,
}

impl Tables {
    fn new(entries: &SteeringEntries) -> Self {
        Self {
            by_mac: entries.by_mac.iter().copied().collect(),
            by_arp_target: entries.by_arp_target.iter().copied().collect(),
            by_ipv6_group: entries.by_ipv6_group.iter().copied().collect(),
            vmk_macs: entries.by_mac.iter().map(|(key, _)| key.mac).collect(),
        }
    }
}

impl SteeringTables for Tables {
    fn by_mac(&self, key: &MacKey) -> Option<SteerTarget> {
        self.by_mac.get(key).copied()
    }
    fn by_arp_target(&self, key: &Ipv4Key) -> Option<SteerTarget> {
        self.by_arp_target.get(key).copied()
    }
    fn by_ipv6_group(&self, key: &Ipv6Key) -> Option<SteerTarget> {
        self.by_ipv6_group.get(key).copied()
    }
    fn is_vmk_mac(&self, mac: &[u8; 6]) -> bool {
        self.vmk_macs.contains(mac)
    }
}

/// What the program must do with a frame `classify` decides `steer` for, with a socket only in
/// `socket_netstack`'s slot.
fn expected(steer: Steer, socket_netstack: Option<u32>) -> (u32, XdpVerdict) {
    match steer {
        Steer::Steered { target, .. } if Some(target.netstack) == socket_netstack => {
            (XDP_REDIRECT, XdpVerdict::Redirected)
        }
        Steer::Steered { .. } => (XDP_PASS, XdpVerdict::PassedNoSocket),
        Steer::Pass(_) => (XDP_PASS, XdpVerdict::PassedNotOurs),
        Steer::Drop(reason) => (XDP_DROP, XdpVerdict::Dropped(reason)),
    }
}

/// The verdicts whose counters changed between two snapshots, with the change.
fn moved(before: &XdpCounters, after: &XdpCounters) -> Vec<(XdpVerdict, u64)> {
    after
        .iter()
        .zip(before.iter())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((verdict, a), (_, b))| (verdict, a.wrapping_sub(b)))
        .collect()
}

/// Skips (returning false, with the reason printed) unless the process holds the capabilities the test needs.
fn privileged(test: &str) -> bool {
    let ok = (has_capability(CAP_BPF) || has_capability(CAP_SYS_ADMIN)) && has_capability(CAP_NET_ADMIN);
    if !ok {
        println!("skipping {test}: needs CAP_BPF and CAP_NET_ADMIN (run as root)");
    }
    ok
}

// ----- frames -----

fn ethernet(dst: [u8; 6], tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(64 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99]);
    for &(tpid, tci) in tags {
        frame.extend_from_slice(&tpid.to_be_bytes());
        frame.extend_from_slice(&tci.to_be_bytes());
    }
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn dot1q(vlan: u16) -> Vec<(u16, u16)> {
    if vlan == 0 {
        vec![]
    } else {
        vec![(ETHERTYPE_VLAN, vlan)]
    }
}

fn arp_request(target: [u8; 4]) -> Vec<u8> {
    let mut arp = vec![0, 1, 0x08, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x99, 10, 0, 0, 99]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&target);
    arp
}

fn neighbor_solicitation(target: [u8; 16]) -> (Vec<u8>, [u8; 6]) {
    let group = solicited_node(target);
    let mut ip = vec![0x60, 0, 0, 0, 0, 32, 58, 255];
    ip.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x99]);
    ip.extend_from_slice(&group);
    ip.extend_from_slice(&[135, 0, 0, 0, 0, 0, 0, 0]);
    ip.extend_from_slice(&target);
    ip.extend_from_slice(&[1, 1, 0x02, 0, 0, 0, 0, 0x99]);
    (ip, [0x33, 0x33, 0xff, group[13], group[14], group[15]])
}

const IPV4_PAYLOAD: [u8; 46] = [0x45; 46];

/// The hand-written table: every steering rule, each way it can miss, and every drop.
fn table() -> Vec<(&'static str, Vec<u8>)> {
    let mut frames = Vec::new();
    for v in &VMKS {
        let (ns, group_mac) = neighbor_solicitation(v.ipv6);
        let mut echo = ns.clone();
        echo[40] = 128;
        frames.extend([
            (
                "unicast to a vmk on its VLAN",
                ethernet(v.mac, &dot1q(v.vlan), ETHERTYPE_IPV4, &IPV4_PAYLOAD),
            ),
            (
                "unicast to a vmk on another VLAN",
                ethernet(v.mac, &dot1q(v.vlan + 1), ETHERTYPE_IPV4, &IPV4_PAYLOAD),
            ),
            (
                "unicast to a vmk, untagged",
                ethernet(v.mac, &[], ETHERTYPE_IPV4, &IPV4_PAYLOAD),
            ),
            (
                "unicast to a vmk, priority bits set",
                ethernet(
                    v.mac,
                    &[(ETHERTYPE_VLAN, (5 << 13) | v.vlan)],
                    ETHERTYPE_IPV6,
                    &[0x60; 46],
                ),
            ),
            (
                "broadcast ARP for a vmk IP",
                ethernet([0xff; 6], &dot1q(v.vlan), ETHERTYPE_ARP, &arp_request(v.ipv4)),
            ),
            (
                "broadcast ARP for a vmk IP on another VLAN",
                ethernet([0xff; 6], &dot1q(v.vlan + 2), ETHERTYPE_ARP, &arp_request(v.ipv4)),
            ),
            (
                "NS to a vmk's solicited-node group",
                ethernet(group_mac, &dot1q(v.vlan), ETHERTYPE_IPV6, &ns),
            ),
            (
                "echo request to a solicited-node group",
                ethernet(group_mac, &dot1q(v.vlan), ETHERTYPE_IPV6, &echo),
            ),
            (
                "QinQ to a vmk MAC",
                ethernet(
                    v.mac,
                    &[(ETHERTYPE_VLAN, v.vlan), (ETHERTYPE_VLAN, 7)],
                    ETHERTYPE_IPV4,
                    &IPV4_PAYLOAD,
                ),
            ),
            (
                "802.1ad to a vmk MAC",
                ethernet(
                    v.mac,
                    &[(ETHERTYPE_QINQ, 100), (ETHERTYPE_VLAN, v.vlan)],
                    ETHERTYPE_IPV4,
                    &IPV4_PAYLOAD,
                ),
            ),
            (
                "VID 4095 to a vmk MAC",
                ethernet(v.mac, &dot1q(4095), ETHERTYPE_IPV4, &IPV4_PAYLOAD),
            ),
        ]);
    }
    let stranger = [0x02, 0xaa, 0, 0, 0, 1];
    frames.extend([
        (
            "unicast to another MAC",
            ethernet(stranger, &dot1q(10), ETHERTYPE_IPV4, &IPV4_PAYLOAD),
        ),
        (
            "broadcast ARP for another IP",
            ethernet([0xff; 6], &dot1q(10), ETHERTYPE_ARP, &arp_request([10, 0, 10, 99])),
        ),
        (
            "truncated broadcast ARP",
            ethernet([0xff; 6], &dot1q(10), ETHERTYPE_ARP, &arp_request(VMKS[1].ipv4)[..20]),
        ),
        (
            "QinQ to another MAC",
            ethernet(
                stranger,
                &[(ETHERTYPE_VLAN, 10), (ETHERTYPE_VLAN, 7)],
                ETHERTYPE_IPV4,
                &IPV4_PAYLOAD,
            ),
        ),
        (
            "VID 4095 to another MAC",
            ethernet(stranger, &dot1q(4095), ETHERTYPE_IPV4, &IPV4_PAYLOAD),
        ),
    ]);
    let tagged = ethernet(VMKS[1].mac, &dot1q(10), ETHERTYPE_IPV4, &IPV4_PAYLOAD);
    for len in 14..18 {
        frames.push(("runt: truncated 802.1Q tag", tagged[..len].to_vec()));
    }
    frames
}

/// xorshift64*: a seeded, dependency-free generator, so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.next() as u8)
    }
}

/// Random frames biased towards the cases the classifier distinguishes: vmk, group and broadcast
/// destinations, vmk VLANs, stacked and reserved tags, planted ARP and NS targets, and truncation anywhere.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    let v = rng.pick(&VMKS);
    let vlan = match rng.below(4) {
        0 => v.vlan,
        1 => rng.pick(&VMKS).vlan,
        2 => *rng.pick(&[0, 4095, 1, 4094]),
        _ => rng.below(4096) as u16,
    } | ((rng.below(8) as u16) << 13);
    let tags = match rng.below(10) {
        0..=2 => vec![],
        3..=7 => vec![(ETHERTYPE_VLAN, vlan)],
        8 => vec![
            (ETHERTYPE_VLAN, vlan),
            (*rng.pick(&[ETHERTYPE_VLAN, ETHERTYPE_QINQ]), 5),
        ],
        _ => vec![(ETHERTYPE_QINQ, vlan), (ETHERTYPE_VLAN, 5)],
    };
    let ipv4 = if rng.below(2) == 0 { v.ipv4 } else { rng.bytes() };
    let ipv6 = if rng.below(2) == 0 { v.ipv6 } else { rng.bytes() };
    let (mut ns, group_mac) = neighbor_solicitation(ipv6);
    if rng.below(4) == 0 {
        let at = rng.below(ns.len() as u64) as usize;
        ns[at] = rng.next() as u8;
    }
    let (dst, ethertype, payload) = match rng.below(6) {
        0 => (v.mac, ETHERTYPE_IPV4, IPV4_PAYLOAD.to_vec()),
        1 => ([0xff; 6], ETHERTYPE_ARP, arp_request(ipv4)),
        2 => (group_mac, ETHERTYPE_IPV6, ns),
        3 => (
            *rng.pick(&[v.mac, [0xff; 6], group_mac]),
            *rng.pick(&[ETHERTYPE_ARP, ETHERTYPE_IPV6]),
            arp_request(ipv4),
        ),
        4 => (rng.bytes(), rng.next() as u16, rng.bytes::<48>().to_vec()),
        _ => (v.mac, rng.next() as u16, rng.bytes::<40>().to_vec()),
    };
    let mut frame = ethernet(dst, &tags, ethertype, &payload);
    if rng.below(3) == 0 {
        frame.truncate(14 + rng.below(frame.len() as u64 - 13) as usize);
    }
    frame
}

// ----- an AF_XDP socket, just enough to occupy an XSKMAP slot -----

/// An AF_XDP socket bound in copy mode to `lo` queue 0. It is never fed: `BPF_PROG_TEST_RUN` does not carry
/// out redirects, the program only has to find the slot occupied. One socket moves from slot to slot: a queue
/// stays busy for a moment after its socket is closed (the kernel releases it from a work queue).
struct XskSocket {
    fd: OwnedFd,
    umem: *mut libc::c_void,
}

const UMEM_LEN: usize = 16 * 4096;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl XskSocket {
    fn bind_loopback() -> io::Result<Self> {
        // Safety: plain socket(2); the descriptor is owned at once.
        let fd =
            unsafe { OwnedFd::from_raw_fd(cvt(libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0))?) };
        // Safety: an anonymous private mapping; checked for MAP_FAILED below and unmapped on drop.
        let umem = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                UMEM_LEN,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if umem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let socket = Self { fd, umem };
        let raw = socket.fd.as_raw_fd();
        let set = |option: libc::c_int, value: *const libc::c_void, len: usize| {
            // Safety: `value` points to `len` readable bytes of the type the option expects.
            cvt(unsafe { libc::setsockopt(raw, libc::SOL_XDP, option, value, len as libc::socklen_t) })
        };
        let reg = libc::xdp_umem_reg {
            addr: umem as u64,
            len: UMEM_LEN as u64,
            chunk_size: 4096,
            headroom: 0,
            flags: 0,
            tx_metadata_len: 0,
        };
        set(libc::XDP_UMEM_REG, (&raw const reg).cast(), size_of_val(&reg))?;
        let entries: libc::c_int = 8;
        for ring in [
            libc::XDP_UMEM_FILL_RING,
            libc::XDP_UMEM_COMPLETION_RING,
            libc::XDP_RX_RING,
        ] {
            set(ring, (&raw const entries).cast(), size_of_val(&entries))?;
        }
        let addr = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_COPY,
            sxdp_ifindex: 1,
            sxdp_queue_id: 0,
            sxdp_shared_umem_fd: 0,
        };
        // Safety: `addr` is a valid sockaddr_xdp of the length passed.
        cvt(unsafe { libc::bind(raw, (&raw const addr).cast(), size_of_val(&addr) as libc::socklen_t) })?;
        Ok(socket)
    }
}

impl Drop for XskSocket {
    fn drop(&mut self) {
        // Safety: `umem` is the mapping of `UMEM_LEN` bytes made in `bind_loopback`; the kernel holds its own
        // pin on the pages until the socket, closed right after, releases the UMEM.
        unsafe { libc::munmap(self.umem, UMEM_LEN) };
    }
}

// ----- the tests -----

#[test]
fn xdp_program_steers_like_userspace_classify() {
    if !privileged("xdp_program_steers_like_userspace_classify") {
        return;
    }
    let entries = entries();
    let tables = Tables::new(&entries);
    let mut classifier = Classifier::load(N_NETSTACKS, 1).expect("load the classifier");
    classifier.fill_steering(&entries).expect("fill the steering maps");

    let mut frames = table();
    let mut rng = Rng(0x5eed_f00d_cafe_0001);
    frames.extend((0..1000).map(|_| ("random", random_frame(&mut rng))));

    // Every outcome must be exercised, by the table and by the random frames alone, or agreeing proves little.
    for (set, frames) in [("all", &frames[..]), ("random", &frames[table().len()..])] {
        let outcomes: BTreeSet<String> = frames
            .iter()
            .map(|(_, f)| format!("{:?}", expected(classify(f.as_slice(), &tables), None).1))
            .collect();
        let needed = [XdpVerdict::PassedNoSocket, XdpVerdict::PassedNotOurs]
            .into_iter()
            .chain([DropReason::Runt, DropReason::QinQ, DropReason::ReservedVlan].map(XdpVerdict::Dropped));
        for verdict in needed {
            assert!(
                outcomes.contains(&format!("{verdict:?}")),
                "no frame of {set} exercises {verdict:?}"
            );
        }
    }

    let mut runs = 0u64;
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    // First with no socket at all, then with the socket in each netstack's slot in turn.
    let socket = XskSocket::bind_loopback().expect("AF_XDP socket on lo");
    for socket_netstack in std::iter::once(None).chain((0..N_NETSTACKS).map(Some)) {
        if let Some(netstack) = socket_netstack {
            if netstack > 0 {
                classifier
                    .unregister_socket(0, netstack - 1)
                    .expect("unregister the socket");
            }
            classifier
                .register_socket(0, netstack, socket.fd.as_fd())
                .expect("register the socket");
        }
        for (i, (what, frame)) in frames.iter().enumerate() {
            let steer = classify(frame.as_slice(), &tables);
            let (action, verdict) = expected(steer, socket_netstack);
            let before = classifier.counters().expect("counters");
            let got = classifier.test_run(frame).expect("BPF_PROG_TEST_RUN");
            let after = classifier.counters().expect("counters");
            let context = || {
                format!(
                    "frame {i} ({what}, {} bytes, socket for netstack {socket_netstack:?}): classify says {steer:?}\n\
                     {frame:02x?}",
                    frame.len()
                )
            };
            assert_eq!(got, action, "XDP action differs for {}", context());
            assert_eq!(
                moved(&before, &after),
                vec![(verdict, 1)],
                "counters differ for {}",
                context()
            );
            runs += 1;
            *tally.entry(format!("{verdict:?}")).or_default() += 1;
        }
    }
    let counters = classifier.counters().expect("counters");
    assert_eq!(counters.frames(), runs, "counters add up to frames seen");
    println!(
        "{runs} runs over {} frames agree with classify; verdicts: {tally:?}",
        frames.len()
    );
}

#[test]
fn kernel_refuses_test_runs_shorter_than_an_ethernet_header() {
    if !privileged("kernel_refuses_test_runs_shorter_than_an_ethernet_header") {
        return;
    }
    let entries = entries();
    let tables = Tables::new(&entries);
    let mut classifier = Classifier::load(N_NETSTACKS, 1).expect("load the classifier");
    classifier.fill_steering(&entries).expect("fill the steering maps");
    let full = ethernet(VMKS[0].mac, &[], ETHERTYPE_IPV4, &IPV4_PAYLOAD);
    for len in 0..14 {
        let frame = &full[..len];
        assert_eq!(classify(frame, &tables), Steer::Drop(DropReason::Runt), "len {len}");
        // The program would count these as runts, but BPF_PROG_TEST_RUN never hands it fewer than 14 bytes;
        // the 14..18-byte runts of the table are the shortest it can be shown.
        let err = classifier
            .test_run(frame)
            .expect_err("the kernel refuses runs below ETH_HLEN");
        assert!(format!("{err:?}").contains("InvalidInput"), "len {len}: {err:?}");
    }
    assert_eq!(classifier.counters().expect("counters").frames(), 0);
}

#[test]
fn loader_rejects_out_of_range_targets_and_unknown_interfaces() {
    if !privileged("loader_rejects_out_of_range_targets_and_unknown_interfaces") {
        return;
    }
    let mut classifier = Classifier::load(2, 1).expect("load the classifier");
    let entries = SteeringEntries {
        by_mac: vec![(MacKey::new(0, VMKS[0].mac), SteerTarget { netstack: 2, vmk: 0 })],
        ..SteeringEntries::default()
    };
    assert!(matches!(
        classifier.fill_steering(&entries),
        Err(XdpError::NetstackOutOfRange {
            netstack: 2,
            n_netstacks: 2
        })
    ));
    let err = classifier
        .attach("vmknet-nonesuch", AttachMode::NativeOrGeneric)
        .expect_err("no such interface");
    assert!(matches!(err, XdpError::InterfaceNotFound(_)), "{err:?}");
    assert!(err.to_string().contains("ip link"), "{err}");
}

// ----- veth smoke test -----

#[test]
fn veth_native_attach_counts_and_detaches_on_drop() {
    if !privileged("veth_native_attach_counts_and_detaches_on_drop") {
        return;
    }
    let pair = Topology::create("xt", 1).expect("create the veth pair");
    let entries = entries();
    let tables = Tables::new(&entries);
    let mut classifier = Classifier::load(N_NETSTACKS, 1).expect("load the classifier");
    classifier.fill_steering(&entries).expect("fill the steering maps");
    let mode = classifier
        .attach(&pair.host, AttachMode::Native)
        .expect("native attach on veth");
    assert_eq!(mode, AttachMode::Native);
    assert!(pair.has_xdp_program(), "program attached to {}", pair.host);

    // Whole frames only: the sender pads nothing, and a real wire carries no runts.
    let frames: Vec<Vec<u8>> = table().into_iter().map(|(_, f)| f).filter(|f| f.len() >= 60).collect();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for frame in &frames {
        *want
            .entry(format!("{:?}", expected(classify(frame.as_slice(), &tables), None).1))
            .or_default() += 1;
    }
    let sent = send_from_peer(&pair, 0, frames.clone())
        .join()
        .expect("sender thread")
        .expect("send from the peer");
    assert_eq!(sent, frames.len() as u64);

    let deadline = Instant::now() + Duration::from_secs(5);
    let counters = loop {
        let counters = classifier.counters().expect("counters");
        if counters.frames() >= frames.len() as u64 || Instant::now() > deadline {
            break counters;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for (verdict, count) in counters.iter() {
        let want = want.get(&format!("{verdict:?}")).copied().unwrap_or(0);
        // Linux may still send a frame of its own; it can only be "not ours".
        if verdict == XdpVerdict::PassedNotOurs {
            assert!(count >= want, "{verdict:?}: {count} < {want}");
        } else {
            assert_eq!(count, want, "{verdict:?}");
        }
    }
    let nonzero: Vec<_> = counters.iter().filter(|(_, count)| *count > 0).collect();
    println!("veth {}: sent {} frames, counters {nonzero:?}", pair.host, frames.len());

    drop(classifier);
    assert!(!pair.has_xdp_program(), "detached on drop from {}", pair.host);
}
