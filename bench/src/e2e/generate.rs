//! Driving the generator for a measurement: `vmknet-pktgen` run as a child, pinned to its core, for a fixed
//! time, its JSON report read back.
//!
//! A child process rather than a thread: its CPU time is its own, and the generator the benchmark measures
//! with is exactly the one users run.
//! Frames longer than a live frame (3408 bytes on Linux 6.18) go by AF_PACKET, which is slower: a 9014-byte
//! measurement is bounded by the generator, and the report shows the offered rate beside the delivered one.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use serde::Deserialize;

use super::model::Load;

/// Where frames go: a VMkernel adapter (through the classifier) or the kernel's own address on the
/// receiving end (the socket path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A vmk's MAC, VLAN and address, and a port of one of its UDP services.
    Vmk {
        /// The adapter's MAC.
        mac: [u8; 6],
        /// Its VLAN (0: untagged).
        vlan: u16,
        /// Its address.
        ip: Ipv4Addr,
        /// A source address on its subnet.
        src_ip: Ipv4Addr,
        /// The service's UDP port.
        port: u16,
    },
    /// The receiving interface's own MAC and address, untagged.
    Host {
        /// The interface's MAC.
        mac: [u8; 6],
        /// Its address.
        ip: Ipv4Addr,
        /// The sender's address on the same subnet.
        src_ip: Ipv4Addr,
        /// The UDP port the receiver listens on.
        port: u16,
    },
}

/// One sending run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Send {
    /// What to send.
    pub load: Load,
    /// For how long.
    pub seconds: f64,
    /// Frames per second (None: as fast as possible).
    pub rate: Option<u64>,
    /// Stamp each frame with its send time.
    pub stamp: bool,
}

/// Frames per kernel batch when stamping: a batch leaves the generator together, so its first frame waits for
/// the rest to be built; small batches keep that out of the latency measured.
pub const STAMPED_BURST: u32 = 8;

/// The generator: its binary, the interface it sends on and its core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generator {
    /// `vmknet-pktgen`.
    pub binary: PathBuf,
    /// The interface.
    pub interface: String,
    /// The core its one thread is pinned to.
    pub cpu: usize,
    /// The longest frame (no FCS) live frames carry here; longer ones go by AF_PACKET.
    pub live_limit: usize,
}

/// What the generator reported.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
pub struct Sent {
    /// Frames the kernel took.
    pub offered: u64,
    /// Wall time of the run.
    pub seconds: f64,
}

/// The FCS the sizes count and the wire buffer does not hold.
const FCS_LEN: usize = 4;

impl Generator {
    /// Whether `load` is sent by AF_PACKET, its frames being longer than a live frame. The sending interface
    /// then needs an MTU that fits them.
    pub fn by_af_packet(&self, load: Load) -> bool {
        matches!(load, Load::Size(size) if usize::from(size) > self.live_limit + FCS_LEN)
    }

    /// The `vmknet-pktgen` arguments of `send` to `destination`.
    ///
    /// # Errors
    /// The mix sent to the kernel's address: the mix is addressed to the vmks.
    pub fn args(&self, send: &Send, destination: &Destination) -> Result<Vec<String>, String> {
        let mut args: Vec<String> = Vec::new();
        let mut push = |items: &[&str]| args.extend(items.iter().map(|s| (*s).to_owned()));
        match (send.load, destination) {
            (Load::Mix, Destination::Vmk { .. }) => {
                // The mix's jumbo frames do not fit a live frame: they are left out (named in the report).
                push(&["replay", "--mix", "--skip-oversize"]);
            }
            (Load::Mix, Destination::Host { .. }) => {
                return Err("the vSphere mix is addressed to the VMkernel adapters, not to the kernel".to_owned());
            }
            (Load::Size(size), destination) => {
                let (mac, vlan, ip, src_ip, port) = match *destination {
                    Destination::Vmk {
                        mac,
                        vlan,
                        ip,
                        src_ip,
                        port,
                    } => (mac, vlan, ip, src_ip, port),
                    Destination::Host { mac, ip, src_ip, port } => (mac, 0, ip, src_ip, port),
                };
                push(&["flows", "--size", &size.to_string(), "--dst-mac", &format_mac(mac)]);
                push(&["--dst-ip", &ip.to_string(), "--src-ip", &src_ip.to_string()]);
                push(&["--dst-port", &port.to_string()]);
                if vlan != 0 {
                    push(&["--vlan", &vlan.to_string()]);
                }
                if self.by_af_packet(send.load) {
                    push(&["--method", "af-packet"]);
                }
            }
        }
        if send.stamp {
            push(&["--timestamp", "--burst", &STAMPED_BURST.to_string()]);
        }
        if let Some(rate) = send.rate {
            push(&["--rate", &rate.to_string()]);
        }
        push(&["--iface", &self.interface, "--cpus", &self.cpu.to_string()]);
        push(&["--duration", &send.seconds.to_string(), "--format", "json"]);
        Ok(args)
    }

    /// Runs the generator for `send` and returns its report.
    ///
    /// # Errors
    /// It could not start, failed (its standard error), or printed no report.
    pub fn send(&self, send: &Send, destination: &Destination) -> Result<Sent, String> {
        let args = self.args(send, destination)?;
        let out = Command::new(&self.binary)
            .args(&args)
            .output()
            .map_err(|err| format!("starting {}: {err}", self.binary.display()))?;
        if !out.status.success() {
            return Err(format!(
                "vmknet-pktgen {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        serde_json::from_slice(&out.stdout).map_err(|err| format!("vmknet-pktgen's report: {err}"))
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}
