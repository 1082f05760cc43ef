//! The UDP traffic a flow run sends: the template frame and the ranges its XDP program varies.
//!
//! Sizes follow pktgen and xdp-trafficgen: `size` is the frame on the wire *including* the 4-byte FCS the
//! NIC appends, so `--size 64` hands 60 bytes to the driver and 1518 is the largest untagged frame at MTU
//! 1500. The template carries the first flow (first address and port of each range) with valid IPv4 and UDP
//! checksums; the XDP program rewrites the varied fields of each frame from there and, with
//! [`UdpFlows::timestamp`], stamps each with its send time at the start of the UDP payload.

use std::net::IpAddr;

use etherparse::PacketBuilder;
use vmknet_common::pktgen::{FieldRange, GenConfig, LAYOUT_IPV6, LAYOUT_VLAN, StampSite};
use vmknet_common::stamp::STAMP_LEN;

use super::PktgenError;

/// The FCS a NIC appends to every frame, counted in frame sizes but never in the buffer.
pub const FCS_LEN: usize = 4;
/// Largest VLAN id on the wire (4095 is reserved).
const MAX_VLAN: u16 = 4094;
const ETHERTYPE_VLAN: [u8; 2] = [0x81, 0x00];
const MAC_LEN: usize = 6;
/// IPv4 TTL / IPv6 hop limit of generated frames.
const HOP_LIMIT: u8 = 64;

/// A range of IP addresses: `first` and the `count - 1` after it (IPv6 ranges vary the low 32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpRange {
    /// The first address.
    pub first: IpAddr,
    /// How many addresses (at least 1).
    pub count: u32,
}

/// A range of UDP ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    /// The first port.
    pub first: u16,
    /// How many ports (at least 1).
    pub count: u32,
}

/// What a flow run sends: UDP over IPv4 or IPv6, optionally 802.1Q-tagged, over ranges of addresses and ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpFlows {
    /// Frame size on the wire, FCS included.
    pub size: usize,
    /// 802.1Q VLAN id carried in-band, if any.
    pub vlan: Option<u16>,
    /// Source MAC.
    pub src_mac: [u8; 6],
    /// Destination MAC.
    pub dst_mac: [u8; 6],
    /// Source addresses; the family of both ranges must agree.
    pub src_ip: IpRange,
    /// Destination addresses.
    pub dst_ip: IpRange,
    /// Source ports.
    pub src_port: PortRange,
    /// Destination ports.
    pub dst_port: PortRange,
    /// Stamp every frame with its send time ([`vmknet_common::stamp`]): the size must leave room for it.
    pub timestamp: bool,
}

impl UdpFlows {
    /// The template frame (the first flow), without FCS.
    ///
    /// # Errors
    /// [`PktgenError::Invalid`] when the parameters cannot make a frame: mixed address families, a range that
    /// runs past the last address or port, a VLAN id above 4094, a size too small for the headers (and the
    /// stamp, with [`timestamp`](Self::timestamp)).
    pub fn template(&self) -> Result<Vec<u8>, PktgenError> {
        self.check()?;
        let builder = PacketBuilder::ethernet2(self.src_mac, self.dst_mac);
        let (src_port, dst_port) = (self.src_port.first, self.dst_port.first);
        let builder = match (self.src_ip.first, self.dst_ip.first) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => builder.ipv4(src.octets(), dst.octets(), HOP_LIMIT),
            (IpAddr::V6(src), IpAddr::V6(dst)) => builder.ipv6(src.octets(), dst.octets(), HOP_LIMIT),
            _ => return Err(invalid("source and destination addresses must be of the same family")),
        }
        .udp(src_port, dst_port);
        let tag_len = if self.vlan.is_some() { 4 } else { 0 };
        let stamp_len = if self.timestamp { STAMP_LEN } else { 0 };
        let headers = builder.size(0) + tag_len;
        let payload_len = (self.size.checked_sub(FCS_LEN + headers + stamp_len)).ok_or_else(|| {
            let what = if self.timestamp {
                "its headers and a timestamp"
            } else {
                "its headers"
            };
            invalid(format!(
                "a {}-byte frame cannot hold {what}: the smallest is {} bytes (FCS included)",
                self.size,
                headers + stamp_len + FCS_LEN
            ))
        })? + stamp_len;
        let mut frame = Vec::with_capacity(self.size);
        builder
            .write(&mut frame, &vec![0; payload_len])
            .map_err(|err| invalid(format!("building the frame: {err}")))?;
        if let Some(vid) = self.vlan {
            let mut tag = ETHERTYPE_VLAN.to_vec();
            tag.extend(vid.to_be_bytes());
            frame.splice(2 * MAC_LEN..2 * MAC_LEN, tag);
        }
        Ok(frame)
    }

    /// The XDP program's configuration for these flows, redirecting to `ifindex`.
    pub fn config(&self, ifindex: u32) -> GenConfig {
        let ipv6 = self.src_ip.first.is_ipv6();
        let layout = if self.vlan.is_some() { LAYOUT_VLAN } else { 0 } | if ipv6 { LAYOUT_IPV6 } else { 0 };
        GenConfig {
            ifindex,
            layout,
            src_ip: FieldRange::new(low32(self.src_ip.first), self.src_ip.count),
            dst_ip: FieldRange::new(low32(self.dst_ip.first), self.dst_ip.count),
            src_port: FieldRange::new(u32::from(self.src_port.first), self.src_port.count),
            dst_port: FieldRange::new(u32::from(self.dst_port.first), self.dst_port.count),
            n_templates: 0,
            stamp: if self.timestamp {
                StampSite::udp(layout)
            } else {
                StampSite::NONE
            },
        }
    }

    /// How many distinct flows.
    pub fn flows(&self) -> u64 {
        self.config(0).flows()
    }

    fn check(&self) -> Result<(), PktgenError> {
        if let Some(vid) = self.vlan
            && vid > MAX_VLAN
        {
            return Err(invalid(format!("VLAN {vid}: use 0 to {MAX_VLAN}")));
        }
        for (name, range) in [("source", self.src_ip), ("destination", self.dst_ip)] {
            if range.count == 0 || u64::from(low32(range.first)) + u64::from(range.count) - 1 > u64::from(u32::MAX) {
                return Err(invalid(format!(
                    "{name} addresses: {} from {} runs past the end of the {}",
                    range.count,
                    range.first,
                    if range.first.is_ipv6() {
                        "low 32 bits"
                    } else {
                        "address space"
                    }
                )));
            }
        }
        for (name, range) in [("source", self.src_port), ("destination", self.dst_port)] {
            if range.count == 0 || u32::from(range.first) + range.count - 1 > u32::from(u16::MAX) {
                return Err(invalid(format!(
                    "{name} ports: {} from {} runs past port 65535",
                    range.count, range.first
                )));
            }
        }
        Ok(())
    }
}

