//! One phase of the demo: a host model and its labelled frames through an engine of its own on the testbed's
//! veth pair.
//!
//! The engine is started on the host end with the phase's host, the frames are sent from the peer end by one
//! AF_PACKET sender per queue, pinned to the CPU of that queue's worker (with the topology's XPS, sender `i`
//! feeds rx queue `i`), the counters are left to settle, the engine is stopped (which detaches the program),
//! and the run is compared with the labels ([`super::accounting`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use vmknet::model::HostModel;
use vmknet::runtime::{CpuList, Engine, EngineConfig, RunSummary};
use vmknet::xdp::AttachMode;
use vmknet_testbed::frames::TPID_8021Q;
use vmknet_testbed::sender::send_from_peer;
use vmknet_testbed::topology::MTU;
use vmknet_testbed::{LabelledFrame, Topology};

use super::accounting::{Check, Expected, compare};

/// Longest wait for the counters to settle after the last frame was sent.
const SETTLE_MAX: Duration = Duration::from_secs(2);
/// The counters count as settled once unchanged for this long.
const SETTLE_QUIET: Duration = Duration::from_millis(200);
/// Bytes of an Ethernet header.
const ETH_HLEN: usize = 14;
/// Bytes of an 802.1Q tag.
const VLAN_HLEN: usize = 4;

/// A host and the frames to send it.
#[derive(Debug)]
pub(crate) struct Phase {
    /// What the phase shows, for the output.
    pub(crate) title: &'static str,
    /// The host the engine runs.
    pub(crate) model: Arc<HostModel>,
    /// The frames, with their labels for this host.
    pub(crate) frames: Vec<LabelledFrame>,
    /// Times the frames are sent.
    pub(crate) rounds: u32,
}

/// A frame of the phase that the testbed's wire cannot carry, and why; it is not sent or counted.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NotSent {
    /// The label's scenario.
    pub(crate) scenario: String,
    /// The frame's length.
    pub(crate) bytes: usize,
    /// Why the kernel refuses to send it.
    pub(crate) why: String,
}

/// What a phase did.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The phase's title.
    pub(crate) title: &'static str,
    /// The netstack names of its host, in netstack order.
    pub(crate) netstacks: Vec<String>,
    /// Frames sent.
    pub(crate) sent: u64,
    /// Frames left out, each once (not per round).
    pub(crate) not_sent: Vec<NotSent>,
    /// Time taken by the senders.
    pub(crate) send_time: Duration,
    /// The engine's counters.
    pub(crate) summary: RunSummary,
    /// The counts against the labels, the last one whether the program is still attached (it must not be).
    pub(crate) checks: Vec<Check>,
}

impl Outcome {
    /// Whether every count matches.
    pub(crate) fn ok(&self) -> bool {
        self.checks.iter().all(Check::ok)
    }
}

/// Why the testbed's wire cannot carry `frame`, if it cannot. AF_PACKET refuses a frame shorter than an
/// Ethernet header (`dev_validate_header`), and one longer than the MTU plus the Ethernet header, plus an
/// 802.1Q tag when the frame carries one (`packet_snd`).
fn wire_refuses(frame: &[u8]) -> Option<String> {
    let tagged = frame.get(12..14) == Some(&TPID_8021Q.to_be_bytes()[..]);
    let max = MTU as usize + ETH_HLEN + if tagged { VLAN_HLEN } else { 0 };
    if frame.len() < ETH_HLEN {
        Some(format!("shorter than an Ethernet header ({ETH_HLEN} bytes)"))
    } else if frame.len() > max {
        Some(format!("longer than the wire's MTU {MTU} allows ({max} bytes)"))
    } else {
        None
    }
}

