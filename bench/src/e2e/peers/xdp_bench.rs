//! xdp-tools' `xdp-bench drop IF`: an XDP program returning `XDP_DROP` for every frame, the ceiling of any
//! receiver on the interface.
//!
//! Command: `env LD_PRELOAD=<shim> xdp-bench drop IF` (native mode, frames not touched). Debian's xdp-tools
//! 1.3.1 fails to load on recent kernels (tracepoints it attaches to, such as `xdp_redirect_map_err`, are
//! gone); the preload shim `bench/scripts/xdptools-shim.c` turns those programs' autoload off. It is embedded
//! here and compiled once per source version into the temporary directory with `$CLANG` (default `clang-22`)
//! and libbpf, both build requirements of this crate.
//!
//! Only one xdp-bench runs per machine (its lock file `/run/xdp-bench.lck`); a stale lock left by a killed
//! instance is removed before the start.
//!
//! Ready: the interface has an XDP program (`ip -d link show` says `prog/xdp`). xdp-bench prints `Dropping
//! packets on IF` once it attached it, but into a pipe its standard output is block-buffered: the line comes
//! out only when it exits.
//! Count: the delta of the interface's `rx_queue_0_xdp_drops` (`ethtool -S`) across the run, an exact kernel
//! counter of the frames XDP dropped on rx queue 0. xdp-bench's own final total is not used: it is summed from
//! per-interval samples of rates, and counted 49 998 of a 100 000-frame burst here that the kernel counter
//! had exactly. The counter names are veth's (and virtio's); other drivers name theirs differently.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::{Counter, PeerError, PeerSpec, Process, RunningPeer, find_program, helper};

const XDP_BENCH: &str = "xdp-bench";
/// veth's per-queue counter of frames its XDP program dropped.
const XDP_DROPS: &str = "rx_queue_0_xdp_drops";
/// xdp-tools' per-program lock, holding the pid of the running instance.
const LOCK_FILE: &str = "/run/xdp-bench.lck";
const SHIM_SOURCE: &str = include_str!("../../../scripts/xdptools-shim.c");

/// Whether xdp-bench, ethtool and a compiler for the shim are installed.
///
/// # Errors
/// What is missing, and where it comes from.
pub fn xdp_bench_available() -> Result<(), String> {
    xdp_bench()?;
    find_program("ethtool").ok_or("ethtool not found (Debian package ethtool, scripts/install-deps.sh)")?;
    find_program(&clang()).ok_or_else(|| {
        format!(
            "{} not found: it compiles xdp-bench's preload shim (set CLANG, or run scripts/install-deps.sh)",
            clang()
        )
    })?;
    Ok(())
}

/// Starts `xdp-bench drop` on `spec`'s interface; returns once its program is attached.
///
/// # Errors
/// [`PeerError::Unavailable`] as [`xdp_bench_available`] says; [`PeerError::Helper`] when the shim does not
/// compile or the counters cannot be read; [`PeerError::Spawn`]; [`PeerError::Failed`] when xdp-bench exits
/// or is not ready within 30 s.
pub fn start_xdp_bench_drop(spec: &PeerSpec<'_>) -> Result<RunningPeer, PeerError> {
    xdp_bench_available().map_err(PeerError::Unavailable)?;
    let program = xdp_bench().map_err(PeerError::Unavailable)?;
    let shim = shim().as_ref().map_err(|why| PeerError::Helper(why.clone()))?;
    clear_stale_lock();
    let before = xdp_drops(spec.netns, spec.interface)?;
    let args = ["drop".to_owned(), spec.interface.to_owned()];
    let process = Process::spawn(spec, &program, &args, &[("LD_PRELOAD", shim.as_path())])?
        .wait_until("attach an XDP program", || xdp_attached(spec.netns, spec.interface))?;
    Ok(RunningPeer {
        process: Some(process),
        counter: Counter::XdpDrops { before },
        netns: spec.netns.to_owned(),
        interface: spec.interface.to_owned(),
    })
}

