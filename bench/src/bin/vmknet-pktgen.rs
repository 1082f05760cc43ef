//! `vmknet-pktgen`: the project's packet generator, with the kernel pktgen's knobs, on XDP live frames.
//! See `vmknet-pktgen --help` and the [`vmknet_bench::pktgen`] module.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand, ValueEnum};
use vmknet_bench::pktgen::afpacket::{Frames, PacketTx};
use vmknet_bench::pktgen::frame::FCS_LEN;
use vmknet_bench::pktgen::programs::REPLAY_MIN_LEN;
use vmknet_bench::pktgen::run::rate;
use vmknet_bench::pktgen::stamp::stamp_site;
use vmknet_bench::pktgen::templates::Templates;
use vmknet_bench::pktgen::{
    Generator, IpRange, LiveTx, Method, Pace, PktgenError, PortRange, Report, Sink, SinkAction, UdpFlows, ifindex,
    interface_mac, live_frame_limit, parse_mac, run,
};

const ABOUT: &str = "A packet generator on XDP live frames, with the kernel pktgen's knobs.

Frames are built in the kernel by BPF_PROG_TEST_RUN in live-frame mode (Linux 5.18+) and handed to the
device's ndo_xdp_xmit by an XDP program returning bpf_redirect(ifindex): no skb, millions of frames per
second per core. Devices without ndo_xdp_xmit (and frames longer than a live frame, 3408 bytes on Linux 6.18 x86_64) take
--method af-packet (sendmmsg, skbs, 0.3 to 0.6 Mpps per core). A veth target needs an XDP program attached
at its peer (`vmknet-pktgen sink` is one), or GRO on there.

Frame sizes count the 4-byte FCS, as pktgen's do: --size 64 puts 60 bytes on the wire buffer.";

#[derive(Debug, Parser)]
#[command(name = "vmknet-pktgen", version, about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send UDP flows: every combination of the address and port ranges, destination port fastest.
    Flows(FlowsArgs),
    /// Send the frames of a capture, or the testbed's vSphere mix, in order, again and again.
    Replay(ReplayArgs),
    /// Count the frames arriving on an interface (an XDP program, drop or pass), e.g. a veth peer.
    Sink(SinkArgs),
    /// Check live-frame support and print the longest live frame this kernel takes.
    Probe,
}

#[derive(Debug, Args)]
struct SendArgs {
    /// Interface to send on.
    #[arg(short, long, value_name = "IF")]
    iface: String,
    /// Frames to send in all, split over the threads (0: until --duration or Ctrl-C).
    #[arg(short = 'n', long, default_value_t = 0)]
    count: u64,
    /// Stop after this many seconds.
    #[arg(short, long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Frames per second in all, split over the threads (0: as fast as possible).
    #[arg(short, long, value_name = "PPS", default_value_t = 0)]
    rate: u64,
    /// Sending threads, each pinned to its CPU (CPUs 0, 1, … unless --cpus says).
    #[arg(short, long, default_value_t = 1)]
    threads: usize,
    /// CPUs to pin the threads to, e.g. `0,1` (overrides --threads).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    cpus: Vec<usize>,
    /// Frames per kernel batch: built and flushed together (live frames, 1 to 256), or per sendmmsg
    /// (AF_PACKET, 1 to 64).
    #[arg(short, long, default_value_t = 64)]
    burst: u32,
    /// How frames leave.
    #[arg(long, value_enum, default_value_t = MethodArg::Xdp)]
    method: MethodArg,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Debug, Args)]
