//! `vmknet ping` and `vmknet show neighbors` as an operator runs them, on a two-queue veth pair whose peer
//! end, in a network namespace, is the Linux stack of a neighbour on the untagged vmks' subnets (this kernel
//! has no 802.1Q devices), with the stack's gateway address and, behind that gateway, a remote address on its
//! loopback:
//! - `vmknet ping` resolves the peer (ARP; ND with `-6`), gets replies and exits 0; `-d -s 8972` fits the
//!   MTU-9000 vmk, `-d -s 8973` fails locally with vmkping's `sendto() failed (Message too long)` and exits
//!   1, as `-d -s 1473` does on the MTU-1500 vmk where 1472 fits; a remote host is reached through the
//!   gateway, whose MAC the engine resolves;
//! - `vmknet run --state-dir DIR` writes the owners' neighbour tables; after the peer pings a vmk, `vmknet show
//!   neighbors --state-dir DIR` lists the peer's MAC on that vmk and netstack; `vmknet ping` on the interface
//!   the running engine holds is refused, saying why; without a table, `show neighbors`
//!   says so.
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW); without it each test prints why it skips and passes.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vmknet::io::xsk::XskConfig;
use vmknet::runtime::check_capabilities;
use vmknet_testbed::Topology;
use vmknet_testbed::ping::ping;
use vmknet_testbed::topology::run_command;

mod support;
use support::Reap;

const HOST: &str = r#"
[host]
name = "esx-ping"
uplinks = ["vmnic0"]

[[netstack]]
key = "defaultTcpipStack"
ipv4_gateway = "10.100.100.1"
ipv6_gateway = "fd00:100::1"

[[vmk]]
name = "vmk0"
mac = "00:50:56:6a:a0:10"
vlan = 0
mtu = 9000
ipv4 = "10.100.100.11/24"
ipv6 = ["fd00:100::11/64"]
tags = ["Management"]

[[vmk]]
name = "vmk1"
mac = "00:50:56:6a:a0:11"
vlan = 0
mtu = 1500
ipv4 = "10.101.101.11/24"
"#;

fn privileged(test: &str) -> bool {
    match check_capabilities(2 * XskConfig::default().umem_bytes()) {
        Ok(()) => true,
        Err(err) => {
            println!("skipping {test}: {err}");
            false
        }
    }
}

/// The topology with the peer's addresses, and the host file written next to it.
struct Bed {
    topology: Topology,
    dir: PathBuf,
}

