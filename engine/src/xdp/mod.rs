//! Loader of the XDP classifier: loads the eBPF object built from `ebpf/classifier`, fills its steering maps,
//! registers AF_XDP sockets, attaches it to an interface and reads its verdict counters.
//!
//! The loader takes plain [`vmknet_common`] keys and targets, which [`SteeringEntries::compile`] takes from
//! the pipeline's own steering tables (the userspace twin of the maps). It never decides what is steered:
//! that is [`vmknet_common::classify`], run in the kernel. Dropping the [`Classifier`] detaches the program
//! and frees its maps.
//!
//! [`Ceiling`] is the classifier on its own in ceiling mode, for the benchmark: it classifies every frame
//! but discards, rather than redirects, those steered to a vmk.
//!
//! The program reports gratuitous ARP and unsolicited neighbour advertisements on the VLANs of the steering
//! entries in a ring buffer, which [`Classifier::take_learned`] hands to whoever drains it.
//!
//! Needs CAP_BPF and CAP_NET_ADMIN (root is simplest); kernel 5.18 or later for multi-buffer (`xdp.frags`)
//! programs.

mod ceiling;
mod error;

use std::collections::BTreeSet;
use std::fmt;
use std::os::fd::{AsRawFd, BorrowedFd};

use aya::maps::{Array, HashMap, MapData, PerCpuArray, RingBuf, XskMap};
use aya::programs::{ProgramError, TestRun, TestRunOptions, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use vmknet_common::xdp::{LEARN_COUNTERS, LEARN_REPORTED, LEARN_RING_FULL, socket_slot};
use vmknet_common::{Ipv4Key, Ipv6Key, MacKey, SteerTarget, XdpConfig, XdpVerdict};

pub use ceiling::Ceiling;
pub use error::XdpError;

use crate::model::HostModel;
use crate::pipeline::SteeringMaps;

/// The classifier object, built for bpfel by `build.rs`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vmknet-ebpf"));

const PROGRAM: &str = "vmknet_xdp";
const STEER_BY_MAC: &str = "STEER_BY_MAC";
const STEER_BY_ARP_TARGET: &str = "STEER_BY_ARP_TARGET";
const STEER_BY_IPV6_GROUP: &str = "STEER_BY_IPV6_GROUP";
const VMK_MACS: &str = "VMK_MACS";
const SOCKETS: &str = "SOCKETS";
const CONFIG: &str = "CONFIG";
const COUNTERS: &str = "COUNTERS";
const LEARN_VLANS: &str = "LEARN_VLANS";
const LEARNED: &str = "LEARNED";
const LEARN_COUNTS: &str = "LEARN_COUNTS";

/// The learn ring buffer, owned by whoever took it with [`Classifier::take_learned`].
pub type LearnRing = RingBuf<MapData>;

/// The program's announcement reports, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LearnCounts {
    /// Announcements written to the learn ring buffer.
    pub reported: u64,
    /// Announcements lost because the ring buffer was full.
    pub ring_full: u64,
}

/// Steering entries compiled from the host model, written into the classifier's maps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SteeringEntries {
    /// Unicast: a vmk MAC on its VLAN.
    pub by_mac: Vec<(MacKey, SteerTarget)>,
    /// Broadcast ARP: a vmk IPv4 address on its VLAN.
    pub by_arp_target: Vec<(Ipv4Key, SteerTarget)>,
    /// Neighbour solicitations: the solicited-node group of a vmk IPv6 address on its VLAN.
    pub by_ipv6_group: Vec<(Ipv6Key, SteerTarget)>,
}

impl SteeringEntries {
    /// The entries of `model`, as the pipeline's steering tables hold them.
    pub fn compile(model: &HostModel) -> Self {
        let steering = SteeringMaps::compile(model);
        Self {
            by_mac: steering.mac_entries().collect(),
            by_arp_target: steering.arp_entries().collect(),
            by_ipv6_group: steering.ipv6_group_entries().collect(),
        }
    }
}

