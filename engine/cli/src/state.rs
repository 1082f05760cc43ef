//! The state a running engine leaves for other commands: `neighbors.json` in its state directory
//! (`/run/vmknet/<iface>` by default), the owners' neighbour caches as a [`NeighborSnapshot`], rewritten
//! every interval and at exit by `vmknet run` and read by `vmknet show neighbors`. Written to a temporary
//! file and renamed, so a reader never sees half a file.

use std::io;
use std::path::{Path, PathBuf};

use vmknet::netstack::view::NeighborSnapshot;

/// Where engines keep their state, one directory per interface.
pub(crate) const STATE_ROOT: &str = "/run/vmknet";

/// The file `show neighbors` reads.
const NEIGHBORS: &str = "neighbors.json";

/// The default state directory of an engine on `iface`.
pub(crate) fn default_dir(iface: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(iface)
}

/// Writes `snapshot` into `dir` (made if missing), atomically.
pub(crate) fn write_neighbors(dir: &Path, snapshot: &NeighborSnapshot) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_vec_pretty(snapshot).map_err(io::Error::other)?;
    let tmp = dir.join(format!(".{NEIGHBORS}.tmp"));
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, dir.join(NEIGHBORS))
}

/// Reads the snapshot of `dir`, or of the only engine under [`STATE_ROOT`] when `dir` is `None`.
pub(crate) fn read_neighbors(dir: Option<&Path>) -> Result<NeighborSnapshot, String> {
    let dir = match dir {
        Some(dir) => dir.to_owned(),
        None => only_engine_dir()?,
    };
    let path = dir.join(NEIGHBORS);
    let text = std::fs::read_to_string(&path).map_err(|err| {
        if err.kind() == io::ErrorKind::NotFound {
            format!(
                "no neighbour table in {}: no engine has written one there (start `vmknet run --iface IF`, \
                 or give its --state-dir)",
                dir.display()
            )
        } else {
            format!("reading {}: {err}", path.display())
        }
    })?;
    serde_json::from_str(&text).map_err(|err| format!("{}: not a neighbour table: {err}", path.display()))
}

/// The single engine directory under [`STATE_ROOT`] holding a neighbour table.
fn only_engine_dir() -> Result<PathBuf, String> {
    let dirs: Vec<PathBuf> = std::fs::read_dir(STATE_ROOT)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.join(NEIGHBORS).is_file())
                .collect()
        })
        .unwrap_or_default();
    match dirs.as_slice() {
        [dir] => Ok(dir.clone()),
        [] => Err(format!(
            "no engine has written a neighbour table under {STATE_ROOT} (start `vmknet run --iface IF`, or give \
             --state-dir)"
        )),
        several => Err(format!(
            "several engines under {STATE_ROOT} ({}): choose one with --state-dir",
            several
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}
