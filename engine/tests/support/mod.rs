//! What the engine's root tests share.

use vmknet::runtime::check_capabilities;

/// Skips (returning false, with the reason printed) unless the process holds what an engine with
/// `umem_bytes` of UMEM needs, as the engine itself checks it.
pub(crate) fn privileged(test: &str, umem_bytes: u64) -> bool {
    match check_capabilities(umem_bytes) {
        Ok(()) => true,
        Err(err) => {
            println!("skipping {test}: {err}");
            false
        }
    }
}
