//! Network-namespace topologies for root tests and the demo: a host side whose uplink veth the engine
//! attaches to, and a switch side (a network namespace) holding the peer end.
//!
//! [`Topology::create`] makes a namespace `vmknet-<prefix>-<pid>` and a veth pair `v<prefix><pid>a` (host end,
//! left in the caller's namespace) / `v<prefix><pid>b` (peer end, moved into the namespace), with N tx and N rx
//! queues on both ends (native XDP on veth needs the receiver to have as many rx queues as the peer has tx
//! queues) and MTU 9000. On the peer: IPv6 off (its DAD and router solicitations would add frames to the
//! counts), `txvlan` off (so 802.1Q tags go on the wire in-band and reach XDP), and XPS mapping CPU i to tx
//! queue i (on veth the receiver's rx queue is the sender's tx queue, so a sender pinned to CPU i feeds rx
//! queue i). Everything is removed when the [`Topology`] is dropped, also after a failure half-way through
//! [`Topology::create`] or a panic; the unique prefix keeps concurrent runs apart and names what to remove by
//! hand after a `kill -9` (`ip netns del vmknet-<prefix>-<pid>`, and `…-v<vlan>` for each peer).
//!
//! [`Topology::create_with_switch`] turns the namespace into a VLAN-aware switch with a Linux peer host on each
//! VLAN behind an 802.1Q access port ([`crate::switch`]).

use std::io;
use std::os::fd::AsRawFd as _;
use std::process::Command;
use std::thread::JoinHandle;

use crate::switch::{self, Peer, PeerSpec};

/// MTU of both ends of a pair: the largest vmk MTU, so frames of up to 9000-byte IP packets (9018 bytes with a
/// tag) cross it.
pub const MTU: u32 = 9000;

/// Longest interface name Linux accepts (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;

/// An error building a topology: the command that failed and what it said.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TopologyError(pub(crate) String);

