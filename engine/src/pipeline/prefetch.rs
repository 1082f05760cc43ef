//! Software prefetch of a frame's headers (the first two cache lines: Ethernet, VLAN, IP, transport).

/// Starts loading the first 128 bytes of `frame` into the cache without waiting for them.
#[inline(always)]
pub(super) fn headers(frame: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = frame.as_ptr();
        // Safety: a prefetch is a hint that never faults, whatever the address; both addresses are computed
        // with `wrapping_add` and only handed to the prefetch instruction, never dereferenced.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(start.cast());
            _mm_prefetch::<_MM_HINT_T0>(start.wrapping_add(64).cast());
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = frame;
}
