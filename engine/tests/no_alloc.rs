//! The per-frame path allocates nothing: the whole vSphere mix and every bad case run through a warmed-up
//! pipeline under a global allocator that counts allocations made on this thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use vmknet::model::HostModel;
use vmknet::pipeline::{Outcome, Pipeline, Verdict};
use vmknet_testbed::{DEFAULT_SEED, bad_cases, testbed_host, vsphere_mix};

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct CountingAllocator;

// Safety: every call is forwarded unchanged to the system allocator; counting touches only `const`
// thread-locals, which never allocate.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // Safety: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // Safety: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
        // Safety: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations made by `f` on this thread.
fn allocations_in(f: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

fn assert_no_allocation(model: HostModel, frames: &[Vec<u8>]) {
    let mut pipeline = Pipeline::new(Arc::new(model));
    let slices: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let mut outcomes = vec![
        Outcome {
            vmk: None,
            verdict: Verdict::Passed
        };
        64
    ];
    let allocations = allocations_in(|| {
        for (round, batch) in slices.chunks(64).enumerate() {
            pipeline.process_batch(batch, round as u64 * 1_000, &mut outcomes);
        }
    });
    assert_eq!(allocations, 0, "allocations while processing {} frames", frames.len());
    assert!(pipeline.counters().conservation().holds());
}

#[test]
fn counting_allocator_sees_this_threads_allocations() {
    assert_eq!(allocations_in(|| drop(Box::new([0u8; 64]))), 1);
}

#[test]
fn the_vsphere_mix_allocates_nothing() {
    let model = HostModel::embedded_default();
    let frames: Vec<Vec<u8>> = vsphere_mix(&model, DEFAULT_SEED).into_iter().map(|f| f.bytes).collect();
    assert_no_allocation(model, &frames);
}

#[test]
fn the_bad_cases_allocate_nothing() {
    let model = testbed_host();
    let frames: Vec<Vec<u8>> = bad_cases(&model).into_iter().map(|f| f.bytes).collect();
    assert_no_allocation(model, &frames);
}
