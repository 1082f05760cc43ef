//! vmknet-pktgen on a testbed veth pair (root): the generator runs in the namespace and sends on the peer
//! end; the host end has the counting sink attached (passing frames on, which also lets redirected frames
//! into the veth) and an AF_PACKET capture behind it. Each test checks that exactly the frames asked for
//! arrive, with the right sizes, VLAN tag, flows or template order; with `timestamp`, each carries a stamp
//! of its send time and valid checksums.
//!
//! Without CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_NET_RAW and CAP_BPF each test says why it skips, and passes.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use vmknet::runtime::monotonic_ns;
use vmknet::runtime::{CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, Capability, missing_capabilities};
use vmknet_bench::pktgen::afpacket::{Frames, PacketTx};
use vmknet_bench::pktgen::frame::FCS_LEN;
use vmknet_bench::pktgen::stamp::stamp_site;
use vmknet_bench::pktgen::templates::Templates;
use vmknet_bench::pktgen::{
    GenCounters, Generator, IpRange, LiveTx, Method, Pace, PktgenError, PortRange, Report, Sink, SinkAction, UdpFlows,
    ifindex, live_frame_limit, run,
};
use vmknet_common::stamp::read_stamp;
use vmknet_testbed::Topology;

/// What the tests need: the generator and sink (BPF, XDP), the AF_PACKET capture, the testbed's namespace.
const CAPS: [Capability; 4] = [CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, CAP_BPF];
/// Frames per test: bounded, and few enough for the capture's socket buffer to keep them all.
const FRAMES: u64 = 10_000;
/// Queues of the veth pair, one per sending CPU: veth picks the receiving queue by the sending CPU, so each
/// sender feeds its own queue, whose NAPI runs on that CPU between batches (two senders into one queue can
/// overrun its 256-frame ring while its NAPI runs on the other CPU).
const QUEUES: u32 = 2;
/// How long the capture waits for a frame before it decides the rest are not coming.
const QUIET: Duration = Duration::from_secs(1);
const ETH_P_ALL: u16 = 0x0003;
const PACKET_AUXDATA: libc::c_int = 8;
const CAPTURE_BUFFER: libc::c_int = 64 << 20;

fn missing_privileges() -> Option<String> {
    let missing = missing_capabilities(&CAPS);
    (!missing.is_empty()).then(|| format!("missing {}", missing.join(", ")))
}

macro_rules! require_root {
    ($test:literal) => {
        if let Some(why) = missing_privileges() {
            println!("skipping {}: {why}", $test);
            return;
        }
    };
}

fn pace(count: u64) -> Pace {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    Pace {
        count,
        duration: Some(Duration::from_secs(10)),
        rate: 0,
        cpus: (0..cpus.min(QUEUES as usize)).collect(),
    }
}

/// The sink (passing) and a capture on the host end, then `send` in the namespace; returns the sink's counts
/// and the frames captured once no more come.
fn send_and_capture<F>(prefix: &str, send: F) -> (Report, GenCounters, Vec<Vec<u8>>)
where
    F: FnOnce(&str) -> Result<Report, PktgenError> + Send + 'static,
{
    let topology = Topology::create(prefix, QUEUES).expect("topology");
    let mut sink = Sink::load(SinkAction::Pass).expect("load the sink");
    sink.attach(&topology.host, false).expect("attach the sink");
    let capture = Capture::open(ifindex(&topology.host).expect("host end")).expect("capture socket");
    let peer = topology.peer.clone();
    let report = topology
        .spawn_in_netns("pktgen", move || send(&peer).map_err(io::Error::other))
        .join()
        .expect("sender thread")
        .expect("send");
    let frames = capture.frames(report.offered as usize);
    let received = sink.counters().expect("sink counters");
    (report, received, frames)
}

/// Sends [`FRAMES`] live frames of `spec` on a topology of its own (`prefix`) and captures them; the report
/// holds the frames the generator's program redirected.
fn send_live_flows(prefix: &str, spec: &UdpFlows) -> (Report, GenCounters, Vec<Vec<u8>>) {
    let spec = spec.clone();
    send_and_capture(prefix, move |peer| {
        let generator = Generator::flows(&spec, ifindex(peer)?)?;
        let mut report = run(Method::XdpLive, &pace(FRAMES), &AtomicBool::new(false), |_| {
            LiveTx::new(&generator, 64)
        })?;
        report.redirected = Some(generator.counters()?.frames);
        Ok(report)
    })
}