struct FlowsArgs {
    #[command(flatten)]
    send: SendArgs,
    /// Frame size on the wire, FCS included (64 to 1518; up to the MTU + 18, jumbo needs --method af-packet).
    #[arg(short, long, default_value_t = 64)]
    size: usize,
    /// 802.1Q VLAN id, carried in-band.
    #[arg(long, value_name = "VID")]
    vlan: Option<u16>,
    /// Destination MAC.
    #[arg(short = 'm', long, value_parser = parse_mac, default_value = "00:00:00:00:00:00")]
    dst_mac: [u8; 6],
    /// Source MAC (default: the interface's).
    #[arg(short = 'M', long, value_parser = parse_mac)]
    src_mac: Option<[u8; 6]>,
    /// IPv6 (the default addresses become fd00::1 and fd00::2).
    #[arg(short = '6', long)]
    ipv6: bool,
    /// Source addresses, `FIRST` or `FIRST-LAST` (IPv6 ranges vary the low 32 bits).
    #[arg(long, value_name = "RANGE")]
    src_ip: Option<String>,
    /// Destination addresses, `FIRST` or `FIRST-LAST`.
    #[arg(long, value_name = "RANGE")]
    dst_ip: Option<String>,
    /// UDP source ports, `FIRST` or `FIRST-LAST`.
    #[arg(long, value_name = "RANGE", default_value = "9")]
    src_port: String,
    /// UDP destination ports, `FIRST` or `FIRST-LAST`.
    #[arg(long, value_name = "RANGE", default_value = "9")]
    dst_port: String,
    /// Stamp every frame with its send time (CLOCK_MONOTONIC ns) in the first 12 payload bytes: "VMKT" and a
    /// big-endian u64 (needs 64 bytes tagged IPv4, 78 IPv6).
    #[arg(long)]
    timestamp: bool,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    #[command(flatten)]
    send: SendArgs,
    /// A pcap or pcapng capture to play.
    #[arg(long, value_name = "FILE", conflicts_with = "mix", required_unless_present = "mix")]
    capture: Option<PathBuf>,
    /// The testbed's vSphere mix for the embedded default host.
    #[arg(long)]
    mix: bool,
    /// Seed of the mix.
    #[arg(long, default_value_t = vmknet_testbed::DEFAULT_SEED, requires = "mix")]
    seed: u64,
    /// Leave out the frames live frames cannot hold (longer than the kernel's limit) instead of refusing.
    #[arg(long)]
    skip_oversize: bool,
    /// Stamp each UDP/TCP frame with 12 payload bytes and valid checksums with its send time ("VMKT" and a
    /// big-endian u64 of CLOCK_MONOTONIC ns at the payload start); other frames are played unstamped.
    #[arg(long)]
    timestamp: bool,
}

#[derive(Debug, Args)]
struct SinkArgs {
    /// Interface to count on.
    #[arg(short, long, value_name = "IF")]
    iface: String,
    /// Pass the frames on to Linux instead of dropping them.
    #[arg(long)]
    pass: bool,
    /// Attach in generic (skb) mode instead of native.
    #[arg(long)]
    generic: bool,
    /// Stop after this many seconds (default: Ctrl-C).
    #[arg(short, long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Print the rate every this many seconds (0: only the total).
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    interval: f64,
    /// Output format of the total.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MethodArg {
    /// XDP live frames (BPF_PROG_TEST_RUN + bpf_redirect).
    Xdp,
    /// AF_PACKET sendmmsg.
    AfPacket,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop)) {
            eprintln!("vmknet-pktgen: cannot handle signal {signal}: {err}");
            return ExitCode::from(2);
        }
    }
    let result = match cli.command {
        Command::Flows(args) => flows(&args, &stop),
        Command::Replay(args) => replay(args, &stop),
        Command::Sink(args) => sink(&args, &stop),
        Command::Probe => probe(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprint!("vmknet-pktgen: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprint!(": {cause}");
                source = cause.source();
            }
            eprintln!();
            ExitCode::FAILURE
        }
    }
}

fn flows(args: &FlowsArgs, stop: &AtomicBool) -> Result<(), PktgenError> {
    let send = &args.send;
    let target = ifindex(&send.iface)?;
    let (default_src, default_dst) = if args.ipv6 {
        (
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 1)),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        )
    } else {
        (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        )
    };
    let src_mac = match args.src_mac {
        Some(mac) => mac,
        None => interface_mac(&send.iface)?,
    };
    let spec = UdpFlows {
        size: args.size,
        vlan: args.vlan,
        src_mac,
        dst_mac: args.dst_mac,
        src_ip: ip_range(args.src_ip.as_deref(), default_src)?,
        dst_ip: ip_range(args.dst_ip.as_deref(), default_dst)?,
        src_port: port_range(&args.src_port)?,
        dst_port: port_range(&args.dst_port)?,
        timestamp: args.timestamp,
    };
    let template = spec.template()?;
    let pace = pace(send)?;
    let what = format!(
        "{}-byte frames, {} flow(s){}",
        args.size,
        spec.flows(),
        if args.timestamp { ", stamped" } else { "" }
    );
    let report = match send.method {
        MethodArg::Xdp => {
            let limit = live_frame_limit()?;
            if template.len() > limit {
                return Err(PktgenError::Invalid(format!(
                    "{}-byte frames are longer than a live frame holds on this kernel ({} bytes with FCS): use \
                     --method af-packet",
                    args.size,
                    limit + FCS_LEN
                )));
            }
            let generator = Generator::flows(&spec, target)?;
            run_live(&generator, send, &pace, stop)?
        }
        MethodArg::AfPacket => run(Method::AfPacket, &pace, stop, |_| {
            PacketTx::new(
                target,
                Frames::Flows {
                    template: &template,
                    config: spec.config(target),
                },
                send.burst,
            )
        })?,
    };
    print_report(&report, &what, send.format);
    Ok(())
}