/// How to attach the classifier to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AttachMode {
    /// In the driver (fast; veth and most physical NICs).
    Native,
    /// In the kernel's generic receive path (slow, works on any interface).
    Generic,
    /// Native, or generic with a warning when the driver refuses native mode.
    NativeOrGeneric,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Generic => "generic",
            Self::NativeOrGeneric => "native-or-generic",
        })
    }
}

/// The XDP program's verdict counters, summed over CPUs. Every frame the program saw is in exactly one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct XdpCounters {
    counts: [u64; XdpVerdict::COUNTERS as usize],
}

impl XdpCounters {
    /// Frames that got `verdict`.
    pub fn get(&self, verdict: XdpVerdict) -> u64 {
        self.counts[verdict.counter() as usize]
    }

    /// Every frame the program saw.
    pub fn frames(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Each verdict with its count, in counter order.
    pub fn iter(&self) -> impl Iterator<Item = (XdpVerdict, u64)> + '_ {
        (0..XdpVerdict::COUNTERS).filter_map(|i| Some((XdpVerdict::from_counter(i)?, self.counts[i as usize])))
    }
}

/// The loaded classifier. Dropping it detaches the program and frees its maps.
#[derive(Debug)]
pub struct Classifier {
    ebpf: Ebpf,
    n_netstacks: u32,
    n_queues: u32,
}

impl Classifier {
    /// Loads the classifier for `n_netstacks` netstacks on an interface with `n_queues` rx queues, with empty
    /// steering maps and no sockets: until filled, it passes every frame that is not a runt.
    ///
    /// # Errors
    /// [`XdpError::PermissionDenied`] without CAP_BPF; [`XdpError::Program`] with the verifier log when the
    /// kernel rejects the program.
    pub fn load(n_netstacks: u32, n_queues: u32) -> Result<Self, XdpError> {
        let n_netstacks = n_netstacks.max(1);
        let n_queues = n_queues.max(1);
        let mut ebpf = EbpfLoader::new()
            .map_max_entries(SOCKETS, n_queues.saturating_mul(n_netstacks))
            .load(OBJECT)
            .map_err(XdpError::load)?;
        program_mut(&mut ebpf)?
            .load()
            .map_err(|err| XdpError::program("loading the XDP program", err))?;
        let mut classifier = Self {
            ebpf,
            n_netstacks,
            n_queues,
        };
        classifier.set_ceiling(false)?;
        Ok(classifier)
    }

    /// Switches ceiling mode ([`XdpConfig::ceiling`]) on or off: on, a frame steered to a vmk is discarded
    /// and counted [`XdpVerdict::Discarded`] instead of redirected. Off after [`load`](Self::load).
    ///
    /// # Errors
    /// [`XdpError::Map`] when the kernel refuses the write.
    pub fn set_ceiling(&mut self, ceiling: bool) -> Result<(), XdpError> {
        let n_netstacks = self.n_netstacks;
        let mut config: Array<_, XdpConfig> = self.map(CONFIG)?;
        config
            .set(0, XdpConfig::new(n_netstacks, ceiling), 0)
            .map_err(|err| XdpError::map(CONFIG, "writing the configuration", err))
    }

    /// Writes `entries` into the steering maps, every MAC of `by_mac` into the vmk MAC set and every VLAN of
    /// `by_mac` into the VLANs whose announcements are reported.
    ///
    /// # Errors
    /// [`XdpError::NetstackOutOfRange`] for a target beyond the configured netstacks (nothing is written
    /// then); [`XdpError::Map`] when a map is full.
    pub fn fill_steering(&mut self, entries: &SteeringEntries) -> Result<(), XdpError> {
        let targets = entries
            .by_mac
            .iter()
            .map(|(_, t)| t)
            .chain(entries.by_arp_target.iter().map(|(_, t)| t))
            .chain(entries.by_ipv6_group.iter().map(|(_, t)| t));
        for target in targets {
            self.check_netstack(target.netstack)?;
        }
        self.insert_all(STEER_BY_MAC, &entries.by_mac)?;
        self.insert_all(STEER_BY_ARP_TARGET, &entries.by_arp_target)?;
        self.insert_all(STEER_BY_IPV6_GROUP, &entries.by_ipv6_group)?;
        let macs: BTreeSet<[u8; 6]> = entries.by_mac.iter().map(|(key, _)| key.mac).collect();
        let vmk_macs: Vec<([u8; 6], u8)> = macs.into_iter().map(|mac| (mac, 1)).collect();
        self.insert_all(VMK_MACS, &vmk_macs)?;
        let mut vlans: Array<_, u8> = self.map(LEARN_VLANS)?;
        for (key, _) in &entries.by_mac {
            vlans
                .set(u32::from(key.vlan), 1, 0)
                .map_err(|err| XdpError::map(LEARN_VLANS, "marking a VLAN", err))?;
        }
        Ok(())
    }