/// Runs `program args`, returning its standard output, or an error naming the command and its standard error.
///
/// # Errors
/// The program could not be started or exited non-zero.
pub fn run_command(program: &str, args: &[&str]) -> Result<String, TopologyError> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| TopologyError(format!("{program} {}: {e}", args.join(" "))))?;
    if !out.status.success() {
        return Err(TopologyError(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Maps a negative libc return to the errno.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A namespace holding the peer end of a multi-queue veth pair whose host end stays in the caller's namespace.
/// Dropping it removes both.
#[derive(Debug)]
pub struct Topology {
    /// The namespace (under `/run/netns`).
    pub netns: String,
    /// The host end, in the caller's namespace: the interface the engine attaches to.
    pub host: String,
    /// The peer end, inside [`Self::netns`]: where senders transmit; with a switch, its trunk port.
    pub peer: String,
    /// Tx and rx queues of each end.
    pub queues: u32,
    /// The peer hosts behind the switch's access ports, in the order given (none without a switch).
    pub peers: Vec<Peer>,
    /// The switch's access-port programs, attached while they live.
    pub(crate) switch: Option<aya::Ebpf>,
}

impl Topology {
    /// Creates the namespace and the pair with `queues` queues each way, MTU [`MTU`]. `prefix` tells the callers
    /// of one process apart (the process id tells processes apart); it must keep `v<prefix><pid>a` within 15
    /// characters.
    ///
    /// # Errors
    /// The first `ip`, `sysctl` or `ethtool` command that failed; whatever was made is removed.
    pub fn create(prefix: &str, queues: u32) -> Result<Self, TopologyError> {
        let id = std::process::id();
        let topology = Self {
            netns: format!("vmknet-{prefix}-{id}"),
            host: format!("v{prefix}{id}a"),
            peer: format!("v{prefix}{id}b"),
            queues,
            peers: Vec::new(),
            switch: None,
        };
        if topology.host.len() > IFNAME_MAX {
            return Err(TopologyError(format!(
                "interface name `{}` is longer than {IFNAME_MAX} characters: use a shorter prefix",
                topology.host
            )));
        }
        if queues == 0 || queues > 64 {
            return Err(TopologyError(format!("{queues} queues: use 1 to 64")));
        }
        let ns = topology.netns.as_str();
        run_command("ip", &["netns", "add", ns])?;
        // From here on a failure drops `topology`, which removes what was made.
        let no_ipv6 = [
            "net.ipv6.conf.all.disable_ipv6=1",
            "net.ipv6.conf.default.disable_ipv6=1",
        ];
        run_command("ip", &["netns", "exec", ns, "sysctl", "-qw", no_ipv6[0], no_ipv6[1]])?;
        let (n, mtu) = (queues.to_string(), MTU.to_string());
        let each_end = ["numtxqueues", &n, "numrxqueues", &n, "mtu", &mtu];
        let mut add = vec!["link", "add", &topology.host];
        add.extend(each_end);
        add.extend(["type", "veth", "peer", "name", &topology.peer]);
        add.extend(each_end);
        add.extend(["netns", ns]);
        run_command("ip", &add)?;
        run_command("ip", &["link", "set", &topology.host, "up"])?;
        run_command("ip", &["-n", ns, "link", "set", &topology.peer, "up"])?;
        run_command(
            "ip",
            &["netns", "exec", ns, "ethtool", "-K", &topology.peer, "txvlan", "off"],
        )?;
        // Map CPU i to tx queue i so a sender pinned to CPU i uses queue i (a single-queue device refuses XPS).
        if queues > 1 {
            let xps = (0..queues)
                .map(|q| {
                    format!(
                        "echo {:x} > /sys/class/net/{}/queues/tx-{q}/xps_cpus",
                        1u64 << q,
                        topology.peer
                    )
                })
                .collect::<Vec<_>>()
                .join(" && ");
            run_command("ip", &["netns", "exec", ns, "sh", "-c", &xps])?;
        }
        Ok(topology)
    }

    /// Creates the topology of [`Self::create`] and makes its namespace a switch: a bridge joining the peer
    /// end (the trunk, tags in-band) and an 802.1Q access port for each of `peers`, whose far end is that
    /// peer's interface in a namespace of its own ([`crate::switch`]). [`crate::switch::peers_for`] gives the
    /// peers of a host model.
    ///
    /// # Errors
    /// As [`Self::create`]; a VLAN id above 4094 or given twice; loading or attaching the access-port
    /// programs failed. Whatever was made is removed.
    pub fn create_with_switch(prefix: &str, queues: u32, peers: &[PeerSpec]) -> Result<Self, TopologyError> {
        let mut topology = Self::create(prefix, queues)?;
        switch::build(&mut topology, peers)?;
        Ok(topology)
    }

    /// Runs `f` on a new thread that has first joined the namespace (setns). Only that thread moves; it ends
    /// when `f` returns.
    pub fn spawn_in_netns<T, F>(&self, name: &str, f: F) -> JoinHandle<io::Result<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        spawn_in_netns(&self.netns, name, f)
    }

    /// The peer host on `vlan`, if the switch has one.
    pub fn peer_on(&self, vlan: u16) -> Option<&Peer> {
        self.peers.iter().find(|p| p.vlan == vlan)
    }

    /// Whether an XDP program is attached to the host end.
    pub fn has_xdp_program(&self) -> bool {
        run_command("ip", &["link", "show", "dev", &self.host]).is_ok_and(|out| out.contains("prog/xdp"))
    }
}

/// Runs `f` on a new thread that has first joined the namespace `netns` (setns). Only that thread moves; it
/// ends when `f` returns.
pub(crate) fn spawn_in_netns<T, F>(netns: &str, name: &str, f: F) -> JoinHandle<io::Result<T>>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    let netns = std::fs::File::open(format!("/run/netns/{netns}"));
    let spawn = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || -> io::Result<T> {
            let netns = netns?;
            // Safety: `netns` is an open namespace file; setns() moves only this thread.
            cvt(unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) })?;
            f()
        });
    match spawn {
        Ok(handle) => handle,
        // Report the spawn failure through a handle like any other error.
        Err(err) => std::thread::spawn(move || Err(err)),
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Closing the tcx links detaches the access-port programs.
        drop(self.switch.take());
        for peer in &self.peers {
            let _ = run_command("ip", &["netns", "del", &peer.netns]);
        }
        // Deleting the namespace deletes the peer and with it the pair; the link delete covers a half-made pair.
        let _ = run_command("ip", &["link", "del", &self.host]);
        let _ = run_command("ip", &["netns", "del", &self.netns]);
    }
}
