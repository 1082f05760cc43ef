//! Value types of the host model: MAC addresses, IP prefixes, netstack keys, service tags.
//!
//! Each type parses from the spelling an operator writes (and esxcli prints) and displays back the same way.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

/// An Ethernet MAC address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Whether the group bit is set (multicast or broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Whether all bytes are zero.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 6]
    }
}

impl FromStr for MacAddr {
    type Err = ();

    /// Parses `00:50:56:aa:bb:cc` (also with `-` separators).
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut bytes = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for byte in &mut bytes {
            let part = parts.next().ok_or(())?;
            if part.len() != 2 {
                return Err(());
            }
            *byte = u8::from_str_radix(part, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(Self(bytes))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An address with a prefix length, e.g. `10.10.10.11/24` or `fd00:10::11/64`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpCidr<A> {
    /// The address (a host address for an interface, a network for a route).
    pub addr: A,
    /// Prefix length in bits.
    pub prefix_len: u8,
}

/// An IPv4 address with prefix length.
pub type Ipv4Cidr = IpCidr<Ipv4Addr>;
/// An IPv6 address with prefix length.
pub type Ipv6Cidr = IpCidr<Ipv6Addr>;

/// Why a `addr/len` string did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CidrError {
    /// The address part is not an address of this family.
    Address,
    /// The prefix length is missing or out of range.
    PrefixLength,
}

impl Ipv4Cidr {
    /// The netmask, e.g. `255.255.255.0` for /24.
    pub fn netmask(&self) -> Ipv4Addr {
        Ipv4Addr::from(prefix_mask_v4(self.prefix_len))
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & prefix_mask_v4(self.prefix_len))
    }

    /// The directed broadcast address.
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !prefix_mask_v4(self.prefix_len))
    }

    /// Whether `ip` is inside this prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask_v4(self.prefix_len);
        u32::from(ip) & mask == u32::from(self.addr) & mask
    }
}

impl Ipv6Cidr {
    /// The network address.
    pub fn network(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.addr) & prefix_mask_v6(self.prefix_len))
    }

    /// Whether `ip` is inside this prefix.
    pub fn contains(&self, ip: Ipv6Addr) -> bool {
        let mask = prefix_mask_v6(self.prefix_len);
        u128::from(ip) & mask == u128::from(self.addr) & mask
    }
}

fn prefix_mask_v4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0)
}

fn prefix_mask_v6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0)
}

fn parse_cidr<A: FromStr>(s: &str, max_len: u8) -> Result<IpCidr<A>, CidrError> {
    let (addr, len) = s.split_once('/').ok_or(CidrError::PrefixLength)?;
    let addr = addr.parse().map_err(|_| CidrError::Address)?;
    let prefix_len: u8 = len.parse().map_err(|_| CidrError::PrefixLength)?;
    if prefix_len > max_len {
        return Err(CidrError::PrefixLength);
    }
    Ok(IpCidr { addr, prefix_len })
}

impl FromStr for Ipv4Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        parse_cidr(s, 32)
    }
}

impl FromStr for Ipv6Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        parse_cidr(s, 128)
    }
}

impl<A: fmt::Display> fmt::Display for IpCidr<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl<A: fmt::Display> Serialize for IpCidr<A> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A route destination of either family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum IpNetwork {
    /// An IPv4 prefix.
    V4(Ipv4Cidr),
    /// An IPv6 prefix.
    V6(Ipv6Cidr),
}

impl FromStr for IpNetwork {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        if s.contains(':') {
            s.parse().map(Self::V6)
        } else {
            s.parse().map(Self::V4)
        }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::V4(c) => c.fmt(f),
            Self::V6(c) => c.fmt(f),
        }
    }
}

impl IpNetwork {
    /// Whether `gateway` has the same address family.
    pub fn same_family(&self, gateway: IpAddr) -> bool {
        matches!(
            (self, gateway),
            (Self::V4(_), IpAddr::V4(_)) | (Self::V6(_), IpAddr::V6(_))
        )
    }
}

