//! The subjects of the end-to-end benchmark as child processes: the comparison peers, DPDK's testpmd on its
//! AF_XDP driver ([`dpdk`]) and xdp-tools' `xdp-bench drop` ([`xdp_bench`]), the XDP ceiling, and vmknet's
//! own subjects run by `vmknet-bench serve` ([`served`]).
//!
//! Each peer runs inside a network namespace (`ip netns exec NS …`, which execs, so the child's pid is the
//! peer's), pinned to one CPU (`taskset -c CPU`, which execs too), on one interface, receiving everything that
//! arrives on its rx queue 0. `start_*` returns once the peer says it is receiving; [`RunningPeer::stop`] sends
//! SIGINT, reaps the child with `wait4` (for its peak RSS) and reads the count the peer's own way. Their
//! binaries come from `scripts/install-bench-deps.sh`; `*_available` names what is missing so that callers
//! (and tests) can skip a peer rather than fail.

pub mod dpdk;
pub mod served;
pub mod xdp_bench;

use std::io::{self, BufRead as _, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

pub use dpdk::{dpdk_available, start_dpdk};
pub use served::start_served;
pub(crate) use xdp_bench::xdptools_shim;
pub use xdp_bench::{start_xdp_bench_drop, xdp_bench_available};

/// How long a peer may take to say it is receiving (testpmd fills its memory first).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a peer may take to exit after SIGINT before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Lines of output an error quotes.
const TAIL_LINES: usize = 12;

/// Where a peer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerSpec<'a> {
    /// The network namespace (a name under `/run/netns`).
    pub netns: &'a str,
    /// The interface it receives on, inside `netns`.
    pub interface: &'a str,
    /// The CPU it is pinned to.
    pub cpu: usize,
}

/// What a peer received.
#[derive(Clone, Debug)]
pub struct PeerCount {
    /// Frames received (how each peer counts is in its module).
    pub frames: u64,
    /// Frames that reached the peer's socket but found its ring full, where the peer has a ring (DPDK's
    /// AF_XDP socket); `None` for xdp-bench, which drops in XDP. `frames + ring_drops` is all that arrived.
    pub ring_drops: Option<u64>,
    /// The child's peak resident set (`wait4`'s `ru_maxrss`), in KiB; `None` when the kernel gave none.
    pub peak_rss_kib: Option<u64>,
    /// Send-to-receive latency of stamped frames (ns), from the subjects that time them (vmknet's own).
    pub latency: Option<Histogram<u64>>,
}

/// An error running a peer, naming the command and quoting the tail of its output.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The peer is not installed here: what is missing.
    #[error("{0}")]
    Unavailable(String),
    /// The command could not be started.
    #[error("starting `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The peer did not come up, exited badly or printed no count.
    #[error("`{command}`: {why}; its output ends:\n{tail}")]
    Failed {
        /// The command line.
        command: String,
        /// What went wrong.
        why: String,
        /// The last lines of its standard error, or of its standard output when it wrote no errors.
        tail: String,
    },
    /// A helper command (`ethtool -S`, the shim's compiler) failed.
    #[error("{0}")]
    Helper(String),
}

/// How a running peer's count is read when it stops.
#[derive(Clone, Copy, Debug)]
enum Counter {
    /// testpmd's summary on exit.
    Testpmd,
    /// The interface's XDP drop counter of rx queue 0, read before the start.
    XdpDrops {
        /// The counter before the peer started.
        before: u64,
    },
    /// The JSON line `vmknet-bench serve` prints on exit.
    Served,
}

/// A peer receiving; [`stop`](Self::stop) it to get its count. Dropping it without stopping kills it.
#[derive(Debug)]
pub struct RunningPeer {
    process: Option<Process>,
    counter: Counter,
    netns: String,
    interface: String,
}