/// Removes xdp-bench's lock file when the process it names is gone (killed): xdp-bench runs one instance per
/// machine and refuses to start over a stale lock. A live holder's lock stays, and xdp-bench names it.
fn clear_stale_lock() {
    let Ok(text) = std::fs::read_to_string(LOCK_FILE) else {
        return;
    };
    if let Ok(pid) = text.trim().parse::<u32>()
        && !Path::new(&format!("/proc/{pid}")).exists()
    {
        let _ = std::fs::remove_file(LOCK_FILE);
    }
}

/// Whether an XDP program is attached to the interface.
fn xdp_attached(netns: &str, interface: &str) -> bool {
    helper("ip", &["-n", netns, "-d", "link", "show", "dev", interface]).is_ok_and(|link| link.contains("prog/xdp"))
}

/// The interface's `rx_queue_0_xdp_drops`.
pub(super) fn xdp_drops(netns: &str, interface: &str) -> Result<u64, PeerError> {
    let stats = helper("ip", &["netns", "exec", netns, "ethtool", "-S", interface])?;
    parse_counter(&stats, XDP_DROPS)
        .ok_or_else(|| PeerError::Helper(format!("`ethtool -S {interface}` in {netns} has no {XDP_DROPS}")))
}

fn parse_counter(stats: &str, name: &str) -> Option<u64> {
    stats.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == name).then(|| value.trim().parse().ok()).flatten()
    })
}

fn xdp_bench() -> Result<PathBuf, String> {
    find_program(XDP_BENCH)
        .ok_or_else(|| format!("{XDP_BENCH} not found (Debian package xdp-tools, scripts/install-deps.sh)"))
}

fn clang() -> String {
    std::env::var("CLANG").unwrap_or_else(|_| "clang-22".into())
}

/// The xdp-tools preload shim (xdp-bench's here, xdp-trafficgen's in [`crate::e2e::generator`]), compiled at
/// most once per process (and reused across processes of one source version).
///
/// # Errors
/// Why it did not compile (the compiler's message).
pub(crate) fn xdptools_shim() -> Result<PathBuf, String> {
    shim().clone()
}

fn shim() -> &'static Result<PathBuf, String> {
    static SHIM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SHIM.get_or_init(|| {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        SHIM_SOURCE.hash(&mut hasher);
        let dir = std::env::temp_dir();
        let library = dir.join(format!("vmknet-xdptools-shim-{:016x}.so", hasher.finish()));
        if library.is_file() {
            return Ok(library);
        }
        let id = std::process::id();
        let source = dir.join(format!("vmknet-xdptools-shim-{id}.c"));
        let partial = dir.join(format!("vmknet-xdptools-shim-{id}.so"));
        let result = compile(&source, &partial).and_then(|()| {
            std::fs::rename(&partial, &library).map_err(|err| format!("installing {}: {err}", library.display()))
        });
        let _ = std::fs::remove_file(&source);
        result.map(|()| library)
    })
}

fn compile(source: &Path, output: &Path) -> Result<(), String> {
    std::fs::write(source, SHIM_SOURCE).map_err(|err| format!("writing {}: {err}", source.display()))?;
    let (source, output) = (source.to_string_lossy(), output.to_string_lossy());
    helper(
        &clang(),
        &["-shared", "-fPIC", "-O2", "-o", &output, &source, "-ldl", "-lbpf"],
    )
    .map(drop)
    .map_err(|err| format!("compiling xdp-bench's preload shim: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_0_drop_counter_is_read_by_its_exact_name() {
        let stats = "NIC statistics:\n     peer_ifindex: 5\n     rx_queue_0_xdp_drops: 200000\n     \
                     rx_queue_10_xdp_drops: 3\n     rx_queue_0_xdp_drops_extra: 1\n";
        assert_eq!(parse_counter(stats, XDP_DROPS), Some(200_000));
        assert_eq!(parse_counter("NIC statistics:\n", XDP_DROPS), None);
    }
}