    /// Takes the learn ring buffer out of the classifier, for a reader that outlives this borrow; `None`
    /// once taken. The program keeps writing to it.
    ///
    /// # Errors
    /// [`XdpError::Map`] when the ring buffer cannot be mapped.
    pub fn take_learned(&mut self) -> Result<Option<LearnRing>, XdpError> {
        self.ebpf
            .take_map(LEARNED)
            .map(|map| RingBuf::try_from(map).map_err(|err| XdpError::map(LEARNED, "mapping", err)))
            .transpose()
    }

    /// The announcement report counters, summed over CPUs.
    ///
    /// # Errors
    /// [`XdpError::Map`] when the kernel refuses the read.
    pub fn learn_counts(&self) -> Result<LearnCounts, XdpError> {
        let counts = self.per_cpu_sums(LEARN_COUNTS, LEARN_COUNTERS)?;
        Ok(LearnCounts {
            reported: counts[LEARN_REPORTED as usize],
            ring_full: counts[LEARN_RING_FULL as usize],
        })
    }

    /// Registers the AF_XDP socket `socket`, bound to `rx_queue`, as `netstack`'s ring on that queue.
    ///
    /// # Errors
    /// [`XdpError::QueueOutOfRange`] or [`XdpError::NetstackOutOfRange`] beyond the configured counts;
    /// [`XdpError::Map`] when `socket` is not an AF_XDP socket.
    pub fn register_socket(&mut self, rx_queue: u32, netstack: u32, socket: BorrowedFd<'_>) -> Result<(), XdpError> {
        let slot = self.socket_slot(rx_queue, netstack)?;
        let mut sockets: XskMap<_> = self.map(SOCKETS)?;
        sockets
            .set(slot, socket.as_raw_fd(), 0)
            .map_err(|err| XdpError::map(SOCKETS, "registering a socket", err))
    }

    /// Empties `netstack`'s slot on `rx_queue`: its frames fall back to Linux. Closing a registered socket
    /// does the same.
    ///
    /// # Errors
    /// As [`register_socket`](Self::register_socket).
    pub fn unregister_socket(&mut self, rx_queue: u32, netstack: u32) -> Result<(), XdpError> {
        let slot = self.socket_slot(rx_queue, netstack)?;
        let mut sockets: XskMap<_> = self.map(SOCKETS)?;
        sockets
            .unset(slot)
            .map_err(|err| XdpError::map(SOCKETS, "unregistering a socket", err))
    }

    /// Attaches the program to `interface` and returns the mode in use (never
    /// [`AttachMode::NativeOrGeneric`]). A fallback to generic mode is reported on stderr.
    ///
    /// # Errors
    /// [`XdpError::InterfaceNotFound`]; [`XdpError::Attach`] with a hint when the kernel refuses.
    pub fn attach(&mut self, interface: &str, mode: AttachMode) -> Result<AttachMode, XdpError> {
        let program = program_mut(&mut self.ebpf)?;
        let attach = |program: &mut Xdp, mode: AttachMode| {
            let flags = if mode == AttachMode::Generic {
                XdpMode::Skb
            } else {
                XdpMode::Driver
            };
            program
                .attach(interface, flags)
                .map(drop)
                .map_err(|err| XdpError::attach(interface, mode, err))
        };
        match mode {
            AttachMode::Native | AttachMode::Generic => attach(program, mode).map(|()| mode),
            AttachMode::NativeOrGeneric => match attach(program, AttachMode::Native) {
                Ok(()) => Ok(AttachMode::Native),
                Err(err @ (XdpError::InterfaceNotFound(_) | XdpError::PermissionDenied { .. })) => Err(err),
                Err(native) => {
                    eprintln!("warning: {native}; falling back to generic XDP on `{interface}` (much slower)");
                    attach(program, AttachMode::Generic).map(|()| AttachMode::Generic)
                }
            },
        }
    }