impl RunningPeer {
    /// Stops the peer (SIGINT, then SIGKILL after 10 s) and returns what it received.
    ///
    /// # Errors
    /// [`PeerError::Failed`] when it had to be killed, exited with an error or printed no count;
    /// [`PeerError::Helper`] when the interface counters cannot be read.
    pub fn stop(mut self) -> Result<PeerCount, PeerError> {
        // Only `drop` and this (which takes the peer by value) take the process.
        let process = self.process.take().expect("a running peer has its process");
        let exit = process.interrupt_and_wait()?;
        let (frames, ring_drops, latency) = match self.counter {
            Counter::Testpmd => {
                let (frames, dropped) = dpdk::received(&exit)?;
                (frames, Some(dropped), None)
            }
            Counter::XdpDrops { before } => {
                let after = xdp_bench::xdp_drops(&self.netns, &self.interface)?;
                (after.saturating_sub(before), None, None)
            }
            Counter::Served => {
                let outcome = served::outcome(&exit)?;
                (outcome.frames, Some(outcome.lost), outcome.latency)
            }
        };
        Ok(PeerCount {
            frames,
            ring_drops,
            latency,
            peak_rss_kib: exit.peak_rss_kib,
        })
    }
}

/// A child process whose standard output and error are collected by two threads.
#[derive(Debug)]
struct Process {
    command: String,
    pid: libc::pid_t,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
    /// A directory the process leaves behind, removed (when empty) once it exited.
    leftover: Option<PathBuf>,
}

/// A process that exited, with its output.
#[derive(Debug)]
struct Exited {
    command: String,
    stdout: String,
    stderr: String,
    peak_rss_kib: Option<u64>,
}

impl Exited {
    fn failed(&self, why: impl Into<String>) -> PeerError {
        PeerError::Failed {
            command: self.command.clone(),
            why: why.into(),
            tail: tail(&self.stdout, &self.stderr),
        }
    }
}