/// Sends `count` frames of `spec` by AF_PACKET on a topology of its own (`prefix`) and captures them.
fn send_flows_by_af_packet(prefix: &str, spec: &UdpFlows, count: u64) -> (Report, GenCounters, Vec<Vec<u8>>) {
    let spec = spec.clone();
    send_and_capture(prefix, move |peer| {
        let target = ifindex(peer)?;
        let template = spec.template()?;
        run(Method::AfPacket, &pace(count), &AtomicBool::new(false), |_| {
            PacketTx::new(
                target,
                Frames::Flows {
                    template: &template,
                    config: spec.config(target),
                },
                32,
            )
        })
    })
}

fn flows_v4() -> UdpFlows {
    UdpFlows {
        size: 128,
        vlan: Some(20),
        src_mac: [0x02, 0, 0, 0, 0, 1],
        dst_mac: [0x00, 0x50, 0x56, 0x6a, 0x20, 0x01],
        src_ip: IpRange {
            first: IpAddr::V4(Ipv4Addr::new(10, 20, 20, 1)),
            count: 4,
        },
        dst_ip: IpRange {
            first: IpAddr::V4(Ipv4Addr::new(10, 20, 20, 11)),
            count: 1,
        },
        src_port: PortRange { first: 40000, count: 1 },
        dst_port: PortRange { first: 8000, count: 10 },
        timestamp: false,
    }
}

/// Every frame is a valid UDP frame of `spec`'s size, tag and ranges; returns the count per flow.
fn check_flow_frames(spec: &UdpFlows, frames: &[Vec<u8>]) -> BTreeMap<(IpAddr, IpAddr, u16, u16), u64> {
    let mut per_flow = BTreeMap::new();
    for frame in frames {
        assert_eq!(frame.len() + FCS_LEN, spec.size, "frame size");
        let packet = SlicedPacket::from_ethernet(frame).expect("parses");
        assert_eq!(packet.vlan_ids().first().map(|v| v.value()), spec.vlan, "VLAN");
        let Some(TransportSlice::Udp(udp)) = &packet.transport else {
            panic!("not UDP: {frame:02x?}")
        };
        let (src, dst, checksum_ok) = match &packet.net {
            Some(NetSlice::Ipv4(ip)) => {
                let header = ip.header().to_header();
                let ok = header.header_checksum == header.calc_header_checksum()
                    && udp.to_header().calc_checksum_ipv4(&header, udp.payload()).ok() == Some(udp.checksum());
                (
                    IpAddr::V4(header.source.into()),
                    IpAddr::V4(header.destination.into()),
                    ok,
                )
            }
            Some(NetSlice::Ipv6(ip)) => {
                let header = ip.header().to_header();
                let ok = udp.to_header().calc_checksum_ipv6(&header, udp.payload()).ok() == Some(udp.checksum());
                (
                    IpAddr::V6(header.source.into()),
                    IpAddr::V6(header.destination.into()),
                    ok,
                )
            }
            _ => panic!("not IP"),
        };
        assert!(checksum_ok, "bad checksum: {frame:02x?}");
        *per_flow
            .entry((src, dst, udp.source_port(), udp.destination_port()))
            .or_default() += 1;
    }
    let in_range = |ip: IpAddr, range: IpRange| {
        let offset = match (ip, range.first) {
            (IpAddr::V4(a), IpAddr::V4(f)) => u32::from(a).wrapping_sub(u32::from(f)),
            (IpAddr::V6(a), IpAddr::V6(f)) => (a.to_bits() as u32).wrapping_sub(f.to_bits() as u32),
            _ => u32::MAX,
        };
        offset < range.count
    };
    for &(src, dst, sport, dport) in per_flow.keys() {
        assert!(
            in_range(src, spec.src_ip) && in_range(dst, spec.dst_ip),
            "{src} → {dst}"
        );
        assert!(
            u32::from(sport - spec.src_port.first) < spec.src_port.count,
            "source port {sport}"
        );
        assert!(
            u32::from(dport - spec.dst_port.first) < spec.dst_port.count,
            "destination port {dport}"
        );
    }
    per_flow
}