impl Bed {
    fn new(prefix: &str) -> Self {
        let topology = Topology::create(prefix, 2).expect("create the veth pair");
        let (ns, peer) = (topology.netns.as_str(), topology.peer.as_str());
        let ip = |args: &[&str]| {
            let mut all = vec!["-n", ns];
            all.extend(args);
            run_command("ip", &all).unwrap_or_else(|e| panic!("ip {args:?}: {e}"));
        };
        let ipv6_on = format!("net.ipv6.conf.{peer}.disable_ipv6=0");
        run_command(
            "ip",
            &[
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &ipv6_on,
                "net.ipv6.conf.lo.disable_ipv6=0",
            ],
        )
        .expect("IPv6 on the peer");
        for address in ["10.100.100.50/24", "10.100.100.1/24", "10.101.101.50/24"] {
            ip(&["addr", "add", address, "dev", peer]);
        }
        for address in ["fd00:100::50/64", "fd00:100::1/64"] {
            ip(&["addr", "add", address, "dev", peer, "nodad"]);
        }
        ip(&["link", "set", "lo", "up"]);
        ip(&["addr", "add", "10.200.0.5/32", "dev", "lo"]);
        let dir = std::env::temp_dir().join(format!("vmknet-{prefix}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("test directory");
        std::fs::write(dir.join("host.toml"), HOST).expect("host file");
        Self { topology, dir }
    }

    fn config(&self) -> String {
        self.dir.join("host.toml").display().to_string()
    }

    /// `vmknet ping --iface <host end> --config <host file> ARGS`: (exit code, stdout, stderr).
    fn ping(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_vmknet"))
            .args(["ping", "--iface", &self.topology.host, "--config", &self.config()])
            .args(args)
            .output()
            .expect("run vmknet ping");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn ping_resolves_gets_replies_and_fails_locally_when_too_big() {
    if !privileged("ping_resolves_gets_replies_and_fails_locally_when_too_big") {
        return;
    }
    let bed = Bed::new("png");
    let (code, out, err) = bed.ping(&["-I", "vmk0", "-c", "2", "-i", "0.2", "10.100.100.50"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with(
            "PING 10.100.100.50 (10.100.100.50): 56 data bytes\n64 bytes from 10.100.100.50: icmp_seq=0 ttl=64 time="
        ),
        "{out}"
    );
    assert!(
        out.contains("2 packets transmitted, 2 packets received, 0% packet loss\nround-trip min/avg/max = "),
        "{out}"
    );

    let (code, out, err) = bed.ping(&[
        "-I",
        "vmk0",
        "-S",
        "defaultTcpipStack",
        "-6",
        "-c",
        "2",
        "-i",
        "0.2",
        "fd00:100::50",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("64 bytes from fd00:100::50: icmp_seq=1 hlim=64 time="),
        "{out}"
    );

    // vmk0's MTU is 9000: 8972 data bytes with DF are a 9000-byte packet, a three-buffer chain on the tx ring.
    let (code, out, err) = bed.ping(&[
        "-I",
        "vmk0",
        "-d",
        "-s",
        "8972",
        "-c",
        "2",
        "-i",
        "0.2",
        "10.100.100.50",
    ]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("8980 bytes from 10.100.100.50: icmp_seq=0"), "{out}");
    let (code, out, err) = bed.ping(&["-I", "vmk0", "-d", "-s", "8973", "-c", "1", "10.100.100.50"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert_eq!(
        out,
        "PING 10.100.100.50 (10.100.100.50): 8973 data bytes\nsendto() failed (Message too long)\n\n\
         --- 10.100.100.50 ping statistics ---\n1 packets transmitted, 0 packets received, 100% packet loss\n"
    );
    // vmk1's is 1500.
    let (code, out, err) = bed.ping(&["-I", "vmk1", "-d", "-s", "1472", "-c", "1", "10.101.101.50"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1480 bytes from 10.101.101.50: icmp_seq=0"), "{out}");
    let (code, out, _) = bed.ping(&["-I", "vmk1", "-d", "-s", "1473", "-c", "1", "10.101.101.50"]);
    assert_eq!(code, Some(1));
    assert!(out.contains("sendto() failed (Message too long)"), "{out}");

    // A remote host, through the stack's gateway (10.100.100.1, resolved by ARP).
    let (code, out, err) = bed.ping(&["-I", "vmk0", "-c", "2", "-i", "0.2", "10.200.0.5"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("64 bytes from 10.200.0.5: icmp_seq=0"), "{out}");

    // Refused: a vmk the host file lacks, a netstack that is not the vmk's, a family the vmk lacks.
    let (code, _, err) = bed.ping(&["-I", "vmk7", "10.100.100.50"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no adapter `vmk7`"), "{err}");
    let (code, _, err) = bed.ping(&["-I", "vmk0", "-S", "vmotion", "10.100.100.50"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("vmk0 is on netstack defaultTcpipStack, not vmotion"),
        "{err}"
    );
    let (code, _, err) = bed.ping(&["-I", "vmk1", "-6", "fd00:100::50"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("vmk1 has no IPv6 address"), "{err}");
    assert!(!bed.topology.has_xdp_program(), "nothing left attached");
}

#[test]
fn show_neighbors_from_a_running_engine() {
    if !privileged("show_neighbors_from_a_running_engine") {
        return;
    }
    let bed = Bed::new("pnn");
    let state = bed.dir.join("state");
    let show = |dir: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_vmknet"))
            .args(["show", "neighbors", "-N", "defaultTcpipStack", "--state-dir"])
            .arg(dir)
            .output()
            .expect("run vmknet show");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, _, err) = show(&state);
    assert_eq!(code, Some(2));
    assert!(err.contains("no engine has written one there"), "{err}");

    let mut child = Command::new(env!("CARGO_BIN_EXE_vmknet"))
        .args([
            "run",
            "--iface",
            &bed.topology.host,
            "--config",
            &bed.config(),
            "--interval",
            "0.2",
        ])
        .arg("--state-dir")
        .arg(&state)
        .args(["--duration", "30"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vmknet run");
    let stderr = child.stderr.take().expect("stderr");
    let mut child = Reap(child);
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    while !log.contains("neighbour tables in") {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("vmknet run ended early: {log}"))
            .expect("stderr");
        log.push_str(&line);
        log.push('\n');
    }
    // The peer pings vmk0: its ARP request teaches the engine the peer's MAC.
    let answered = bed
        .topology
        .spawn_in_netns("pinger", || {
            ping(
                "10.100.100.11".parse().expect("address"),
                56,
                false,
                Duration::from_secs(3),
            )
        })
        .join()
        .expect("pinger thread")
        .expect("vmk0 answers");
    assert_eq!(answered, 56);
    let peer_link = run_command("ip", &["-n", &bed.topology.netns, "link", "show", &bed.topology.peer]).expect("link");
    let peer_mac = peer_link
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .expect("the peer's MAC")
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let table = loop {
        let (code, out, err) = show(&state);
        assert_eq!(code, Some(0), "{err}");
        if out.contains(&peer_mac) || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!("{table}");
    let row = table.lines().find(|l| l.contains("10.100.100.50"));
    assert!(
        row.is_some_and(|r| r.starts_with("defaultTcpipStack ") && r.contains(&peer_mac) && r.contains(" vmk0 ")),
        "the peer on vmk0 of the default stack: {table}"
    );

    // The engine holds the interface: a second one is refused, saying why.
    let (code, _, err) = bed.ping(&["-I", "vmk0", "-c", "1", "10.100.100.50"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("already holds this queue: is an engine (`vmknet run`) already attached"),
        "{err}"
    );

    // Safety: kill(2) on the child's pid, which is still ours to signal (it has not been waited for).
    assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) }, 0);
    let status = child.0.wait().expect("wait");
    assert!(status.success(), "{status}");
    let (code, out, _) = show(&state);
    assert_eq!(code, Some(0));
    assert!(out.contains(&peer_mac), "the table written at exit: {out}");
}