impl Process {
    /// Starts `program args` in `spec`'s namespace, pinned to its CPU, with `env` added.
    fn spawn(spec: &PeerSpec<'_>, program: &Path, args: &[String], env: &[(&str, &Path)]) -> Result<Self, PeerError> {
        let mut argv: Vec<String> = ["netns", "exec", spec.netns, "taskset", "-c"]
            .map(String::from)
            .to_vec();
        argv.push(spec.cpu.to_string());
        argv.push(program.display().to_string());
        argv.extend(args.iter().cloned());
        let command = format!("ip {}", argv.join(" "));
        let mut child = Command::new("ip")
            .args(&argv)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| PeerError::Spawn {
                command: command.clone(),
                source,
            })?;
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(collect(out, Arc::clone(&stdout)));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(collect(err, Arc::clone(&stderr)));
        }
        Ok(Self {
            command,
            pid: child.id() as libc::pid_t,
            stdout,
            stderr,
            readers,
            leftover: None,
        })
    }

    /// Removes `dir` (when empty) once the process exited.
    fn leaving(mut self, dir: PathBuf) -> Self {
        self.leftover = Some(dir);
        self
    }

    /// Waits until the standard output holds `marker`.
    fn wait_for(self, marker: &str) -> Result<Self, PeerError> {
        let stdout = Arc::clone(&self.stdout);
        self.wait_until(&format!("say `{marker}`"), || lock(&stdout).contains(marker))
    }

    /// Waits until `ready` (polled every 20 ms) says the process is ready: it did `what`.
    fn wait_until(self, what: &str, mut ready: impl FnMut() -> bool) -> Result<Self, PeerError> {
        let start = Instant::now();
        loop {
            if ready() {
                return Ok(self);
            }
            let why = if self.try_reap().is_some() {
                Some(format!("exited before it did {what}"))
            } else if start.elapsed() > READY_TIMEOUT {
                Some(format!("did not {what} within {} s", READY_TIMEOUT.as_secs()))
            } else {
                None
            };
            if let Some(why) = why {
                let exit = self.kill_and_wait();
                return Err(exit.failed(why));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGINT and waits for the exit; kills the process after [`STOP_TIMEOUT`].
    fn interrupt_and_wait(mut self) -> Result<Exited, PeerError> {
        // Safety: plain kill(2) of our own child, not yet reaped (so the pid is still ours).
        unsafe { libc::kill(self.pid, libc::SIGINT) };
        let start = Instant::now();
        while start.elapsed() < STOP_TIMEOUT {
            if let Some((status, rss)) = self.try_reap() {
                let exit = self.finish(rss);
                return match status {
                    0 => Ok(exit),
                    status => Err(exit.failed(format!("exited with status {status} after SIGINT"))),
                };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let exit = self.kill_and_wait();
        Err(exit.failed(format!(
            "still running {} s after SIGINT: killed",
            STOP_TIMEOUT.as_secs()
        )))
    }

    /// The exit status (`WEXITSTATUS`, or 128 + the signal) and peak RSS, once the process has exited.
    fn try_reap(&self) -> Option<(i32, Option<u64>)> {
        let mut status = 0;
        // Safety: all-zero is a valid rusage, filled by wait4(2).
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // Safety: wait4(2) on our own child with valid pointers.
        let reaped = unsafe { libc::wait4(self.pid, &raw mut status, libc::WNOHANG, &raw mut usage) };
        if reaped != self.pid {
            return None;
        }
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            128 + libc::WTERMSIG(status)
        };
        Some((code, u64::try_from(usage.ru_maxrss).ok().filter(|&kib| kib > 0)))
    }

    fn pid_kill(&self) {
        // Safety: plain kill(2) of our own child, not yet reaped.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }

    /// Kills the process (if it still runs) and collects what it wrote.
    fn kill_and_wait(mut self) -> Exited {
        self.pid_kill();
        let mut rss = None;
        for _ in 0..500 {
            if let Some((_, peak)) = self.try_reap() {
                rss = peak;
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.finish(rss)
    }

    fn finish(&mut self, peak_rss_kib: Option<u64>) -> Exited {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        if let Some(dir) = self.leftover.take() {
            let _ = std::fs::remove_dir(dir);
        }
        Exited {
            command: self.command.clone(),
            stdout: std::mem::take(&mut *lock(&self.stdout)),
            stderr: std::mem::take(&mut *lock(&self.stderr)),
            peak_rss_kib,
        }
    }
}

impl Drop for RunningPeer {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill_and_wait();
        }
    }
}

/// A thread appending each line of `from` to `into`.
fn collect(from: impl Read + Send + 'static, into: Arc<Mutex<String>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            lock(&into).push_str(&String::from_utf8_lossy(&line));
            line.clear();
        }
    })
}

fn lock(text: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    text.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The last [`TAIL_LINES`] of `stderr`, or of `stdout` when `stderr` is blank.
fn tail(stdout: &str, stderr: &str) -> String {
    let text = if stderr.trim().is_empty() { stdout } else { stderr };
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// `name` in the directories of `PATH` and the sbin directories (where xdp-tools installs).
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs a helper command to completion; its standard output, or an error naming it and its standard error.
fn helper(program: &str, args: &[&str]) -> Result<String, PeerError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| PeerError::Helper(format!("{command}: {err}")))?;
    if !out.status.success() {
        return Err(PeerError::Helper(format!(
            "{command}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_quote_the_last_lines_of_stderr_or_else_stdout() {
        let many: String = (0..20).map(|i| format!("line {i}\n\n")).collect();
        let quoted = tail("out", &many);
        assert!(
            quoted.starts_with("line 8\n") && quoted.ends_with("line 19"),
            "{quoted}"
        );
        assert_eq!(tail("a\nb\n", " \n"), "a\nb");
    }

    #[test]
    fn programs_are_found_on_the_path_and_missing_ones_are_none() {
        assert!(find_program("sh").is_some());
        assert_eq!(find_program("vmknet-no-such-program"), None);
    }
}