#[test]
fn live_frames_arrive_exactly_with_their_size_vlan_and_flows() {
    require_root!("live_frames_arrive_exactly_with_their_size_vlan_and_flows");
    let spec = flows_v4();
    let (report, received, frames) = send_live_flows("pgf", &spec);
    assert_eq!(report.offered, FRAMES);
    assert_eq!(
        report.redirected,
        Some(FRAMES),
        "the program ran once per offered frame"
    );
    assert_eq!(received.frames, FRAMES, "the sink saw every frame, once");
    assert_eq!(received.bytes, FRAMES * (spec.size - FCS_LEN) as u64);
    assert_eq!(frames.len() as u64, FRAMES, "the capture got every frame");
    let per_flow = check_flow_frames(&spec, &frames);
    assert_eq!(per_flow.len() as u64, spec.flows(), "every flow");
    // Each thread cycles through all 40 flows from the first, and sends a multiple of 40 frames.
    assert!(per_flow.values().all(|&n| n == FRAMES / spec.flows()), "{per_flow:?}");
}

#[test]
fn af_packet_fallback_sends_the_same_ipv6_flows() {
    require_root!("af_packet_fallback_sends_the_same_ipv6_flows");
    let spec = UdpFlows {
        size: 90,
        vlan: None,
        src_ip: IpRange {
            first: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 0xfffe)),
            count: 5,
        },
        dst_ip: IpRange {
            first: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 0x11)),
            count: 2,
        },
        src_port: PortRange { first: 2049, count: 1 },
        dst_port: PortRange { first: 900, count: 1 },
        ..flows_v4()
    };
    let count = 2_000;
    let (report, received, frames) = send_flows_by_af_packet("pga", &spec, count);
    assert_eq!(report.offered, count);
    assert_eq!(report.bytes, Some(count * (spec.size - FCS_LEN) as u64));
    assert_eq!(received.frames, count);
    assert_eq!(received.bytes, report.bytes.unwrap_or_default());
    assert_eq!(frames.len() as u64, count);
    let per_flow = check_flow_frames(&spec, &frames);
    assert_eq!(
        per_flow.len(),
        10,
        "the low 32 bits carried over 16-bit words: {per_flow:?}"
    );
    assert!(per_flow.values().all(|&n| n == count / 10), "{per_flow:?}");
}

#[test]
fn replay_plays_the_templates_in_order_at_their_own_lengths() {
    require_root!("replay_plays_the_templates_in_order_at_their_own_lengths");
    let limit = live_frame_limit().expect("live frames");
    let mut mix = Templates::vsphere_mix(vmknet_testbed::DEFAULT_SEED);
    mix.fit(60, limit);
    // A few templates of different lengths, shorter and longer than the 60-byte seed frame; no broadcasts,
    // which nothing needs here.
    let mut chosen: Vec<Vec<u8>> = Vec::new();
    for frame in mix.frames {
        if chosen.iter().all(|c| c.len() != frame.len()) && !frame.starts_with(&[0xff; 6]) {
            chosen.push(frame);
        }
        if chosen.len() == 7 {
            break;
        }
    }
    assert!(
        chosen.iter().any(|f| f.len() > 1000),
        "a long frame among {:?}",
        lengths(&chosen)
    );
    let count = 7 * 300;
    let templates = chosen.clone();
    let (report, received, frames) = send_and_capture("pgr", move |peer| {
        let generator = Generator::replay(&templates, ifindex(peer)?, false)?;
        let single_cpu = Pace {
            cpus: vec![0],
            ..pace(count)
        };
        let mut report = run(Method::XdpLive, &single_cpu, &AtomicBool::new(false), |_| {
            LiveTx::new(&generator, 16)
        })?;
        let counted = generator.counters()?;
        report.redirected = Some(counted.frames);
        report.bytes = Some(counted.bytes);
        Ok(report)
    });
    assert_eq!(report.offered, count);
    let round: u64 = chosen.iter().map(|f| f.len() as u64).sum();
    assert_eq!(report.bytes, Some(round * 300));
    assert_eq!(received.frames, count);
    assert_eq!(received.bytes, round * 300);
    assert_eq!(frames.len() as u64, count);
    for (i, frame) in frames.iter().enumerate() {
        assert_eq!(
            frame,
            &chosen[i % chosen.len()],
            "frame {i} of lengths {:?}",
            lengths(&chosen)
        );
    }
}

