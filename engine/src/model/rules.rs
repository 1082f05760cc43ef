//! The VMkernel rules a host configuration is checked against, each with its source.
//!
//! Section numbers refer to the project's fact sheet (`shared/vmkernel.md`), which cites the VMware
//! documentation behind each rule. Rules marked "model" are modelling choices the fact sheet flags as
//! unverified; they are documented in the README.

use serde::Serialize;

/// A rule of the host model. [`Rule::id`] is stable and used in messages and JSON output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The file must be valid TOML of the documented schema.
    Syntax,
    /// A host needs at least one uplink.
    UplinkRequired,
    /// Netstack keys are unique.
    NetstackUnique,
    /// Custom netstack names are identifiers.
    NetstackName,
    /// A netstack's maximum number of connections is positive.
    MaxConnections,
    /// An adapter names a netstack that exists.
    NetstackExists,
    /// Adapter names are `vmkN`.
    VmkName,
    /// Adapter names are unique.
    VmkUnique,
    /// MACs are unicast, non-zero addresses.
    MacUnicast,
    /// MACs are unique on the host.
    MacUnique,
    /// VLAN 0–4094; 4095 is a trunk (VGT), not an adapter's VLAN.
    VlanRange,
    /// MTU 1280–9000.
    MtuRange,
    /// Addresses and prefixes must parse.
    AddressSyntax,
    /// An interface address is a usable host address.
    HostAddress,
    /// An IP address is unique within its netstack.
    AddressUniqueInNetstack,
    /// A gateway lies inside a connected subnet.
    GatewayInSubnet,
    /// A static route's gateway is reachable on its netstack and of the same family.
    RouteGateway,
    /// Service tags use the esxcli spelling.
    TagKnown,
    /// vMotion-stack adapters carry only vMotion.
    VmotionStackOnlyVmotion,
    /// Provisioning-stack adapters carry only provisioning.
    ProvisioningStackOnlyProvisioning,
    /// Management, FT, vSAN, backup NFC, NVMe and PTP only on the default stack.
    DefaultStackOnly,
    /// Only one FT-logging adapter per host.
    SingleFtLogging,
    /// An adapter's netstack is fixed at creation.
    NetstackFixedAtCreation,
    /// Dedicate an adapter to one traffic type (advice).
    OneServicePerAdapter,
    /// The vMotion stack exists to use a different gateway (advice).
    VmotionOwnGateway,
    /// A service tag moved to its own stack is disabled on default-stack adapters.
    ServiceMovedToOwnStack,
    /// vSAN adapters share one MTU (advice).
    VsanUniformMtu,
}

impl Rule {
    /// Stable identifier.
    pub const fn id(self) -> &'static str {
        match self {
            Self::Syntax => "syntax",
            Self::UplinkRequired => "uplink-required",
            Self::NetstackUnique => "netstack-unique",
            Self::NetstackName => "netstack-name",
            Self::MaxConnections => "max-connections",
            Self::NetstackExists => "netstack-exists",
            Self::VmkName => "vmk-name",
            Self::VmkUnique => "vmk-unique",
            Self::MacUnicast => "mac-unicast",
            Self::MacUnique => "mac-unique",
            Self::VlanRange => "vlan-range",
            Self::MtuRange => "mtu-range",
            Self::AddressSyntax => "address-syntax",
            Self::HostAddress => "host-address",
            Self::AddressUniqueInNetstack => "address-unique-in-netstack",
            Self::GatewayInSubnet => "gateway-in-subnet",
            Self::RouteGateway => "route-gateway",
            Self::TagKnown => "tag-known",
            Self::VmotionStackOnlyVmotion => "vmotion-stack-only-vmotion",
            Self::ProvisioningStackOnlyProvisioning => "provisioning-stack-only-provisioning",
            Self::DefaultStackOnly => "default-stack-only",
            Self::SingleFtLogging => "single-ft-logging",
            Self::NetstackFixedAtCreation => "netstack-fixed-at-creation",
            Self::OneServicePerAdapter => "one-service-per-adapter",
            Self::VmotionOwnGateway => "vmotion-own-gateway",
            Self::ServiceMovedToOwnStack => "service-moved-to-own-stack",
            Self::VsanUniformMtu => "vsan-uniform-mtu",
        }
    }

    /// The rule in words, with its fact-sheet section.
    pub const fn text(self) -> &'static str {
        match self {
            Self::Syntax => "the host file is TOML with the fields documented in the README",
            Self::UplinkRequired => "a host has at least one uplink (physical NIC) to carry VMkernel traffic",
            Self::NetstackUnique => "each TCP/IP stack key is defined once (§1.1)",
            Self::NetstackName => {
                "a custom stack name is 1-64 letters, digits, '-' or '_' (esxcli network ip netstack add -N)"
            }
            Self::MaxConnections => "requestedMaxNumberOfConnections is a positive integer (§1.2)",
            Self::NetstackExists => "an adapter is bound to an existing TCP/IP stack (§1.3 rule 9)",
            Self::VmkName => "VMkernel adapters are named vmkN (§2)",
            Self::VmkUnique => "each VMkernel adapter name is used once (§2)",
            Self::MacUnicast => "an adapter's MAC is a non-zero unicast address (§2.1)",
            Self::MacUnique => "each adapter has its own MAC (§2.1)",
            Self::VlanRange => {
                "an adapter's VLAN is 0 (untagged) to 4094; 4095 is virtual guest tagging, reserved by 802.1Q (§2.2)"
            }
            Self::MtuRange => "a vmk MTU is 1280 to 9000 bytes (§2.1)",
            Self::AddressSyntax => "addresses are written address/prefix-length",
            Self::HostAddress => {
                "an interface address is a unicast host address, not the network, broadcast, loopback or multicast address"
            }
            Self::AddressUniqueInNetstack => {
                "an IP address is used once per TCP/IP stack; separate stacks are separate routing domains (§1.1)"
            }
            Self::GatewayInSubnet => {
                "a gateway must be inside a subnet connected to its stack or adapter (§1.3 rules 6-7)"
            }
            Self::RouteGateway => "a static route's gateway is reachable through its own stack (§1.3 rule 10)",
            Self::TagKnown => "service tags are spelt as esxcli network ip interface tag add takes them (§2.3)",
            Self::VmotionStackOnlyVmotion => "vMotion-stack adapters carry only vMotion (§1.3 rule 4)",
            Self::ProvisioningStackOnlyProvisioning => {
                "provisioning-stack adapters carry only provisioning (§1.3 rule 4)"
            }
            Self::DefaultStackOnly => {
                "services other than vMotion, provisioning and replication can only be enabled on default-stack adapters (§1.3 rule 4)"
            }
            Self::SingleFtLogging => "only one FT-logging adapter per host (§2.1)",
            Self::NetstackFixedAtCreation => {
                "once set, an adapter's TCP/IP stack cannot be changed; remove the adapter and create it again (§1.3 rule 3)"
            }
            Self::OneServicePerAdapter => "dedicate a VMkernel adapter to only one traffic type (§2.1)",
            Self::VmotionOwnGateway => {
                "the vMotion stack exists to use a gateway different from the default stack's (§1.3 rule 5)"
            }
            Self::ServiceMovedToOwnStack => {
                "once an adapter exists on the vMotion (provisioning) stack, default-stack adapters are disabled for vMotion (provisioning) (§1.3 rules 1-2)"
            }
            Self::VsanUniformMtu => "all vSAN adapters use the same MTU (§5 rule 5)",
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}
