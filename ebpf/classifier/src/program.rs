//! The XDP program, its maps, and the kernel-side [`SteeringTables`] implementation (the packet is read through
//! [`LinearPacket`]).
//!
//! The entry point is thin: [`vmknet_xdp`] maps a failure of the body to `XDP_ABORTED`. The body only fails
//! when an array lookup with an in-range index fails, which the kernel never does; the abort would show in the
//! `xdp:xdp_exception` tracepoint rather than in the verdict counters.
//!
//! A frame passed to Linux that [`announcement`] recognises (a gratuitous ARP or unsolicited neighbour
//! advertisement) on a VLAN that carries a vmk (`LEARN_VLANS`) is also reported in the `LEARNED` ring buffer
//! for the engine's neighbour caches; a full ring counts in `LEARN_COUNTS`. The verdict is unchanged.
//!
//! In ceiling mode (`XdpConfig::ceiling`) a steered frame is dropped and counted `Discarded` instead of
//! redirected: the benchmark's measure of what classifying costs without a socket behind it.
//!
//! Frames with fragments (`xdp.frags`, jumbo frames in multi-buffer mode) are classified on their linear
//! part, which holds far more than the 58 bytes [`classify`] may read.

use aya_ebpf::{
    bindings::xdp_action::{XDP_ABORTED, XDP_DROP, XDP_PASS},
    macros::{map, xdp},
    maps::{Array, HashMap, PerCpuArray, RingBuf, XskMap},
    programs::XdpContext,
};
use vmknet_common::{
    Announcement, Ipv4Key, Ipv6Key, LinearPacket, MacKey, Steer, SteerTarget, SteeringTables, XdpConfig, XdpVerdict,
    announcement, classify,
    xdp::{LEARN_COUNTERS, LEARN_REPORTED, LEARN_RING_FULL, socket_slot},
};

/// Capacity of each steering map (vmks × VLANs, ARP targets, solicited-node groups).
const STEERING_ENTRIES: u32 = 4096;
/// Default XSKMAP capacity; the loader resizes it to `rx queues × netstacks`.
const SOCKET_SLOTS: u32 = 256;

#[map]
static STEER_BY_MAC: HashMap<MacKey, SteerTarget> = HashMap::with_max_entries(STEERING_ENTRIES, 0);
#[map]
static STEER_BY_ARP_TARGET: HashMap<Ipv4Key, SteerTarget> = HashMap::with_max_entries(STEERING_ENTRIES, 0);
#[map]
static STEER_BY_IPV6_GROUP: HashMap<Ipv6Key, SteerTarget> = HashMap::with_max_entries(STEERING_ENTRIES, 0);
/// Every vmk MAC, on any VLAN; the value is unused.
#[map]
static VMK_MACS: HashMap<[u8; 6], u8> = HashMap::with_max_entries(STEERING_ENTRIES, 0);
/// AF_XDP sockets at `socket_slot(rx_queue, n_netstacks, netstack)`.
#[map]
static SOCKETS: XskMap = XskMap::with_max_entries(SOCKET_SLOTS, 0);
#[map]
static CONFIG: Array<XdpConfig> = Array::with_max_entries(1, 0);
/// One counter per [`XdpVerdict`], indexed by [`XdpVerdict::counter`].
#[map]
static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(XdpVerdict::COUNTERS, 0);

/// Per VLAN id, 1 when a vmk is on that VLAN: announcements on other VLANs are not reported.
#[map]
static LEARN_VLANS: Array<u8> = Array::with_max_entries(4096, 0);
/// Announcements for the engine: [`Announcement`] records.
#[map]
static LEARNED: RingBuf = RingBuf::with_byte_size(64 * 1024, 0);
/// Announcements reported and lost to a full ring, indexed by `LEARN_REPORTED` and `LEARN_RING_FULL`.
#[map]
static LEARN_COUNTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(LEARN_COUNTERS, 0);

#[xdp(frags)]
fn vmknet_xdp(ctx: XdpContext) -> u32 {
    try_steer(&ctx).unwrap_or(XDP_ABORTED)
}

fn try_steer(ctx: &XdpContext) -> Result<u32, ()> {
    // Safety: the range is this program's packet data, as the XDP context gives it.
    let frame = unsafe { LinearPacket::new(ctx.data(), ctx.data_end()) };
    let (verdict, action) = match classify(&frame, &Maps) {
        Steer::Steered { target, .. } => {
            let config = CONFIG.get(0).ok_or(())?;
            if config.ceiling != 0 {
                (XdpVerdict::Discarded, XDP_DROP)
            } else {
                let slot = socket_slot(ctx.rx_queue_index(), config.n_netstacks, target.netstack);
                // An empty slot makes the helper return the low bits of the flags: XDP_PASS.
                match SOCKETS.redirect(slot, u64::from(XDP_PASS)) {
                    Ok(action) => (XdpVerdict::Redirected, action),
                    Err(action) => (XdpVerdict::PassedNoSocket, action),
                }
            }
        }
        Steer::Pass(_) => {
            report_announcement(&frame)?;
            (XdpVerdict::PassedNotOurs, XDP_PASS)
        }
        Steer::Drop(reason) => (XdpVerdict::Dropped(reason), XDP_DROP),
    };
    count(&COUNTERS, verdict.counter())?;
    Ok(action)
}

/// Reports the announcement `frame` makes, if any, when its VLAN carries a vmk.
fn report_announcement(frame: &LinearPacket) -> Result<(), ()> {
    let Some(record) = announcement(frame) else {
        return Ok(());
    };
    if LEARN_VLANS.get(u32::from(record.vlan)).copied() != Some(1) {
        return Ok(());
    }
    match LEARNED.reserve::<Announcement>(0) {
        Some(mut entry) => {
            entry.write(record);
            entry.submit(0);
            count(&LEARN_COUNTS, LEARN_REPORTED)
        }
        None => count(&LEARN_COUNTS, LEARN_RING_FULL),
    }
}

/// Adds one to this CPU's counter `index` of `counters`.
fn count(counters: &PerCpuArray<u64>, index: u32) -> Result<(), ()> {
    let counter = counters.get_ptr_mut(index).ok_or(())?;
    // Safety: the pointer is this CPU's slot of an in-range element; XDP runs with migration disabled, so no
    // other writer touches it during the increment.
    unsafe { *counter += 1 };
    Ok(())
}

/// The steering maps, filled by the engine's loader.
struct Maps;

impl SteeringTables for Maps {
    fn by_mac(&self, key: &MacKey) -> Option<SteerTarget> {
        // Safety: the value is copied out at once. A concurrent delete could let the element be reused for
        // another key: the frame then goes to a stale target, which a table swap accepts anyway.
        unsafe { STEER_BY_MAC.get(key) }.copied()
    }

    fn by_arp_target(&self, key: &Ipv4Key) -> Option<SteerTarget> {
        // Safety: as in `by_mac`.
        unsafe { STEER_BY_ARP_TARGET.get(key) }.copied()
    }

    fn by_ipv6_group(&self, key: &Ipv6Key) -> Option<SteerTarget> {
        // Safety: as in `by_mac`.
        unsafe { STEER_BY_IPV6_GROUP.get(key) }.copied()
    }

    fn is_vmk_mac(&self, mac: &[u8; 6]) -> bool {
        VMK_MACS.get_ptr(mac).is_some()
    }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