fn replay(args: ReplayArgs, stop: &AtomicBool) -> Result<(), PktgenError> {
    let send = &args.send;
    let target = ifindex(&send.iface)?;
    let (mut templates, source) = match &args.capture {
        Some(path) => (Templates::from_capture(path)?, path.display().to_string()),
        None => (
            Templates::vsphere_mix(args.seed),
            format!("the vSphere mix (seed {})", args.seed),
        ),
    };
    let pace = pace(send)?;
    let max_len = match send.method {
        MethodArg::Xdp => live_frame_limit()?,
        MethodArg::AfPacket => usize::MAX,
    };
    let outside = templates.count_outside(REPLAY_MIN_LEN, max_len);
    if outside > 0 && !args.skip_oversize {
        return Err(PktgenError::Invalid(format!(
            "{outside} of {} frames are shorter than {REPLAY_MIN_LEN} or longer than {max_len} bytes, which \
             this method cannot send: add --skip-oversize to leave them out, or use --method af-packet for \
             long frames",
            templates.frames.len()
        )));
    }
    templates.fit(REPLAY_MIN_LEN, max_len);
    if outside > 0 {
        eprintln!("vmknet-pktgen: left out {outside} frame(s) this method cannot send (--skip-oversize)");
    }
    let mut what = format!("{} frame(s) of {source}", templates.frames.len());
    if args.timestamp {
        let stamped = templates.frames.iter().filter(|f| stamp_site(f).is_some()).count();
        what += &format!(", {stamped} of them stamped");
    }
    let report = match send.method {
        MethodArg::Xdp => {
            let generator = Generator::replay(&templates.frames, target, args.timestamp)?;
            run_live(&generator, send, &pace, stop)?
        }
        MethodArg::AfPacket => run(Method::AfPacket, &pace, stop, |_| {
            let frames = Frames::Replay {
                frames: &templates.frames,
                timestamp: args.timestamp,
            };
            PacketTx::new(target, frames, send.burst)
        })?,
    };
    print_report(&report, &what, send.format);
    Ok(())
}

/// Runs `generator` with live frames and adds its counters to the report.
fn run_live(generator: &Generator, send: &SendArgs, pace: &Pace, stop: &AtomicBool) -> Result<Report, PktgenError> {
    let mut report = run(Method::XdpLive, pace, stop, |_| LiveTx::new(generator, send.burst))?;
    let counted = generator.counters()?;
    report.redirected = Some(counted.frames);
    report.bytes = Some(counted.bytes);
    Ok(report)
}

fn sink(args: &SinkArgs, stop: &AtomicBool) -> Result<(), PktgenError> {
    let action = if args.pass { SinkAction::Pass } else { SinkAction::Drop };
    let mut sink = Sink::load(action)?;
    sink.attach(&args.iface, args.generic)?;
    let start = Instant::now();
    let deadline = args.duration.map(|s| start + Duration::from_secs_f64(s));
    let interval = (args.interval > 0.0).then(|| Duration::from_secs_f64(args.interval));
    let tick = Duration::from_millis(20);
    let mut last = (start, sink.counters()?.frames);
    while !stop.load(Ordering::Relaxed) && deadline.is_none_or(|d| Instant::now() < d) {
        std::thread::sleep(tick);
        if let Some(interval) = interval
            && last.0.elapsed() >= interval
        {
            let frames = sink.counters()?.frames;
            let seconds = last.0.elapsed().as_secs_f64();
            eprintln!("{}: rx {:.3} Mpps", args.iface, rate(frames - last.1, seconds) / 1e6);
            last = (Instant::now(), frames);
        }
    }
    let total = sink.counters()?;
    let seconds = start.elapsed().as_secs_f64();
    match args.format {
        Format::Text => println!(
            "{}: received {} frames, {} bytes in {seconds:.3} s ({:.3} Mpps)",
            args.iface,
            total.frames,
            total.bytes,
            rate(total.frames, seconds) / 1e6
        ),
        Format::Json => println!(
            "{}",
            serde_json::json!({
                "interface": args.iface,
                "frames": total.frames,
                "bytes": total.bytes,
                "seconds": seconds,
            })
        ),
    }
    Ok(())
}

fn probe() -> Result<(), PktgenError> {
    let limit = live_frame_limit()?;
    println!(
        "live frames: supported; longest live frame {limit} bytes ({} with FCS); no multi-buffer (frags) in \
         live mode: longer frames need --method af-packet",
        limit + FCS_LEN
    );
    Ok(())
}