/// An IPv4 address, or the low 32 bits of an IPv6 address, as a number.
fn low32(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => v6.to_bits() as u32,
    }
}

fn invalid(why: impl Into<String>) -> PktgenError {
    PktgenError::Invalid(why.into())
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    use super::*;

    fn flows(src: IpAddr, dst: IpAddr, vlan: Option<u16>, size: usize) -> UdpFlows {
        UdpFlows {
            size,
            vlan,
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: IpRange { first: src, count: 4 },
            dst_ip: IpRange { first: dst, count: 1 },
            src_port: PortRange { first: 1024, count: 8 },
            dst_port: PortRange { first: 3260, count: 1 },
            timestamp: false,
        }
    }

    #[test]
    fn templates_have_the_size_tag_and_first_flow() {
        let v4 = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let v6 = (
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 2)),
        );
        for (src, dst) in [v4, v6] {
            for vlan in [None, Some(20)] {
                for size in [70, 128, 1518] {
                    let spec = flows(src, dst, vlan, size);
                    let frame = spec.template().expect("valid");
                    assert_eq!(frame.len() + FCS_LEN, size);
                    let packet = SlicedPacket::from_ethernet(&frame).expect("parses");
                    assert_eq!(packet.vlan_ids().first().map(|v| v.value()), vlan);
                    let Some(TransportSlice::Udp(udp)) = packet.transport else {
                        panic!("not UDP")
                    };
                    assert_eq!((udp.source_port(), udp.destination_port()), (1024, 3260));
                    let ip_ok = match packet.net {
                        Some(NetSlice::Ipv4(ip)) => {
                            let header = ip.header().to_header();
                            header.header_checksum == header.calc_header_checksum()
                                && udp.to_header().calc_checksum_ipv4(&header, udp.payload()).ok()
                                    == Some(udp.checksum())
                        }
                        Some(NetSlice::Ipv6(ip)) => {
                            let header = ip.header().to_header();
                            udp.to_header().calc_checksum_ipv6(&header, udp.payload()).ok() == Some(udp.checksum())
                        }
                        _ => false,
                    };
                    assert!(ip_ok, "{src} {vlan:?} {size}: bad checksum");
                    assert_eq!(spec.flows(), 32);
                }
            }
        }
    }

    #[test]
    fn impossible_parameters_are_refused_with_the_reason() {
        let (src, dst) = (
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        );
        let error = |spec: UdpFlows| spec.template().expect_err("invalid").to_string();
        assert!(error(flows(src, dst, None, 45)).contains("smallest is 46 bytes"));
        let stamped = |size| UdpFlows {
            timestamp: true,
            ..flows(src, dst, Some(20), size)
        };
        assert!(
            stamped(64).template().is_ok(),
            "a tagged 64-byte IPv4 frame holds a stamp"
        );
        assert!(error(stamped(61)).contains("cannot hold its headers and a timestamp: the smallest is 62 bytes"));
        let stamped_v6 = UdpFlows {
            timestamp: true,
            ..flows(
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
                None,
                77,
            )
        };
        assert!(error(stamped_v6).contains("smallest is 78 bytes"));
        assert!(error(flows(src, dst, Some(4095), 64)).contains("VLAN 4095"));
        assert!(error(flows(src, IpAddr::V6(Ipv6Addr::LOCALHOST), None, 64)).contains("same family"));
        let mut ports = flows(src, dst, None, 64);
        ports.src_port = PortRange { first: 65535, count: 2 };
        assert!(error(ports).contains("past port 65535"));
        let mut addresses = flows(src, dst, None, 64);
        addresses.dst_ip = IpRange {
            first: IpAddr::V4(Ipv4Addr::BROADCAST),
            count: 2,
        };
        assert!(error(addresses).contains("destination addresses"));
    }
}