/// The sender of a frame: frames of one flow (same MACs, VLAN tag and IP addresses, so every fragment of a
/// datagram) go to the same sender, in their order, so they reach the same worker in order.
fn sender_of(frame: &[u8], senders: usize) -> usize {
    // FNV-1a over the Ethernet and 802.1Q headers and the IPv4 or IPv6 addresses behind them (never the IPv4
    // header checksum or fragment offset, which differ between the fragments of one datagram).
    let l3 = if frame.get(12..14) == Some(&TPID_8021Q.to_be_bytes()) {
        18
    } else {
        14
    };
    let addresses = match frame.get(l3 - 2..l3) {
        Some([0x08, 0x00]) => l3 + 12..l3 + 20,
        Some([0x86, 0xdd]) => l3 + 8..l3 + 40,
        _ => 0..0,
    };
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key = frame.iter().take(16).chain(frame.get(addresses).unwrap_or_default());
    for &b in key {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (hash % senders as u64) as usize
}

impl Phase {
    /// Runs the phase on `topology`, a worker and a sender per CPU of `cpus`; `progress` gets a line per step.
    /// Stops early, with an error, once `stop` is not 0 (a signal was caught).
    pub(crate) fn run(
        self,
        topology: &Topology,
        cpus: &[usize],
        stop: &AtomicUsize,
        progress: &dyn Fn(String),
    ) -> Result<Outcome, String> {
        let mut not_sent = Vec::new();
        let mut per_sender: Vec<Vec<Vec<u8>>> = vec![Vec::new(); cpus.len()];
        let mut sendable = Vec::new();
        for frame in &self.frames {
            match wire_refuses(&frame.bytes) {
                Some(why) => not_sent.push(NotSent {
                    scenario: frame.label.scenario.clone(),
                    bytes: frame.bytes.len(),
                    why,
                }),
                None => {
                    per_sender[sender_of(&frame.bytes, cpus.len())].push(frame.bytes.clone());
                    sendable.push(frame);
                }
            }
        }
        let config = EngineConfig {
            queues: Some(cpus.len() as u32),
            cpus: Some(
                cpus.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
                    .parse::<CpuList>()
                    .map_err(|e| format!("CPU list: {e}"))?,
            ),
            attach: AttachMode::NativeOrGeneric,
            ..EngineConfig::new(topology.host.clone())
        };
        let expected = Expected::new(sendable, self.rounds, config.xsk.max_frame_len());
        let engine =
            Engine::start(Arc::clone(&self.model), &config).map_err(|e| format!("starting the engine: {e}"))?;
        let info = engine.info();
        progress(format!(
            "== engine: {} ({} netstacks, {} vmks), {} XDP mode, driver {}",
            self.model.name,
            self.model.netstacks.len(),
            self.model.vmks.len(),
            info.attach,
            info.vlan_offload.driver
        ));
        for (queue, cpu, path) in &info.queues {
            progress(format!("   queue {queue}: worker on CPU {cpu}, {path} mode"));
        }
        progress(format!(
            "== sending {} frames x {} round(s) from senders on CPUs {cpus:?}, {:?} frames each per round{}",
            self.frames.len() - not_sent.len(),
            self.rounds,
            per_sender.iter().map(Vec::len).collect::<Vec<_>>(),
            if not_sent.is_empty() {
                String::new()
            } else {
                format!(" ({} the wire cannot carry left out)", not_sent.len())
            }
        ));
        let started = Instant::now();
        let mut sent = 0u64;
        for _ in 0..self.rounds {
            if stop.load(Ordering::Relaxed) != 0 {
                return Err("interrupted".into());
            }
            let threads: Vec<_> = per_sender
                .iter()
                .zip(cpus)
                .map(|(frames, &cpu)| send_from_peer(topology, cpu, frames.clone()))
                .collect();
            for thread in threads {
                sent += thread
                    .join()
                    .map_err(|_| "a sender thread panicked".to_owned())?
                    .map_err(|e| format!("sending from the peer: {e}"))?;
            }
        }
        let send_time = started.elapsed();
        settle(&engine, stop);
        if stop.load(Ordering::Relaxed) != 0 {
            return Err("interrupted".into());
        }
        let summary = engine.finish().map_err(|e| format!("stopping the engine: {e}"))?;
        let mut checks = compare(&expected, &summary, sent);
        checks.push(Check::new(
            "XDP programs left on the interface after the stop",
            u64::from(topology.has_xdp_program()),
            0,
        ));
        Ok(Outcome {
            title: self.title,
            netstacks: self.model.netstacks.iter().map(|n| n.key.to_string()).collect(),
            sent,
            not_sent,
            send_time,
            summary,
            checks,
        })
    }
}

/// Waits until the workers' and the program's counters stop moving, at most [`SETTLE_MAX`].
fn settle(engine: &Engine, stop: &AtomicUsize) {
    let deadline = Instant::now() + SETTLE_MAX;
    let reading = || {
        let rx: u64 = engine.live().iter().map(|n| n.rx).sum();
        let seen = engine.xdp_counters().map(|c| c.frames()).unwrap_or(0);
        (rx, seen)
    };
    let mut last = reading();
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && stop.load(Ordering::Relaxed) == 0 {
        std::thread::sleep(Duration::from_millis(20));
        let now = reading();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() >= SETTLE_QUIET {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_wire_refuses_runts_below_an_ethernet_header_and_frames_over_the_mtu() {
        let tagged = |len: usize| {
            let mut f = vec![0u8; len];
            f[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
            f
        };
        assert!(wire_refuses(&[0; 13]).is_some());
        assert_eq!(wire_refuses(&[0; 14]), None);
        assert_eq!(wire_refuses(&tagged(16)), None);
        assert_eq!(wire_refuses(&vec![0; 9014]), None);
        assert!(wire_refuses(&vec![0; 9015]).is_some());
        assert_eq!(wire_refuses(&tagged(9018)), None);
        assert!(wire_refuses(&tagged(9019)).unwrap().contains("MTU 9000"));
    }

    #[test]
    fn every_fragment_of_a_datagram_goes_to_the_same_sender() {
        let mut first = vec![0u8; 600];
        first[12..14].copy_from_slice(&[0x08, 0x00]);
        first[26..34].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        let mut later = first.clone();
        later[20] = 0x20; // fragment offset bits, outside the key
        later[24] = 0x5a; // and so another header checksum
        later.truncate(100);
        assert_eq!(sender_of(&first, 2), sender_of(&later, 2));
        assert!(sender_of(&first, 2) < 2);
    }

    #[test]
    fn tagged_fragments_go_to_the_same_sender_whatever_their_checksums() {
        // 802.1Q: the IPv4 header starts at 18, its checksum at 28, its addresses at 30.
        let mut senders = BTreeSet::new();
        for checksum in 0..64u8 {
            let mut frame = vec![0u8; 100];
            frame[12..14].copy_from_slice(&TPID_8021Q.to_be_bytes());
            frame[16..18].copy_from_slice(&[0x08, 0x00]);
            frame[28] = checksum;
            frame[30..38].copy_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
            senders.insert(sender_of(&frame, 2));
        }
        assert_eq!(senders.len(), 1, "one sender for one datagram");
    }
}
