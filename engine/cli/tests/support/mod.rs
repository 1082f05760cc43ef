//! What the CLI's root tests share.

/// A child process (`vmknet run`, `vmknet demo`) killed and reaped when dropped, so a failing test never leaves
/// an engine attached to a testbed interface.
pub(crate) struct Reap(pub(crate) std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