/// The key of a TCP/IP stack instance (`HostNetStackInstanceSystemStackKey` or a custom name).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NetstackKey {
    /// `defaultTcpipStack`: management and, unless moved, every other service.
    Default,
    /// `vmotion`: live migration only.
    Vmotion,
    /// `vSphereProvisioning`: NFC traffic (cold migration, cloning, snapshots).
    Provisioning,
    /// A stack created with `esxcli network ip netstack add -N <name>`.
    Custom(String),
}

impl NetstackKey {
    /// The key as esxcli and the API spell it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Default => "defaultTcpipStack",
            Self::Vmotion => "vmotion",
            Self::Provisioning => "vSphereProvisioning",
            Self::Custom(name) => name,
        }
    }

    /// Maps a spelling to a key; anything but the three system keys is a custom stack.
    pub fn from_key(key: &str) -> Self {
        match key {
            "defaultTcpipStack" => Self::Default,
            "vmotion" => Self::Vmotion,
            "vSphereProvisioning" => Self::Provisioning,
            other => Self::Custom(other.to_owned()),
        }
    }

    /// Whether this is one of the stacks ESXi creates itself.
    pub const fn is_system(&self) -> bool {
        !matches!(self, Self::Custom(_))
    }
}

impl fmt::Display for NetstackKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for NetstackKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// TCP congestion control of a stack (`CongestionControlAlgorithmType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CongestionControl {
    /// NewReno, the API default.
    #[default]
    Newreno,
    /// CUBIC.
    Cubic,
}

impl fmt::Display for CongestionControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Newreno => "newreno",
            Self::Cubic => "cubic",
        })
    }
}

/// A VMkernel service tag (`HostVirtualNicManagerNicType`), spelt as `esxcli network ip interface tag add`
/// takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceTag {
    /// `Management`.
    Management,
    /// `VMotion`.
    Vmotion,
    /// `faultToleranceLogging`.
    FaultToleranceLogging,
    /// `vSphereReplication`.
    VsphereReplication,
    /// `vSphereReplicationNFC`.
    VsphereReplicationNfc,
    /// `VSAN`.
    Vsan,
    /// `VSANWitness`.
    VsanWitness,
    /// `vSphereProvisioning`.
    VsphereProvisioning,
    /// `vSphereBackupNFC`.
    VsphereBackupNfc,
    /// `NVMeTCP`.
    NvmeTcp,
    /// `NVMeRDMA`.
    NvmeRdma,
    /// `PrecisionTimeProtocol`.
    PrecisionTimeProtocol,
}

impl ServiceTag {
    /// Every tag, in the order `show` lists them.
    pub const ALL: [ServiceTag; 12] = [
        Self::Management,
        Self::Vmotion,
        Self::FaultToleranceLogging,
        Self::VsphereReplication,
        Self::VsphereReplicationNfc,
        Self::Vsan,
        Self::VsanWitness,
        Self::VsphereProvisioning,
        Self::VsphereBackupNfc,
        Self::NvmeTcp,
        Self::NvmeRdma,
        Self::PrecisionTimeProtocol,
    ];

