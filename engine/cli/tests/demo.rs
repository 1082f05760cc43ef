//! Runs `vmknet demo`: the embedded default host and every bad case through the real XDP + AF_XDP path on a
//! veth pair. It must exit 0 (every count matches the labels), name in its report every vmk the vSphere mix
//! delivers to, count every drop reason on the real path, give the same verdict as JSON, and leave nothing
//! behind, also when interrupted with SIGINT or SIGTERM.
//!
//! Needs root (CAP_SYS_ADMIN for the namespace, plus what the engine needs); without it each test prints why
//! it skips and passes.

use std::collections::BTreeSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vmknet::io::xsk::XskConfig;
use vmknet::model::HostModel;
use vmknet::runtime::{CAP_SYS_ADMIN, check_capabilities, has_capability};
use vmknet_common::DropReason;
use vmknet_testbed::{DEFAULT_SEED, vsphere_mix};

mod support;
use support::Reap;

/// What the demo would miss here, if anything.
fn missing() -> Option<String> {
    if let Err(err) = check_capabilities(2 * XskConfig::default().umem_bytes()) {
        return Some(err.to_string());
    }
    (!has_capability(CAP_SYS_ADMIN)).then(|| "missing CAP_SYS_ADMIN (network namespaces)".to_owned())
}

/// Whether the demo can run here; prints why the test skips when not.
fn privileged(test: &str) -> bool {
    match missing() {
        None => true,
        Some(why) => {
            println!("skipping {test}: {why}");
            false
        }
    }
}

fn demo(args: &[&str]) -> (Output, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vmknet"))
        .arg("demo")
        .args(args)
        .output()
        .expect("run vmknet demo");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out, stdout)
}

/// The namespace and host interface named in the demo's topology line, `== topology: namespace NS holds PEER
/// (the switch side); the engine serves HOST (...)`.
fn topology_names(text: &str) -> (String, String) {
    let after = |marker: &str| {
        text.split_once(marker)
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no `{marker}` in: {text}"))
            .to_owned()
    };
    (after("== topology: namespace "), after("the engine serves "))
}

/// Asserts that the namespace `netns` and the interface `host` are gone.
fn assert_nothing_left(netns: &str, host: &str) {
    let list = Command::new("ip").args(["netns", "list"]).output().expect("ip netns");
    assert!(
        !String::from_utf8_lossy(&list.stdout)
            .lines()
            .any(|l| l.split_whitespace().next() == Some(netns)),
        "{netns} left behind"
    );
    let link = Command::new("ip")
        .args(["link", "show", "dev", host])
        .output()
        .expect("ip link");
    assert!(!link.status.success(), "{host} left behind");
}

#[test]
fn demo_delivers_the_vsphere_mix_and_drops_every_bad_case_as_labelled() {
    if !privileged("demo_delivers_the_vsphere_mix_and_drops_every_bad_case_as_labelled") {
        return;
    }
    let (out, stdout) = demo(&[]);
    println!("{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {}: {stderr}\n{stdout}", out.status);
    assert!(stdout.contains("OK, the accounting adds up"), "{stdout}");
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    assert_eq!(
        stdout.matches("conservation: ok").count(),
        2,
        "a report per phase: {stdout}"
    );
    let (mix, bad) = stdout.split_once("=== phase 2").expect("the bad cases' phase");

    // Every vmk the mix delivers frames to (among those a socket receives whole) has rows in the report.
    let model = HostModel::embedded_default();
    let max = XskConfig::default().max_frame_len();
    let receiving: BTreeSet<String> = vsphere_mix(&model, DEFAULT_SEED)
        .into_iter()
        .filter(|f| f.label.verdict == "delivered" && f.bytes.len() <= max)
        .filter_map(|f| f.label.vmk)
        .collect();
    assert!(receiving.len() >= 2, "the mix reaches several vmks: {receiving:?}");
    let report = mix
        .split("== the engine's report")
        .nth(1)
        .and_then(|rest| rest.split("== the accounting").next())
        .expect("the report section");
    for vmk in &receiving {
        assert!(
            report
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(vmk.as_str())),
            "{vmk} missing from the report:\n{report}"
        );
    }

    // Every drop reason was counted on the real path, as many times as labelled, and at least once.
    for reason in DropReason::ALL {
        let line = bad
            .lines()
            .find(|l| l.contains(&format!(" dropped {} (XDP and workers)", reason.name())))
            .unwrap_or_else(|| panic!("no count of {} in:\n{bad}", reason.name()));
        let count: u64 = line
            .split_whitespace()
            .rev()
            .nth(2)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no count in `{line}`"));
        assert!(line.trim_start().starts_with("ok") && count > 0, "{line}");
    }
    let (netns, host) = topology_names(&stdout);
    assert_nothing_left(&netns, &host);
}

