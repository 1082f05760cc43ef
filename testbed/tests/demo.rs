//! Runs the `vmknet-demo` binary: the embedded default host through the real XDP + AF_XDP path on a veth pair.
//! It must exit 0 (the accounting against the labels adds up), name in its report every vmk the vSphere mix
//! delivers to, and leave nothing behind.
//!
//! Needs root (CAP_SYS_ADMIN for the namespace, plus what the engine needs); without it the test prints why it
//! skips and passes.

use std::collections::BTreeSet;
use std::process::Command;

use vmknet::io::xsk::XskConfig;
use vmknet::model::HostModel;
use vmknet::runtime::check_capabilities;
use vmknet_testbed::{DEFAULT_SEED, vsphere_mix};

const CAP_SYS_ADMIN: u32 = 21;

fn privileged() -> Result<(), String> {
    check_capabilities(2 * XskConfig::default().umem_bytes()).map_err(|e| e.to_string())?;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    if effective & (1 << CAP_SYS_ADMIN) == 0 {
        return Err("missing CAP_SYS_ADMIN (network namespaces)".into());
    }
    Ok(())
}

#[test]
fn demo_delivers_the_vsphere_mix_as_labelled() {
    if let Err(why) = privileged() {
        println!("skipping demo_delivers_the_vsphere_mix_as_labelled: {why}");
        return;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vmknet-demo"))
        .output()
        .expect("run vmknet-demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "exit status {}: {stderr}\n{stdout}", out.status);
    assert!(stdout.contains("OK, the accounting adds up"), "{stdout}");
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    assert!(stdout.contains("conservation: ok"), "{stdout}");

    // Every vmk the mix delivers frames to has rows in the report.
    let model = HostModel::embedded_default();
    let receiving: BTreeSet<String> = vsphere_mix(&model, DEFAULT_SEED)
        .into_iter()
        .filter(|f| f.label.verdict == "delivered")
        .filter_map(|f| f.label.vmk)
        .collect();
    assert!(receiving.len() >= 2, "the mix reaches several vmks: {receiving:?}");
    let report = stdout
        .split("== the engine's report")
        .nth(1)
        .and_then(|rest| rest.split("== the XDP program's counters").next())
        .expect("the report section");
    for vmk in &receiving {
        assert!(
            report
                .lines()
                .any(|l| l.split_whitespace().nth(1) == Some(vmk.as_str())),
            "{vmk} missing from the report:\n{report}"
        );
    }

    // Nothing left behind: no namespace of this demo's prefix remains.
    let netns = Command::new("ip").args(["netns", "list"]).output().expect("ip netns");
    let left: Vec<_> = String::from_utf8_lossy(&netns.stdout)
        .lines()
        .filter(|l| l.starts_with("vmknet-demo-"))
        .map(str::to_owned)
        .collect();
    // Another demo may be running concurrently; only this run's namespace must be gone, and it printed its name.
    let ours = stdout
        .split_whitespace()
        .find(|w| w.starts_with("vmknet-demo-"))
        .expect("the namespace named in the output");
    assert!(
        !left.iter().any(|l| l.split_whitespace().next() == Some(ours)),
        "{ours} left behind"
    );
}
