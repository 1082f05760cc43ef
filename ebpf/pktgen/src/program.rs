//! The programs and their maps; the packet bytes are read and written through [`LinearPacket`].
//!
//! Stamping (`GenConfig::stamp`, `Template::stamp`) reads `bpf_ktime_get_ns()` once per frame and writes it
//! with [`write_stamp`]; without a stamp site the programs do exactly what they did without stamps.
//!
//! Each entry point is thin; a failing body (a frame shorter than its layout, a template that does not fit)
//! returns `XDP_ABORTED`, which the kernel counts in the `xdp:xdp_exception` tracepoint and the generator
//! sees as frames offered but not counted here.

use aya_ebpf::{
    bindings::xdp_action::XDP_ABORTED,
    helpers::{
        bpf_ktime_get_ns,
        generated::{bpf_redirect, bpf_xdp_adjust_tail, bpf_xdp_get_buff_len, bpf_xdp_store_bytes},
    },
    macros::{map, xdp},
    maps::{Array, PerCpuArray},
    programs::XdpContext,
};
use vmknet_common::{
    FrameBytes, LinearPacket,
    pktgen::{
        FlowCursor, GenConfig, GenCounters, MAX_TEMPLATE_LEN, SinkConfig, StampSite, Template, rewrite_flow,
        write_stamp,
    },
};

/// Smallest template the replay program plays: an Ethernet header.
const MIN_TEMPLATE_LEN: usize = 14;

#[map]
static CONFIG: Array<GenConfig> = Array::with_max_entries(1, 0);
/// This CPU's flow and template position.
#[map]
static CURSOR: PerCpuArray<FlowCursor> = PerCpuArray::with_max_entries(1, 0);
/// Frames redirected by a generator, or seen by the sink, per CPU.
#[map]
static COUNTERS: PerCpuArray<GenCounters> = PerCpuArray::with_max_entries(1, 0);
/// The frames `pktgen_replay` plays; the loader sizes it to the number of templates.
#[map]
static TEMPLATES: Array<Template> = Array::with_max_entries(1, 0);
#[map]
static SINK: Array<SinkConfig> = Array::with_max_entries(1, 0);

#[xdp]
fn pktgen_flows(ctx: XdpContext) -> u32 {
    try_flows(&ctx).unwrap_or(XDP_ABORTED)
}

#[xdp]
fn pktgen_replay(ctx: XdpContext) -> u32 {
    try_replay(&ctx).unwrap_or(XDP_ABORTED)
}

#[xdp(frags)]
fn pktgen_sink(ctx: XdpContext) -> u32 {
    try_sink(&ctx).unwrap_or(XDP_ABORTED)
}

fn try_flows(ctx: &XdpContext) -> Result<u32, ()> {
    let config = CONFIG.get(0).ok_or(())?;
    let mut frame = packet(ctx);
    // A single flow is the template itself, which the kernel copied into the page and nothing changed since:
    // no rewrite, as in xdp-trafficgen's `xdp_redirect_notouch` (but a stamp, if asked for).
    if config.varies() {
        let cursor = CURSOR.get_ptr_mut(0).ok_or(())?;
        // Safety: this CPU's element; XDP runs with migration disabled, so nothing else touches it meanwhile.
        let cursor = unsafe { &mut *cursor };
        rewrite_flow(&mut frame, config, cursor).ok_or(())?;
        cursor.advance(config);
    }
    stamp(&mut frame, &config.stamp)?;
    redirect(config, frame.len())
}

fn try_replay(ctx: &XdpContext) -> Result<u32, ()> {
    let config = CONFIG.get(0).ok_or(())?;
    let cursor = CURSOR.get_ptr_mut(0).ok_or(())?;
    // Safety: this CPU's element, as in `try_flows`.
    let cursor = unsafe { &mut *cursor };
    let template = TEMPLATES.get(cursor.template).ok_or(())?;
    cursor.advance_template(config);
    // The mask and the one comparison on the masked value give the verifier the bounds of the store's
    // length (MAX_TEMPLATE_LEN is a power of two minus one); a longer `len` cannot be in the map.
    let len = template.len as usize & MAX_TEMPLATE_LEN;
    if len < MIN_TEMPLATE_LEN {
        return Err(());
    }
    // Live frames start at the dummy's length each time (the kernel resets a page's bounds on reuse).
    let delta = len as i32 - (ctx.data_end() - ctx.data()) as i32;
    // Safety: plain helper calls on this program's own context; the store reads `len` bytes of the template,
    // which holds MAX_TEMPLATE_LEN + 1.
    unsafe {
        if delta != 0 && bpf_xdp_adjust_tail(ctx.ctx, delta) != 0 {
            return Err(());
        }
        if bpf_xdp_store_bytes(ctx.ctx, 0, template.bytes.as_ptr() as *mut _, len as u32) != 0 {
            return Err(());
        }
    }
    // The adjusted packet: its bounds changed.
    stamp(&mut packet(ctx), &template.stamp)?;
    redirect(config, len)
}

fn try_sink(ctx: &XdpContext) -> Result<u32, ()> {
    // Safety: a plain helper call on this program's own context; the length includes every fragment of a
    // multi-buffer frame.
    let len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) };
    count(len as usize)?;
    Ok(SINK.get(0).ok_or(())?.action)
}

/// Stamps `frame` with the time now at `site`, if it has one.
fn stamp(frame: &mut LinearPacket, site: &StampSite) -> Result<(), ()> {
    if site.is_some() {
        // Safety: a plain helper call, no arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        write_stamp(frame, site, now).ok_or(())?;
    }
    Ok(())
}

/// Counts a frame of `len` bytes and redirects it to the configured interface.
fn redirect(config: &GenConfig, len: usize) -> Result<u32, ()> {
    count(len)?;
    // Safety: a plain helper call; flags 0.
    Ok(unsafe { bpf_redirect(config.ifindex, 0) } as u32)
}

fn count(len: usize) -> Result<(), ()> {
    let counters = COUNTERS.get_ptr_mut(0).ok_or(())?;
    // Safety: this CPU's element, as in `try_flows`.
    unsafe {
        (*counters).frames += 1;
        (*counters).bytes += len as u64;
    }
    Ok(())
}

/// The linear part of the packet the program runs on.
fn packet(ctx: &XdpContext) -> LinearPacket {
    // Safety: the range is this program's packet data, as the XDP context gives it.
    unsafe { LinearPacket::new(ctx.data(), ctx.data_end()) }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