#[test]
fn demo_json_reports_the_same_accounting() {
    if !privileged("demo_json_reports_the_same_accounting") {
        return;
    }
    let (out, stdout) = demo(&["--format", "json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {}: {stderr}\n{stdout}", out.status);
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document on stdout");
    assert_eq!(doc["ok"], true, "{doc:#}");
    let phases = doc["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 2);
    for phase in phases {
        let checks = phase["checks"].as_array().expect("checks");
        assert!(checks.len() > 10, "{phase:#}");
        for check in checks {
            assert_eq!(check["ok"], check["got"] == check["want"], "{check}");
            assert_eq!(check["ok"], true, "{check}");
        }
        assert_eq!(phase["report"]["conservation_holds"], true);
    }
    // The frames the veth wire cannot carry are named, with why.
    let not_sent = phases[1]["not_sent"].as_array().expect("not_sent");
    assert!(
        not_sent
            .iter()
            .any(|n| n["why"].as_str().unwrap().contains("Ethernet header")),
        "{not_sent:?}"
    );
    assert!(stderr.contains("== topology"), "progress on stderr: {stderr}");
    assert_nothing_left(
        doc["topology"]["netns"].as_str().expect("netns"),
        doc["topology"]["host"].as_str().expect("host"),
    );
}

#[test]
fn demo_interrupted_by_sigint_removes_everything() {
    if privileged("demo_interrupted_by_sigint_removes_everything") {
        interrupt_demo(libc::SIGINT);
    }
}

#[test]
fn demo_stopped_by_sigterm_removes_everything() {
    if privileged("demo_stopped_by_sigterm_removes_everything") {
        interrupt_demo(libc::SIGTERM);
    }
}

/// Sends `signal` to a demo while it sends its first phase: it must exit 128 + `signal` with the namespace
/// and the veth pair gone.
fn interrupt_demo(signal: libc::c_int) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmknet"))
        .args(["demo", "--rounds", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vmknet demo");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let mut child = Reap(child);
    let mut seen = String::new();
    let mut lines = BufReader::new(stdout).lines();
    // Interrupt while the first phase is sending its hundred rounds.
    while !seen.contains("== sending") {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("vmknet demo ended early: {seen}"))
            .expect("stdout");
        seen.push_str(&line);
        seen.push('\n');
    }
    // Safety: kill(2) on the child's pid, which is still ours to signal (it has not been waited for).
    assert_eq!(
        unsafe { libc::kill(child.0.id() as libc::pid_t, signal) },
        0,
        "kill {signal}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "vmknet demo did not stop on signal {signal}");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut err).expect("stderr");
    assert_eq!(status.code(), Some(128 + signal), "{err}\n{seen}");
    assert!(
        err.contains(&format!(
            "interrupted by signal {signal}; everything it created is removed"
        )),
        "{err}"
    );
    let (netns, host) = topology_names(&seen);
    assert_nothing_left(&netns, &host);
}

#[test]
fn demo_without_cap_sys_admin_says_what_is_missing_and_creates_nothing() {
    // As root, drop CAP_SYS_ADMIN from the child's bounding set (setpriv, util-linux); otherwise the test
    // process already lacks it.
    let mut command = if missing().is_none() {
        let mut c = Command::new("setpriv");
        c.args(["--bounding-set=-sys_admin", env!("CARGO_BIN_EXE_vmknet")]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_vmknet"))
    };
    let out = command.arg("demo").output().expect("run vmknet demo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("vmknet demo: cannot run:\n") && stderr.contains("missing CAP_SYS_ADMIN"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing runs: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