    /// The verdict counters, summed over CPUs.
    ///
    /// # Errors
    /// [`XdpError::Map`] when the kernel refuses the read.
    pub fn counters(&self) -> Result<XdpCounters, XdpError> {
        let mut counters = XdpCounters::default();
        counters
            .counts
            .copy_from_slice(&self.per_cpu_sums(COUNTERS, XdpVerdict::COUNTERS)?);
        Ok(counters)
    }

    /// The first `len` counters of the per-CPU array `name`, each summed over CPUs.
    fn per_cpu_sums(&self, name: &'static str, len: u32) -> Result<Vec<u64>, XdpError> {
        let map = self.ebpf.map(name).ok_or(XdpError::Missing { kind: "map", name })?;
        let per_cpu: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(|err| XdpError::map(name, "opening", err))?;
        (0..len)
            .map(|index| {
                let values = per_cpu
                    .get(&index, 0)
                    .map_err(|err| XdpError::map(name, "reading", err))?;
                Ok(values.iter().sum())
            })
            .collect()
    }

    /// Runs the program once on `frame` with `BPF_PROG_TEST_RUN` (rx queue 0, no interface) and returns its
    /// XDP action. The run is counted like any frame. For self-tests: the kernel refuses frames shorter than
    /// an Ethernet header.
    ///
    /// # Errors
    /// [`XdpError::Program`] when the kernel refuses the run.
    pub fn test_run(&self, frame: &[u8]) -> Result<u32, XdpError> {
        let program: &Xdp = self
            .ebpf
            .program(PROGRAM)
            .and_then(|p| p.try_into().ok())
            .ok_or(XdpError::Missing {
                kind: "program",
                name: PROGRAM,
            })?;
        let options = TestRunOptions {
            data_in: Some(frame),
            ..TestRunOptions::default()
        };
        program
            .test_run(options)
            .map(|result| result.return_value)
            .map_err(|err| XdpError::program("BPF_PROG_TEST_RUN", err))
    }

    fn socket_slot(&self, rx_queue: u32, netstack: u32) -> Result<u32, XdpError> {
        self.check_netstack(netstack)?;
        if rx_queue >= self.n_queues {
            return Err(XdpError::QueueOutOfRange {
                queue: rx_queue,
                n_queues: self.n_queues,
            });
        }
        Ok(socket_slot(rx_queue, self.n_netstacks, netstack))
    }

    fn check_netstack(&self, netstack: u32) -> Result<(), XdpError> {
        if netstack < self.n_netstacks {
            return Ok(());
        }
        Err(XdpError::NetstackOutOfRange {
            netstack,
            n_netstacks: self.n_netstacks,
        })
    }

    fn insert_all<K: aya::Pod, V: aya::Pod>(&mut self, name: &'static str, entries: &[(K, V)]) -> Result<(), XdpError> {
        let mut map: HashMap<_, K, V> = self.map(name)?;
        for (key, value) in entries {
            map.insert(key, value, 0)
                .map_err(|err| XdpError::map(name, "inserting", err))?;
        }
        Ok(())
    }

    /// The map `name`, typed.
    fn map<'a, M>(&'a mut self, name: &'static str) -> Result<M, XdpError>
    where
        M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
    {
        let map = self.ebpf.map_mut(name).ok_or(XdpError::Missing { kind: "map", name })?;
        M::try_from(map).map_err(|err| XdpError::map(name, "opening", err))
    }
}

fn program_mut(ebpf: &mut Ebpf) -> Result<&mut Xdp, XdpError> {
    let missing = XdpError::Missing {
        kind: "program",
        name: PROGRAM,
    };
    let program = ebpf.program_mut(PROGRAM).ok_or(missing)?;
    program
        .try_into()
        .map_err(|err: ProgramError| XdpError::program("finding the XDP program", err))
}
