//! Traffic models and test topologies for vmknet: labelled vSphere captures.
//!
//! The crate makes the frames a VMkernel host receives and says, for each, the verdict the host must give it:
//! delivered to which vmk as which service, passed to Linux, or dropped for which reason. The labels come from
//! an independent statement of the rules ([`expect`]) applied to the scenario each frame was built for; nothing
//! here runs vmknet's pipeline, so replaying a capture through the pipeline and comparing is a real test.
//!
//! - [`mix`]: [`vsphere_mix`], the good traffic of a busy host (vMotion, IP storage, FT, replication, NFC, vSAN,
//!   management, ARP, ND, ICMP, fragments) and Linux's traffic beside it, deterministic for a seed.
//! - [`bad`]: [`bad_cases`], every drop reason and the edges around each rule.
//! - [`expect`]: the rules as functions of a scenario (steering, MTU, local address, ports, policy).
//! - [`frames`]: frame builders (etherparse for well-formed frames, handcrafted bytes for broken ones).
//! - [`label`]: labels and the vocabulary of verdicts, services and drop reasons.
//! - [`capture`]: pcap plus JSON-lines sidecar, written and read back.
//! - [`host`]: the testbed host, the embedded default plus an adapter that reaches `service_moved_to_own_stack`.
//! - [`topology`]: network-namespace topologies (a multi-queue veth pair, the peer end in a namespace), removed
//!   on drop; needs root.
//! - [`switch`]: a VLAN-aware switch on a topology: a bridge with eBPF 802.1Q access ports and a Linux peer
//!   host on each VLAN of a host model; needs root.
//! - [`sender`]: an AF_PACKET sender pinned to a CPU inside a topology's namespace.
//! - [`ping`]: echo requests through the kernel's stack (raw ICMP/ICMPv6 sockets), as `ping` sends them.
//!
//! # Examples
//! ```
//! use vmknet::model::HostModel;
//! use vmknet_testbed::{bad_cases, testbed_host, vsphere_mix};
//!
//! let mix = vsphere_mix(&HostModel::embedded_default(), 1);
//! assert!(mix.len() > 2000);
//! let bad = bad_cases(&testbed_host());
//! assert!(bad.iter().any(|f| f.label.reason.as_deref() == Some("service_moved_to_own_stack")));
//! ```

pub mod bad;
pub mod capture;
pub mod expect;
pub mod frames;
pub mod host;
pub mod label;
pub mod mix;
pub mod ping;
mod rng;
pub mod sender;
pub mod switch;
pub mod topology;

pub use bad::bad_cases;
pub use capture::{read_capture, read_labels, read_pcap, write_capture};
pub use host::{UNTAGGED_VMK, testbed_host, testbed_host_toml};
pub use label::{Label, LabelledFrame, Reason, Service, Verdict};
pub use mix::vsphere_mix;
pub use switch::{Peer, PeerSpec, peers_for};
pub use topology::{Topology, TopologyError};

/// The seed the `vmknet-traffic` binary uses unless told otherwise.
pub const DEFAULT_SEED: u64 = 0x766d_6b6e_6574;

#[cfg(test)]
mod tests;
