//! `vmknet run` as an operator runs it, on a two-queue veth pair in a network namespace, with the vmotion
//! netstack on a worker of its own: stopped with SIGINT it prints the report (the UMEM books balanced, each
//! worker's rings), exits 0 and leaves no program on the interface; a missing interface, an unknown netstack
//! for `--netstack-cpu` and `--zero-copy` on veth are refused with a message and nothing left attached;
//! `--processing off --latency` says so at start and in the report.
//!
//! Needs root (CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW); without it each test prints why it skips and passes.

use std::io::{self, BufRead as _, BufReader, Read as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vmknet::io::xsk::XskConfig;
use vmknet::runtime::{CpuList, check_capabilities};
use vmknet_testbed::Topology;

mod support;
use support::Reap;

/// Skips (returning false, with the reason printed) unless the process holds what a two-queue engine needs,
/// as the engine itself checks it.
fn privileged(test: &str) -> bool {
    match check_capabilities(2 * XskConfig::default().umem_bytes()) {
        Ok(()) => true,
        Err(err) => {
            println!("skipping {test}: {err}");
            false
        }
    }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[test]
fn run_command_reports_and_detaches_on_sigint() {
    if !privileged("run_command_reports_and_detaches_on_sigint") {
        return;
    }
    let topology = Topology::create("fpc", 2).expect("create the veth pair");
    let vmotion_cpu = format!("vmotion={}", CpuList::allowed().for_worker(0));
    let state_dir = std::env::temp_dir().join(format!("vmknet-run-{}", std::process::id()));
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmknet"))
        .args([
            "run",
            "--iface",
            &topology.host,
            "--netstack-cpu",
            &vmotion_cpu,
            "--interval",
            "0.2",
            "--duration",
            "20",
        ])
        .arg("--state-dir")
        .arg(&state_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vmknet run");
    let stderr = child.stderr.take().expect("stderr");
    let stdout = child.stdout.take().expect("stdout");
    let mut child = Reap(child);
    let mut log = String::new();
    let mut lines = BufReader::new(stderr).lines();
    while !log.contains("netstack vmotion:") {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("vmknet run ended early: {log}"))
            .expect("stderr");
        log.push_str(&line);
        log.push('\n');
    }
    assert!(
        log.contains("native XDP mode") && log.contains("copy mode") && log.contains("queue 1:"),
        "{log}"
    );
    assert!(log.contains("netstack vmotion: worker of its own"), "{log}");
    assert!(topology.has_xdp_program(), "program attached while running");
    std::thread::sleep(Duration::from_millis(500));
    // Safety: kill(2) on the child's pid, which is still ours to signal (it has not been waited for).
    cvt(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGINT) }).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "vmknet run did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    BufReader::new(stdout).read_to_string(&mut out).expect("stdout");
    assert!(status.success(), "exit status {status}: {out}");
    assert!(out.contains("delivered") && out.contains("/s"), "summary lines: {out}");
    assert!(
        out.contains("frames in: 0") && out.contains("conservation: ok"),
        "final report: {out}"
    );
    assert!(
        out.contains("UMEM: 4096 frames")
            && out.contains("leaked 0")
            && out.contains("worker vmknet-q1")
            && out.contains("rings q0/vmotion q1/vmotion"),
        "UMEM books and workers: {out}"
    );
    assert!(!topology.has_xdp_program(), "no program left on the interface");
    let table = std::fs::read_to_string(state_dir.join("neighbors.json"));
    let _ = std::fs::remove_dir_all(&state_dir);
    assert!(
        table
            .expect("the neighbour tables written at exit")
            .contains("\"rows\"")
    );
}

#[test]
fn run_command_with_processing_off_and_latency_says_so() {
    if !privileged("run_command_with_processing_off_and_latency_says_so") {
        return;
    }
    let topology = Topology::create("fpo", 1).expect("create the veth pair");
    let state_dir = std::env::temp_dir().join(format!("vmknet-run-off-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_vmknet"))
        .args(["run", "--iface", &topology.host, "--processing", "off", "--latency"])
        .args(["--interval", "0.2", "--duration", "0.5"])
        .arg("--state-dir")
        .arg(&state_dir)
        .output()
        .expect("run vmknet");
    let _ = std::fs::remove_dir_all(&state_dir);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "exit status {}: {stdout}{stderr}", out.status);
    assert!(stderr.contains("processing off"), "{stderr}");
    assert!(
        stdout.contains("processing off: 0 frames received and given straight back, none judged"),
        "{stdout}"
    );
    assert!(stdout.contains("latency: no stamped frames received"), "{stdout}");
    assert!(!topology.has_xdp_program(), "no program left on the interface");
}

#[test]
fn run_command_refuses_a_missing_interface_and_zero_copy_on_veth() {
    if !privileged("run_command_refuses_a_missing_interface_and_zero_copy_on_veth") {
        return;
    }
    let vmknet = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vmknet"))
            .arg("run")
            .args(args)
            .output()
            .expect("run vmknet");
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, err) = vmknet(&["--iface", "vmknet-nonesuch", "--duration", "1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("`vmknet-nonesuch` not found"), "{err}");

    let topology = Topology::create("fpz", 2).expect("create the veth pair");
    let (code, err) = vmknet(&[
        "--iface",
        &topology.host,
        "--netstack-cpu",
        "nonesuch=0",
        "--duration",
        "1",
    ]);
    assert_eq!(code, Some(2));
    assert!(err.contains("netstack `nonesuch`") && err.contains("vmotion"), "{err}");
    let (code, err) = vmknet(&["--iface", &topology.host, "--zero-copy", "--duration", "1"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no zero-copy") && err.contains("without --zero-copy"),
        "{err}"
    );
    assert!(
        !topology.has_xdp_program(),
        "nothing left attached after a failed start"
    );
}
