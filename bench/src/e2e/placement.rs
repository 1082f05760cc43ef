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
    threaded: Option<String>,
    /// The NAPI threads pinned.
    pub napi_threads: Vec<u32>,
}

/// How long [`apply`] waits for the NAPI threads to appear after threaded mode is switched on.
const NAPI_THREAD_WAIT: Duration = Duration::from_secs(2);

/// Puts `interface`'s receive path where `placement` says: nothing to do for softirq; for shared-core,
/// threaded NAPI with every `napi/<interface>-*` thread pinned to `cpu`.
///
/// # Errors
/// Writing the sysfs switch failed, no NAPI thread appeared (no XDP program attached yet?), or pinning failed.
pub fn apply(placement: Placement, interface: &str, cpu: usize) -> Result<Applied, String> {
    let mut applied = Applied {
        threaded: None,
        napi_threads: Vec::new(),
    };
    if placement == Placement::Softirq {
        return Ok(applied);
    }
    let switch = format!("/sys/class/net/{interface}/threaded");
    fs::write(&switch, "1").map_err(|err| format!("writing 1 to {switch}: {err}"))?;
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
    /// Switches threaded NAPI off again, if [`apply`] switched it on.
    pub fn undo(mut self) {
        self.restore();
    }

    fn restore(&mut self) {
        if let Some(switch) = self.threaded.take() {
            let _ = fs::write(switch, "0");
        }
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        self.restore();
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
