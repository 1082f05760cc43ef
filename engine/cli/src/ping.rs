//! `vmknet ping`: vmkping through a running engine. Starts the fast path on the interface with the host
//! file, sends echo requests from a vmk through its netstack's egress (route, neighbour resolution, egress
//! MTU, VLAN) with the engine's [`LocalPort`], prints what [`PingSession`] makes of the replies, and stops
//! the engine.
//!
//! Exit status: 0 when replies came, 1 when none did (a `-d` probe over the MTU fails locally with
//! `sendto() failed (Message too long)` and gets none), 2 when it cannot run (capabilities, an interface
//! that has an XDP program already, an unknown vmk, ...).

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;

use super::emit;
use vmknet::io::xsk::XskConfig;
use vmknet::model::{HostModel, Vmk};
use vmknet::netstack::{PingOptions, PingSession, source_address};
use vmknet::runtime::{Engine, EngineConfig, Fate, LocalPort, check_capabilities};

#[derive(Debug, Args)]
pub(crate) struct PingArgs {
    /// The vmk to send from (vmkping's `-I`).
    #[arg(short = 'I', value_name = "VMK")]
    interface: String,
    /// The netstack (vmkping's `-S`): must be the vmk's.
    #[arg(short = 'S', value_name = "NETSTACK")]
    netstack: Option<String>,
    /// Set the don't-fragment bit (IPv4).
    #[arg(short = 'd')]
    dont_fragment: bool,
    /// ICMP data bytes per request.
    #[arg(short = 's', value_name = "SIZE", default_value_t = vmknet::netstack::ping::DEFAULT_SIZE)]
    size: usize,
    /// Requests to send.
    #[arg(short = 'c', value_name = "COUNT", default_value_t = vmknet::netstack::ping::DEFAULT_COUNT)]
    count: u32,
    /// Seconds between requests.
    #[arg(short = 'i', value_name = "SECS", default_value_t = 1.0)]
    interval: f64,
    /// Seconds to wait for replies after the last request.
    #[arg(short = 'W', value_name = "SECS", default_value_t = 1.0)]
    timeout: f64,
    /// IPv6.
    #[arg(short = '6')]
    ipv6: bool,
    /// The interface the engine runs on.
    #[arg(long, value_name = "IF")]
    iface: String,
    /// Host file (TOML); the embedded default host when omitted.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The address to ping.
    host: IpAddr,
}

/// How often the control thread looks for replies.
const TICK: Duration = Duration::from_millis(1);

/// UMEM frames per queue: a ping needs few; the rest of the default budget is not pinned.
const FRAMES: u32 = 1024;

pub(crate) fn run(args: &PingArgs) -> ExitCode {
    match ping(args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("vmknet ping: {message}");
            ExitCode::from(2)
        }
    }
}

fn ping(args: &PingArgs) -> Result<ExitCode, String> {
    let valid = |s: f64| s.is_finite() && s >= 0.0;
    if !valid(args.interval) || !valid(args.timeout) {
        return Err("-i and -W take a non-negative number of seconds".into());
    }
    if args.ipv6 != args.host.is_ipv6() {
        return Err(format!(
            "{} is not an {} address",
            args.host,
            if args.ipv6 {
                "IPv6 (-6)"
            } else {
                "IPv4 (use -6 for IPv6)"
            }
        ));
    }
    let model = Arc::new(HostModel::load_or_default(args.config.as_deref()).map_err(|e| e.to_string())?);
    let vmk = model
        .vmk_by_name(&args.interface)
        .ok_or_else(|| format!("no adapter `{}` in the host file", args.interface))?;
    let netstack = &model.netstacks[vmk.netstack.index()];
    if let Some(asked) = &args.netstack
        && *asked != netstack.key.to_string()
    {
        return Err(format!("{} is on netstack {}, not {asked}", vmk.name, netstack.key));
    }
    let src = source(vmk, args.host)?;
    let options = PingOptions {
        count: args.count,
        size: args.size,
        dont_fragment: args.dont_fragment,
        ..PingOptions::default()
    };
    let ident = std::process::id() as u16;
    let mut session = PingSession::new(src, args.host, ident, options).map_err(|e| e.to_string())?;
    let xsk = XskConfig {
        frame_count: FRAMES,
        ..XskConfig::default()
    };
    check_capabilities(xsk.umem_bytes()).map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop)).map_err(|e| format!("signal {signal}: {e}"))?;
    }
    let config = EngineConfig {
        xsk,
        ..EngineConfig::new(&args.iface)
    };
    let mut engine = Engine::start(Arc::clone(&model), &config).map_err(|e| e.to_string())?;
    let mut port = engine.local_port().ok_or("the engine's local port is taken")?;
    port.listen_echo(ident);
    emit(format_args!("{}\n", session.header()));
    let vmk_id = vmk.id;
    let epoch = Instant::now();
    let now_ns = || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut packet = vec![0u8; session.request_len()];
    let interval = Duration::from_secs_f64(args.interval);
    let mut seq = 0u16;
    let mut next_at = epoch;
    let mut last_sent = epoch;
    loop {
        if stop.load(Ordering::Relaxed) || engine.worker_stopped() {
            break;
        }
        let now = Instant::now();
        if !session.is_complete() && now >= next_at {
            if let Some(len) = session
                .next_request(now_ns(), seq, &mut packet)
                .map_err(|e| e.to_string())?
            {
                port.submit(vmk_id, u64::from(seq), &packet[..len])
                    .map_err(|e| e.to_string())?;
                seq = seq.wrapping_add(1);
            }
            last_sent = now;
            next_at = now + interval;
        }
        take_news(&mut port, &mut session, now_ns());
        let statistics = session.statistics();
        let all_answered = statistics.received >= args.count;
        if session.is_complete()
            && (all_answered || now.duration_since(last_sent) >= Duration::from_secs_f64(args.timeout))
        {
            break;
        }
        std::thread::sleep(TICK);
    }
    take_news(&mut port, &mut session, now_ns());
    let statistics = session.statistics();
    emit(format_args!("{statistics}"));
    engine.finish().map_err(|e| e.to_string())?;
    Ok(if statistics.received > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Prints the line of every refused request and matched reply that came back.
fn take_news(port: &mut LocalPort, session: &mut PingSession, now_ns: u64) {
    port.collect(|_, fate| {
        if let Fate::Refused(err) = fate {
            emit(format_args!("{}\n", session.send_failed(&err)));
        }
    });
    while port.next_echo_reply(|ip| {
        if let Some(reply) = session.on_packet(ip, now_ns) {
            emit(format_args!("{reply}\n"));
        }
    }) {}
}

/// The vmk's address towards `host`.
fn source(vmk: &Vmk, host: IpAddr) -> Result<IpAddr, String> {
    source_address(vmk, host).ok_or_else(|| {
        format!(
            "{} has no {} address",
            vmk.name,
            if host.is_ipv6() { "IPv6" } else { "IPv4" }
        )
    })
}
