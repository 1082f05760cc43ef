//! The programs and their map. A port missing from the map drops everything: a switch port fails closed.

use aya_ebpf::{
    bindings::{__sk_buff, TC_ACT_OK, TC_ACT_SHOT},
    helpers::generated::{bpf_skb_vlan_pop, bpf_skb_vlan_push},
    macros::{classifier, map},
    maps::HashMap,
    programs::TcContext,
};
use vmknet_common::access_port::{MAX_ACCESS_PORTS, PortAction, VlanTag, from_host, to_host};
use vmknet_common::classify::ETHERTYPE_VLAN;

/// Access port ifindex → its VLAN (0: untagged). Named [`vmknet_common::access_port::ACCESS_VLAN_MAP`].
#[map]
static ACCESS_VLAN: HashMap<u32, u16> = HashMap::with_max_entries(MAX_ACCESS_PORTS, 0);

#[classifier]
fn access_port_ingress(ctx: TcContext) -> i32 {
    apply(&ctx, from_host)
}

#[classifier]
fn access_port_egress(ctx: TcContext) -> i32 {
    apply(&ctx, to_host)
}

/// Looks up the port's VLAN, decides with `rule` on the tag the kernel holds for the frame, and carries it out.
#[inline(always)]
fn apply(ctx: &TcContext, rule: impl Fn(u16, Option<VlanTag>) -> PortAction) -> i32 {
    let skb = ctx.skb.skb;
    // Safety: `skb` is the program's context, valid for reads of these fields for the whole run.
    let (ifindex, tag) = unsafe { ((&raw const (*skb).ifindex).read(), held_tag(skb)) };
    // Safety: the value is copied out at once; nothing else writes the map while the switch runs.
    let Some(&port_vlan) = (unsafe { ACCESS_VLAN.get(ifindex) }) else {
        return TC_ACT_SHOT as i32;
    };
    let done = match rule(port_vlan, tag) {
        PortAction::Pass => true,
        // Safety: `skb` is the program's context; the helper takes the protocol in network byte order.
        PortAction::Push(vlan) => (unsafe { bpf_skb_vlan_push(skb, ETHERTYPE_VLAN.to_be(), vlan) }) == 0,
        // Safety: as above. A frame still tagged after the pop (802.1Q in 802.1Q) is not an access port's.
        PortAction::Pop => unsafe { bpf_skb_vlan_pop(skb) == 0 && held_tag(skb).is_none() },
        PortAction::Drop => false,
    };
    if done { TC_ACT_OK as i32 } else { TC_ACT_SHOT as i32 }
}

/// The tag the kernel holds for the frame in skb metadata, if any.
///
/// # Safety
/// `skb` must be the program's context.
#[inline(always)]
unsafe fn held_tag(skb: *mut __sk_buff) -> Option<VlanTag> {
    // Safety: the caller passes the context, valid for reads of these fields.
    let (present, proto, tci) = unsafe {
        (
            (&raw const (*skb).vlan_present).read(),
            (&raw const (*skb).vlan_proto).read(),
            (&raw const (*skb).vlan_tci).read(),
        )
    };
    // The kernel hands the protocol over as it holds it, in network byte order.
    (present != 0).then_some(VlanTag {
        tpid: u16::from_be(proto as u16),
        tci: tci as u16,
    })
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
