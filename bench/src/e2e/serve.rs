//! The subjects vmknet provides itself, each run by `vmknet-bench serve` as a child process of the benchmark:
//! the classifier in ceiling mode, the engine with its pipeline off (bare AF_XDP) or on, and the kernel's
//! UDP socket path.
//!
//! A child of its own, like the external peers, so that its peak memory and CPU are its own and a crash
//! cannot take the benchmark down. Protocol on standard output: one line `ready` once the subject receives
//! (XDP attached, sockets bound), then, after SIGINT or SIGTERM, one line of JSON: a [`ServeOutcome`].

use std::io::{self, Write as _};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2Serializer};
use serde::{Deserialize, Serialize};
use vmknet::model::HostModel;
use vmknet::runtime::{CpuList, Engine, EngineConfig, LatencyProbe, Processing, monotonic_ns};
use vmknet::xdp::{AttachMode, Ceiling};

use super::model::{Idle, Subject};
use crate::pktgen::{Sink, SinkAction};

/// What a served subject counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServeOutcome {
    /// Frames the subject received: judged by the XDP program (ceiling), read from the AF_XDP rings (bare,
    /// engine) or datagrams read from the socket (kernel).
    pub frames: u64,
    /// Frames lost on the way in that the subject knows of (AF_XDP rings full).
    pub lost: u64,
    /// Send-to-receive latency of stamped frames in nanoseconds, an HdrHistogram in its V2 encoding.
    pub latency: Option<Vec<u8>>,
}

/// How a subject is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeSpec {
    /// Which; only those vmknet provides (not xdp-bench or DPDK).
    pub subject: Subject,
    /// The receiving interface.
    pub interface: String,
    /// The core of the subject's one worker.
    pub cpu: usize,
    /// Time stamped frames.
    pub latency: bool,
    /// The kernel subject's UDP port.
    pub udp_port: u16,
}

/// How often the serving thread looks at the stop flag.
const TICK: Duration = Duration::from_millis(20);
/// Datagrams per `recvmmsg()`.
const UDP_BATCH: usize = 64;
/// Room for the largest datagram of a 9014-byte frame.
const UDP_BUFFER: usize = 9216;
/// The kernel subject's socket receive buffer.
const UDP_RCVBUF: libc::c_int = 16 << 20;

/// Serves `spec` until `stop` is raised, printing `ready` when it receives; returns what it counted.
///
/// # Errors
/// The subject could not start (a message naming what failed).
pub fn serve(spec: &ServeSpec, stop: &AtomicBool) -> Result<ServeOutcome, String> {
    match spec.subject {
        Subject::ClassifierDrop => serve_ceiling(spec, stop),
        Subject::BareAfXdp(idle) => serve_engine(spec, Processing::Off, idle, stop),
        Subject::Engine(idle) => serve_engine(spec, Processing::Pipeline, idle, stop),
        Subject::KernelUdp => serve_udp(spec, stop),
        other => Err(format!("{other} is not served by vmknet-bench")),
    }
}

fn ready() {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
}

fn wait(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(TICK);
    }
}

fn serve_ceiling(spec: &ServeSpec, stop: &AtomicBool) -> Result<ServeOutcome, String> {
    let model = HostModel::embedded_default();
    let ceiling = Ceiling::attach(&model, &spec.interface, AttachMode::Native).map_err(|err| err.to_string())?;
    ready();
    wait(stop);
    let counters = ceiling.counters().map_err(|err| err.to_string())?;
    Ok(ServeOutcome {
        frames: counters.frames(),
        ..ServeOutcome::default()
    })
}

fn serve_engine(
    spec: &ServeSpec,
    processing: Processing,
    idle: Idle,
    stop: &AtomicBool,
) -> Result<ServeOutcome, String> {
    let model = Arc::new(HostModel::embedded_default());
    let cpus: CpuList = spec
        .cpu
        .to_string()
        .parse()
        .map_err(|err| format!("CPU {}: {err}", spec.cpu))?;
    let config = EngineConfig {
        queues: Some(1),
        cpus: Some(cpus),
        attach: AttachMode::Native,
        busy_poll: idle == Idle::Busy,
        processing,
        latency: spec.latency,
        ..EngineConfig::new(spec.interface.clone())
    };
    let engine = Engine::start(model, &config).map_err(|err| err.to_string())?;
    ready();
    while !stop.load(Ordering::Relaxed) && !engine.worker_stopped() {
        std::thread::sleep(TICK);
    }
    let summary = engine.finish().map_err(|err| err.to_string())?;
    Ok(ServeOutcome {
        frames: summary.socket_rx(),
        lost: summary.socket_lost(),
        latency: summary.latency.as_ref().map(encode).transpose()?,
    })
}

