//! Everything the pipeline reads per frame, compiled once from a [`HostModel`] snapshot.
//!
//! A reload compiles a new [`HostTables`] and swaps it in between batches; the pipeline never sees a table
//! half-built. Each vmk gets a compact record (netstack, MTU, which services it may carry); each netstack
//! its list of local addresses.

use std::sync::Arc;

use super::policy::Policy;
use super::service::{PortTable, Requirement, Service};
use super::steering::SteeringMaps;
use crate::model::{HostModel, NetstackId, ServiceTag, VmkId};

/// A set of services as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServiceSet(u32);

impl ServiceSet {
    /// Adds `service`.
    pub fn insert(&mut self, service: Service) {
        self.0 |= 1 << service as u32;
    }

    /// Whether `service` is in the set.
    #[inline]
    pub const fn contains(self, service: Service) -> bool {
        self.0 & (1 << service as u32) != 0
    }
}

/// What the pipeline knows of one vmk.
#[derive(Clone, Debug)]
pub struct VmkRecord {
    /// Its netstack.
    pub netstack: NetstackId,
    /// MTU: the largest IP packet it accepts.
    pub mtu: u16,
    /// Services it carries.
    pub allowed: ServiceSet,
    /// The isolation policy: the verdict for each port class, from the services it carries and those it is
    /// tagged for but which moved to their own stack (vMotion, provisioning).
    pub policy: Policy,
    /// Its own static IPv4 address: most frames are for it, so it is checked before the netstack's list.
    pub ipv4: Option<u32>,
    /// Its IPv4 subnet's directed broadcast, if it has a static address.
    pub ipv4_broadcast: Option<u32>,
    /// Its MAC: the source of every reply it sends.
    pub mac: [u8; 6],
    /// Its IPv6 addresses (the targets of the neighbour solicitations it answers).
    pub ipv6: Vec<u128>,
}

/// The addresses of one netstack.
#[derive(Clone, Debug, Default)]
pub struct NetstackAddresses {
    /// IPv4 addresses of its vmks.
    pub ipv4: Vec<u32>,
    /// IPv6 addresses of its vmks.
    pub ipv6: Vec<u128>,
}

/// The pipeline's view of a host.
#[derive(Debug)]
pub struct HostTables {
    /// The snapshot these tables were compiled from.
    pub model: Arc<HostModel>,
    /// Steering (shared logic with the XDP program).
    pub steering: SteeringMaps,
    /// Per vmk, indexed by [`VmkId`].
    pub vmks: Vec<VmkRecord>,
    /// Per netstack, indexed by [`NetstackId`].
    pub netstacks: Vec<NetstackAddresses>,
    /// Port demultiplexing.
    pub ports: PortTable,
}

impl HostTables {
    /// Compiles the tables of `model`.
    pub fn compile(model: Arc<HostModel>) -> Self {
        let mut netstacks = vec![NetstackAddresses::default(); model.netstacks.len()];
        let mut vmks = Vec::with_capacity(model.vmks.len());
        for vmk in &model.vmks {
            let stack = &mut netstacks[vmk.netstack.index()];
            if let Some(cidr) = vmk.ipv4_cidr() {
                stack.ipv4.push(u32::from(cidr.addr));
            }
            stack.ipv6.extend(vmk.ipv6.addresses.iter().map(|c| u128::from(c.addr)));
            let mut allowed = ServiceSet::default();
            let mut moved = ServiceSet::default();
            for service in Service::ALL {
                let carries = match service.requirement() {
                    Requirement::Tag(tag) => {
                        if vmk.is_tagged(tag) && !vmk.has_service(tag) {
                            moved.insert(service);
                        }
                        vmk.has_service(tag)
                    }
                    Requirement::Vsan => vmk.has_service(ServiceTag::Vsan) || vmk.has_service(ServiceTag::VsanWitness),
                    Requirement::IpStorage => model.carries_ip_storage(vmk),
                    Requirement::None => true,
                };
                if carries {
                    allowed.insert(service);
                }
            }
            vmks.push(VmkRecord {
                netstack: vmk.netstack,
                mtu: vmk.mtu,
                allowed,
                policy: Policy::compile(allowed, moved),
                ipv4: vmk.ipv4_cidr().map(|c| u32::from(c.addr)),
                ipv4_broadcast: vmk.ipv4_cidr().map(|c| u32::from(c.broadcast())),
                mac: vmk.mac.0,
                ipv6: vmk.ipv6.addresses.iter().map(|c| u128::from(c.addr)).collect(),
            });
        }
        Self {
            steering: SteeringMaps::compile(&model),
            vmks,
            netstacks,
            ports: PortTable::new(),
            model,
        }
    }

    /// The record of `vmk`.
    #[inline]
    pub fn vmk(&self, vmk: VmkId) -> Option<&VmkRecord> {
        self.vmks.get(vmk.index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_host_services() {
        let tables = HostTables::compile(Arc::new(HostModel::embedded_default()));
        let vmk = |name: &str| &tables.vmks[tables.model.vmk_by_name(name).unwrap().id.index()];
        assert!(vmk("vmk0").allowed.contains(Service::Management));
        assert!(!vmk("vmk0").allowed.contains(Service::Vmotion));
        assert!(vmk("vmk1").allowed.contains(Service::Vmotion));
        assert!(
            !vmk("vmk1").allowed.contains(Service::Iscsi),
            "IP storage stays on the default stack"
        );
        assert!(vmk("vmk2").allowed.contains(Service::Iscsi));
        assert!(vmk("vmk8").allowed.contains(Service::Vsan));
        assert!(vmk("vmk6").allowed.contains(Service::ReplicationNfc));
        assert!(vmk("vmk5").allowed.contains(Service::Icmp));
        assert_eq!(tables.netstacks[0].ipv4.len(), 6);
    }
}
