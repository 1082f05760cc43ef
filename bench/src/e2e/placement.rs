//! Putting veth's receive path where a measurement says ([`Placement`]).
//!
//! veth has no interrupts: frames redirected into one end are received by the NAPI of the other, scheduled
//! on the sending CPU. By default that NAPI runs in softirq right there, on the generator's core
//! (*softirq*). With threaded NAPI (`/sys/class/net/IF/threaded` = 1, written after XDP is attached, since
//! veth creates its NAPI instances with the program) it runs in a kernel thread `napi/IF-<id>`, which
//! [`apply`] pins to the subject's core (*shared-core*): the receive path and the subject then share it.

use std::fs;
use std::time::{Duration, Instant};

use super::model::Placement;

/// What [`apply`] changed, undone by [`Applied::undo`] (and on drop).
#[derive(Debug)]
pub struct Applied {
    threaded: Option<Threaded>,
    /// The NAPI threads pinned.
    pub napi_threads: Vec<u32>,
}

/// How long [`apply`] waits for the NAPI threads to appear after threaded mode is switched on.
const NAPI_THREAD_WAIT: Duration = Duration::from_secs(2);

/// Puts the receive path of `interface` (in the namespace `netns`) where `placement` says: nothing to do for
/// softirq; for shared-core, threaded NAPI with every `napi/<interface>-*` thread pinned to `cpu`.
///
/// # Errors
/// Writing the sysfs switch failed, no NAPI thread appeared (no XDP program attached yet?), or pinning failed.
pub fn apply(placement: Placement, netns: &str, interface: &str, cpu: usize) -> Result<Applied, String> {
    let switch = Threaded {
        netns: netns.to_owned(),
        interface: interface.to_owned(),
    };
    // Written whatever the placement, so that nothing left over from an earlier measurement carries over.
    switch.set(placement == Placement::SharedCore)?;
    let mut applied = Applied {
        threaded: None,
        napi_threads: Vec::new(),
    };
    if placement == Placement::Softirq {
        return Ok(applied);
    }
    applied.threaded = Some(switch);
    let deadline = Instant::now() + NAPI_THREAD_WAIT;
    loop {
        applied.napi_threads = napi_threads(interface);
        if !applied.napi_threads.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no napi/{interface}-* thread after switching on threaded NAPI (is an XDP program attached?)"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    for &tid in &applied.napi_threads {
        vmknet::runtime::pin_thread(tid, cpu)
            .map_err(|err| format!("pinning napi thread {tid} to CPU {cpu}: {err}"))?;
    }
    Ok(applied)
}

impl Applied {
    /// Switches threaded NAPI off again, if [`apply`] switched it on. Call it while the subject's XDP program
    /// is still attached: veth refuses the switch on an interface without NAPI instances.
    ///
    /// # Errors
    /// The switch could not be written.
    pub fn undo(mut self) -> Result<(), String> {
        self.threaded.take().map_or(Ok(()), |switch| switch.set(false))
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        if let Some(switch) = self.threaded.take() {
            let _ = switch.set(false);
        }
    }
}

/// The threaded-NAPI switch of an interface in a namespace: its sysfs file, written from inside the
/// namespace (`ip netns exec` mounts the namespace's sysfs).
#[derive(Debug)]
struct Threaded {
    netns: String,
    interface: String,
}

impl Threaded {
    /// Writes the switch and reads it back.
    fn set(&self, on: bool) -> Result<(), String> {
        let path = format!("/sys/class/net/{}/threaded", self.interface);
        let write = format!("echo {} > {path} && cat {path}", u8::from(on));
        let now = vmknet_testbed::topology::run_command("ip", &["netns", "exec", &self.netns, "sh", "-c", &write])
            .map_err(|err| err.to_string())?;
        if now.trim() != u8::from(on).to_string() {
            return Err(format!("{path} reads {} after writing {}", now.trim(), u8::from(on)));
        }
        Ok(())
    }
}

/// The kernel threads named `napi/<interface>-<id>`.
fn napi_threads(interface: &str) -> Vec<u32> {
    let prefix = format!("napi/{interface}-");
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let comm = fs::read_to_string(entry.path().join("comm")).ok()?;
            // comm is cut at 15 characters: match on the part that fits.
            let comm = comm.trim_end();
            (comm.starts_with(&prefix) || (comm.len() == 15 && prefix.starts_with(comm))).then_some(pid)
        })
        .collect()
}