fn pace(send: &SendArgs) -> Result<Pace, PktgenError> {
    let cpus = if send.cpus.is_empty() {
        (0..send.threads).collect()
    } else {
        send.cpus.clone()
    };
    let duration = send
        .duration
        .map(|s| Duration::try_from_secs_f64(s).map_err(|_| PktgenError::Invalid(format!("--duration {s}"))))
        .transpose()?;
    Ok(Pace {
        count: send.count,
        duration,
        rate: send.rate,
        cpus,
    })
}

fn print_report(report: &Report, what: &str, format: Format) {
    match format {
        Format::Text => {
            let method = match report.method {
                Method::XdpLive => "XDP live frames",
                Method::AfPacket => "AF_PACKET",
            };
            println!("{method}, {} thread(s), {what}", report.threads);
            println!(
                "offered {} frames in {:.3} s: {:.3} Mpps",
                report.offered,
                report.seconds,
                report.pps() / 1e6
            );
            if let Some(redirected) = report.redirected {
                println!("redirected by the XDP program: {redirected} frames");
            }
            if let Some(bytes) = report.bytes {
                let wire_bits = (bytes + FCS_LEN as u64 * report.offered) * 8;
                println!(
                    "{bytes} bytes, {:.3} Gbit/s (FCS included)",
                    rate(wire_bits, report.seconds) / 1e9
                );
            }
        }
        Format::Json => {
            let mut json = serde_json::to_value(report).unwrap_or_default();
            json["what"] = what.into();
            json["pps"] = report.pps().into();
            println!("{json}");
        }
    }
}

/// `FIRST` or `FIRST-LAST`, both of one family; `default` when absent.
fn ip_range(text: Option<&str>, default: IpAddr) -> Result<IpRange, PktgenError> {
    let Some(text) = text else {
        return Ok(IpRange {
            first: default,
            count: 1,
        });
    };
    let bad = || PktgenError::Invalid(format!("`{text}` is not an address range (FIRST or FIRST-LAST)"));
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let (first, last): (IpAddr, IpAddr) = (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
    let count = match (first, last) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u32::from(b).checked_sub(u32::from(a)),
        (IpAddr::V6(a), IpAddr::V6(b)) if a.to_bits() >> 32 == b.to_bits() >> 32 => {
            (b.to_bits() as u32).checked_sub(a.to_bits() as u32)
        }
        _ => None,
    }
    .and_then(|span| span.checked_add(1))
    .ok_or_else(|| {
        PktgenError::Invalid(format!(
            "`{text}`: LAST must not precede FIRST, be of the same family and, for IPv6, differ only in the low 32 bits"
        ))
    })?;
    Ok(IpRange { first, count })
}

/// `FIRST` or `FIRST-LAST`.
fn port_range(text: &str) -> Result<PortRange, PktgenError> {
    let bad = || {
        PktgenError::Invalid(format!(
            "`{text}` is not a port range (FIRST or FIRST-LAST, 0 to 65535)"
        ))
    };
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let (first, last): (u16, u16) = (first.parse().map_err(|_| bad())?, last.parse().map_err(|_| bad())?);
    let count = last.checked_sub(first).ok_or_else(bad)?;
    Ok(PortRange {
        first,
        count: u32::from(count) + 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_ranges_parse_and_bad_ones_are_refused() {
        let v4 = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        let range = ip_range(Some("10.0.0.1-10.0.0.4"), v4).unwrap();
        assert_eq!((range.first, range.count), (v4, 4));
        assert_eq!(ip_range(None, v4).unwrap().count, 1);
        assert_eq!(ip_range(Some("fd00::1-fd00::1:5"), v4).unwrap().count, 0x1_0005);
        for bad in [
            "10.0.0.4-10.0.0.1",
            "10.0.0.1-fd00::1",
            "fd00::1-fd01::1",
            "10.0.0",
            "0.0.0.0-255.255.255.255",
        ] {
            assert!(ip_range(Some(bad), v4).is_err(), "{bad}");
        }
    }

    #[test]
    fn port_ranges_parse_and_bad_ones_are_refused() {
        let range = port_range("5000-5009").unwrap();
        assert_eq!((range.first, range.count), (5000, 10));
        assert_eq!(port_range("0-65535").unwrap().count, 65536);
        assert_eq!(port_range("9").unwrap().count, 1);
        for bad in ["65535-1", "70000", "a-b", "1-"] {
            assert!(port_range(bad).is_err(), "{bad}");
        }
    }
}