fn lengths(frames: &[Vec<u8>]) -> Vec<usize> {
    frames.iter().map(Vec::len).collect()
}

/// An AF_PACKET capture of what an interface receives, with 802.1Q tags put back where the kernel's receive
/// path took them out (into the skb, reported in PACKET_AUXDATA), as libpcap does.
struct Capture {
    socket: OwnedFd,
}

impl Capture {
    fn open(ifindex: u32) -> io::Result<Self> {
        // Safety: plain socket(2), owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                i32::from(ETH_P_ALL.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // Safety: `fd` is new and ours.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        for (level, option, value) in [
            (libc::SOL_PACKET, PACKET_AUXDATA, 1),
            (libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, CAPTURE_BUFFER),
        ] {
            // Safety: an int option of the right size.
            let ret = unsafe {
                libc::setsockopt(
                    fd,
                    level,
                    option,
                    (&raw const value).cast(),
                    size_of::<libc::c_int>() as u32,
                )
            };
            if ret < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // Safety: all-zero is a valid sockaddr_ll.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_protocol = ETH_P_ALL.to_be();
        addr.sll_ifindex = ifindex as i32;
        // Safety: a valid sockaddr_ll of the size passed.
        let ret = unsafe { libc::bind(fd, (&raw const addr).cast(), size_of::<libc::sockaddr_ll>() as u32) };
        if ret < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { socket })
    }

    /// Received frames (not the interface's own transmissions) until `expected` came or none came for
    /// [`QUIET`]; frames beyond `expected` are taken too, so that extras show.
    fn frames(&self, expected: usize) -> Vec<Vec<u8>> {
        let mut frames = Vec::with_capacity(expected);
        let mut last = Instant::now();
        let mut buf = vec![0u8; 65536];
        while last.elapsed() < QUIET && frames.len() <= expected {
            match self.receive(&mut buf) {
                Some(frame) => {
                    frames.extend(frame);
                    last = Instant::now();
                }
                None => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        frames
    }

    /// One datagram: `Some(Some(frame))`, `Some(None)` for an outgoing one, `None` when there is none.
    fn receive(&self, buf: &mut [u8]) -> Option<Option<Vec<u8>>> {
        // Safety: zeroed sockaddr_ll, msghdr and control buffer are valid; they are filled by recvmsg.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // Safety: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&raw mut addr).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of_val(&control);
        // Safety: `msg` points at live buffers of the sizes given.
        let n = unsafe { libc::recvmsg(self.socket.as_raw_fd(), &raw mut msg, 0) };
        if n < 0 {
            return None;
        }
        if addr.sll_pkttype == libc::PACKET_OUTGOING {
            return Some(None);
        }
        let mut frame = buf[..n as usize].to_vec();
        // Safety: the control buffer was filled by recvmsg; the CMSG macros walk it within msg_controllen.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&raw const msg) };
        while !cmsg.is_null() {
            // Safety: a non-null header inside the control buffer.
            let header = unsafe { &*cmsg };
            if header.cmsg_level == libc::SOL_PACKET && header.cmsg_type == PACKET_AUXDATA {
                // Safety: PACKET_AUXDATA carries a tpacket_auxdata, possibly unaligned.
                let aux: libc::tpacket_auxdata = unsafe { std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast()) };
                if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                    let mut tag = aux.tp_vlan_tpid.to_be_bytes().to_vec();
                    if aux.tp_vlan_tpid == 0 {
                        tag = 0x8100u16.to_be_bytes().to_vec();
                    }
                    tag.extend(aux.tp_vlan_tci.to_be_bytes());
                    frame.splice(12..12, tag);
                }
            }
            // Safety: as for CMSG_FIRSTHDR.
            cmsg = unsafe { libc::CMSG_NXTHDR(&raw const msg, cmsg) };
        }
        Some(Some(frame))
    }
}

/// Every frame carries a stamp taken during the run (between `before` and now, and less than 10 s old) and,
/// now stamped, still valid checksums ([`stamp_site`] checks them).
fn check_stamps(frames: &[Vec<u8>], before: u64) {
    let now = monotonic_ns();
    for frame in frames {
        let sent = read_stamp(frame.as_slice()).unwrap_or_else(|| panic!("no stamp: {frame:02x?}"));
        assert!(
            (before..=now).contains(&sent),
            "stamp {sent} outside the run [{before}, {now}]"
        );
        assert!(now - sent < 10_000_000_000, "a stamp {} ns old", now - sent);
        assert!(
            stamp_site(frame).is_some(),
            "checksums broken by the stamp: {frame:02x?}"
        );
    }
}