    /// The esxcli spelling (case-sensitive).
    pub const fn esxcli_name(self) -> &'static str {
        match self {
            Self::Management => "Management",
            Self::Vmotion => "VMotion",
            Self::FaultToleranceLogging => "faultToleranceLogging",
            Self::VsphereReplication => "vSphereReplication",
            Self::VsphereReplicationNfc => "vSphereReplicationNFC",
            Self::Vsan => "VSAN",
            Self::VsanWitness => "VSANWitness",
            Self::VsphereProvisioning => "vSphereProvisioning",
            Self::VsphereBackupNfc => "vSphereBackupNFC",
            Self::NvmeTcp => "NVMeTCP",
            Self::NvmeRdma => "NVMeRDMA",
            Self::PrecisionTimeProtocol => "PrecisionTimeProtocol",
        }
    }

    /// The API `nicType` name.
    pub const fn nic_type(self) -> &'static str {
        match self {
            Self::Management => "management",
            Self::Vmotion => "vmotion",
            Self::FaultToleranceLogging => "faultToleranceLogging",
            Self::VsphereReplication => "vSphereReplication",
            Self::VsphereReplicationNfc => "vSphereReplicationNFC",
            Self::Vsan => "vsan",
            Self::VsanWitness => "vsanWitness",
            Self::VsphereProvisioning => "vSphereProvisioning",
            Self::VsphereBackupNfc => "vSphereBackupNFC",
            Self::NvmeTcp => "nvmeTcp",
            Self::NvmeRdma => "nvmeRdma",
            Self::PrecisionTimeProtocol => "ptp",
        }
    }

    /// Parses the exact esxcli spelling.
    pub fn from_esxcli(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.esxcli_name() == name)
    }

    /// A tag whose spelling differs from `name` only in case, for "did you mean" hints.
    pub fn case_insensitive_match(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.esxcli_name().eq_ignore_ascii_case(name) || t.nic_type().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for ServiceTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.esxcli_name())
    }
}

impl Serialize for ServiceTag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.esxcli_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trips_and_rejects_garbage() {
        let mac: MacAddr = "00:50:56:6A:10:0b".parse().unwrap();
        assert_eq!(mac.to_string(), "00:50:56:6a:10:0b");
        assert_eq!("00-50-56-6a-10-0b".parse::<MacAddr>(), Ok(mac));
        for bad in [
            "",
            "00:50:56:6a:10",
            "00:50:56:6a:10:0b:00",
            "0:50:56:6a:10:0b",
            "zz:50:56:6a:10:0b",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!("01:00:5e:00:00:01".parse::<MacAddr>().unwrap().is_multicast());
    }

    #[test]
    fn ipv4_cidr_arithmetic() {
        let c: Ipv4Cidr = "10.10.10.11/24".parse().unwrap();
        assert_eq!(c.netmask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(c.network(), Ipv4Addr::new(10, 10, 10, 0));
        assert_eq!(c.broadcast(), Ipv4Addr::new(10, 10, 10, 255));
        assert!(c.contains(Ipv4Addr::new(10, 10, 10, 1)));
        assert!(!c.contains(Ipv4Addr::new(10, 10, 11, 1)));
        let all: Ipv4Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!("10.0.0.1/33".parse::<Ipv4Cidr>(), Err(CidrError::PrefixLength));
        assert_eq!("10.0.0.1".parse::<Ipv4Cidr>(), Err(CidrError::PrefixLength));
        assert_eq!("10.0.0/8".parse::<Ipv4Cidr>(), Err(CidrError::Address));
    }

    #[test]
    fn ipv6_cidr_contains() {
        let c: Ipv6Cidr = "fd00:10::11/64".parse().unwrap();
        assert!(c.contains("fd00:10::1".parse().unwrap()));
        assert!(!c.contains("fd00:11::1".parse().unwrap()));
        assert_eq!(c.network(), "fd00:10::".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn tags_use_esxcli_spelling_case_sensitively() {
        for tag in ServiceTag::ALL {
            assert_eq!(ServiceTag::from_esxcli(tag.esxcli_name()), Some(tag));
        }
        assert_eq!(ServiceTag::from_esxcli("vmotion"), None);
        assert_eq!(ServiceTag::case_insensitive_match("vmotion"), Some(ServiceTag::Vmotion));
    }

    #[test]
    fn netstack_keys() {
        assert_eq!(NetstackKey::from_key("vmotion"), NetstackKey::Vmotion);
        assert_eq!(NetstackKey::from_key("replication").as_str(), "replication");
        assert!(!NetstackKey::from_key("replication").is_system());
    }
}