/// The kernel's socket path: an `XDP_PASS` program (veth only receives redirected frames with a program
/// attached), then a UDP socket read with `recvmmsg()` by one thread pinned to the subject's core.
fn serve_udp(spec: &ServeSpec, stop: &AtomicBool) -> Result<ServeOutcome, String> {
    let mut sink = Sink::load(SinkAction::Pass).map_err(|err| err.to_string())?;
    sink.attach(&spec.interface, false).map_err(|err| err.to_string())?;
    vmknet::runtime::pin_thread(0, spec.cpu).map_err(|err| format!("pinning to CPU {}: {err}", spec.cpu))?;
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, spec.udp_port))
        .map_err(|err| format!("binding UDP port {}: {err}", spec.udp_port))?;
    socket
        .set_read_timeout(Some(TICK))
        .map_err(|err| format!("SO_RCVTIMEO: {err}"))?;
    // As root the buffer may exceed rmem_max; a refusal only makes drops likelier.
    let rcvbuf = UDP_RCVBUF;
    // Safety: a valid socket and an int option of the size given.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&raw const rcvbuf).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let mut probe = LatencyProbe::new().map_err(|err| format!("the latency histogram: {err}"))?;
    let mut buffers = vec![[0u8; UDP_BUFFER]; UDP_BATCH];
    let mut iovecs: Vec<libc::iovec> = buffers
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // Safety: mmsghdr is plain data; all-zero is a valid empty header.
    let mut headers: Vec<libc::mmsghdr> = (0..UDP_BATCH)
        .map(|_| unsafe { MaybeUninit::zeroed().assume_init() })
        .collect();
    for (header, iovec) in headers.iter_mut().zip(&mut iovecs) {
        header.msg_hdr.msg_iov = iovec;
        header.msg_hdr.msg_iovlen = 1;
    }
    ready();
    let mut frames = 0;
    while !stop.load(Ordering::Relaxed) {
        // Safety: `headers` point at `iovecs`, which point at `buffers`, all alive and unmoved for the call.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                headers.as_mut_ptr(),
                UDP_BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        let Ok(n) = usize::try_from(n) else {
            continue; // the timeout (EAGAIN) or a signal: look at the stop flag
        };
        frames += n as u64;
        if spec.latency {
            let now = monotonic_ns();
            for (header, buffer) in headers.iter().zip(&buffers).take(n) {
                probe.record_payload(now, buffer.get(..header.msg_len as usize).unwrap_or_default());
            }
        }
    }
    Ok(ServeOutcome {
        frames,
        lost: 0,
        latency: if spec.latency {
            Some(encode(probe.histogram())?)
        } else {
            None
        },
    })
}

/// `histogram` in HdrHistogram's V2 encoding.
fn encode(histogram: &Histogram<u64>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    V2Serializer::new()
        .serialize(histogram, &mut bytes)
        .map_err(|err| format!("encoding the latency histogram: {err:?}"))?;
    Ok(bytes)
}

/// A histogram [`ServeOutcome::latency`] holds.
///
/// # Errors
/// The bytes are not a V2-encoded histogram.
pub fn decode(bytes: &[u8]) -> Result<Histogram<u64>, String> {
    Deserializer::new()
        .deserialize(&mut &bytes[..])
        .map_err(|err| format!("decoding a latency histogram: {err:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_survive_the_trip_to_the_benchmark() {
        let mut probe = LatencyProbe::new().unwrap();
        for (now, sent) in [(2_000, 1_000), (3_500, 2_000), (22_000, 2_000), (1_002_000, 2_000)] {
            let mut payload = vmknet_common::stamp::stamp_bytes(sent).to_vec();
            payload.extend([0; 6]);
            assert!(probe.record_payload(now, &payload));
        }
        let again = decode(&encode(probe.histogram()).unwrap()).unwrap();
        assert_eq!(again.len(), 4);
        for q in [0.5, 0.99, 0.999, 1.0] {
            assert_eq!(
                again.value_at_quantile(q),
                probe.histogram().value_at_quantile(q),
                "q {q}"
            );
        }
    }
}