#[test]
fn stamped_live_flows_arrive_with_their_send_time() {
    require_root!("stamped_live_flows_arrive_with_their_send_time");
    // The smallest stamped frame (64 bytes tagged), with varied flows and with the single-flow fast path.
    let varied = UdpFlows {
        size: 64,
        timestamp: true,
        ..flows_v4()
    };
    let single = UdpFlows {
        src_ip: IpRange {
            count: 1,
            ..varied.src_ip
        },
        dst_port: PortRange {
            count: 1,
            ..varied.dst_port
        },
        ..varied.clone()
    };
    for (prefix, spec) in [("pgs", varied), ("pg1", single)] {
        let before = monotonic_ns();
        let (report, received, frames) = send_live_flows(prefix, &spec);
        assert_eq!((report.offered, received.frames), (FRAMES, FRAMES), "{prefix}");
        assert_eq!(frames.len() as u64, FRAMES, "{prefix}: the capture got every frame");
        assert_eq!(check_flow_frames(&spec, &frames).len() as u64, spec.flows(), "{prefix}");
        check_stamps(&frames, before);
        let distinct: std::collections::BTreeSet<_> = frames.iter().map(|f| read_stamp(f.as_slice())).collect();
        assert!(distinct.len() > 1, "{prefix}: stamps advance");
    }
}

#[test]
fn stamped_replay_and_af_packet_frames_carry_their_send_time() {
    require_root!("stamped_replay_and_af_packet_frames_carry_their_send_time");
    let limit = live_frame_limit().expect("live frames");
    let mut mix = Templates::vsphere_mix(vmknet_testbed::DEFAULT_SEED);
    mix.fit(60, limit);
    mix.frames.retain(|frame| !frame.starts_with(&[0xff; 6]));
    // Some templates that take a stamp and some that do not (ARP, ICMP, short payloads).
    let (mut can, mut cannot): (Vec<_>, Vec<_>) = mix.frames.into_iter().partition(|f| stamp_site(f).is_some());
    can.truncate(5);
    cannot.truncate(2);
    assert!(can.len() == 5 && !cannot.is_empty(), "the mix has both kinds");
    let chosen: Vec<Vec<u8>> = can.into_iter().chain(cannot).collect();
    let count = chosen.len() as u64 * 200;
    let templates = chosen.clone();
    let before = monotonic_ns();
    let (report, received, frames) = send_and_capture("pgt", move |peer| {
        let generator = Generator::replay(&templates, ifindex(peer)?, true)?;
        let single_cpu = Pace {
            cpus: vec![0],
            ..pace(count)
        };
        run(Method::XdpLive, &single_cpu, &AtomicBool::new(false), |_| {
            LiveTx::new(&generator, 16)
        })
    });
    assert_eq!(
        (report.offered, received.frames, frames.len() as u64),
        (count, count, count)
    );
    let (stamped, plain): (Vec<_>, Vec<_>) = frames
        .iter()
        .enumerate()
        .partition(|(i, _)| stamp_site(&chosen[i % chosen.len()]).is_some());
    let stamped: Vec<Vec<u8>> = stamped.into_iter().map(|(_, f)| f.clone()).collect();
    check_stamps(&stamped, before);
    for (i, frame) in plain {
        assert_eq!(frame, &chosen[i % chosen.len()], "frame {i} is played as it is");
    }

    // AF_PACKET: stamped in userspace, one clock read per batch.
    let spec = UdpFlows {
        size: 78,
        vlan: None,
        src_ip: IpRange {
            first: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 1)),
            count: 3,
        },
        dst_ip: IpRange {
            first: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x20, 0, 0, 0, 0, 0, 0x11)),
            count: 1,
        },
        timestamp: true,
        ..flows_v4()
    };
    let count = 2_000;
    let before = monotonic_ns();
    let (report, received, frames) = send_flows_by_af_packet("pgu", &spec, count);
    assert_eq!(
        (report.offered, received.frames, frames.len() as u64),
        (count, count, count)
    );
    assert_eq!(check_flow_frames(&spec, &frames).len() as u64, spec.flows());
    check_stamps(&frames, before);
}
