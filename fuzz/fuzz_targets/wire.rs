//! Every wire view on arbitrary bytes, layer by layer as the pipeline walks a frame: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vmknet::wire::{
    ArpPacket, EthernetFrame, Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, NeighborMessage, TcpPacket,
    UdpPacket, ip_proto,
};

fn transport(protocol: u8, segment: &[u8]) {
    match protocol {
        ip_proto::TCP => {
            if let Ok(tcp) = TcpPacket::new_checked(segment) {
                let _ = (tcp.src_port(), tcp.dst_port(), tcp.header_len(), tcp.options(), tcp.payload());
            }
        }
        ip_proto::UDP => {
            if let Ok(udp) = UdpPacket::new_checked(segment) {
                let _ = (udp.src_port(), udp.dst_port(), udp.len(), udp.payload());
            }
        }
        ip_proto::ICMP => {
            if let Ok(icmp) = Icmpv4Packet::new_checked(segment) {
                let _ = (icmp.msg_type(), icmp.echo_ident(), icmp.verify_checksum(), icmp.payload());
            }
        }
        ip_proto::ICMPV6 => {
            if let Ok(icmp) = Icmpv6Packet::new_checked(segment) {
                let _ = (icmp.msg_type(), icmp.payload());
            }
            if let Ok(nd) = NeighborMessage::new_checked(segment) {
                let _ = (nd.kind(), nd.target_addr(), nd.source_link_addr(), nd.target_link_addr());
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(eth) = EthernetFrame::new_checked(data) else { return };
    let payload = eth.payload();
    let _ = (eth.vlan_id(), eth.pcp(), eth.dst_addr());
    if let Ok(arp) = ArpPacket::new_checked(payload) {
        let _ = (arp.operation(), arp.sender_proto_addr(), arp.target_proto_addr());
    }
    if let Ok(ip) = Ipv4Packet::new_checked(payload) {
        let _ = (ip.verify_checksum(), ip.frag_offset(), ip.options());
        transport(ip.protocol(), ip.payload());
    }
    if let Ok(ip) = Ipv6Packet::new_checked(payload) {
        if let Ok(upper) = ip.upper_layer() {
            transport(upper.protocol, upper.payload);
        }
    }
});
