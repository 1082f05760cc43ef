//! The steering tables compiled from the host model: the userspace twin of the XDP program's maps.
//!
//! The same entries fill the BPF maps and these tables, and both are read by the same
//! [`vmknet_common::classify`], so the kernel and userspace steer every frame alike. The lookup every frame
//! makes, (VLAN, MAC), goes through a small open-addressing index: one probe for almost every frame, and no
//! branch whose outcome depends on which adapter the frame is for (a binary search mispredicts on mixed
//! traffic). The rare lookups (broadcast ARP, solicitations) are binary searches over sorted packed keys.

use vmknet_common::keys::solicited_node;
use vmknet_common::{Ipv4Key, Ipv6Key, MacKey, SteerTarget, SteeringTables};

use crate::model::HostModel;

/// The steering entries of a host.
#[derive(Clone, Debug, Default)]
pub struct SteeringMaps {
    by_mac: Vec<(u64, SteerTarget)>,
    mac_index: MacIndex,
    by_arp_target: Vec<(u64, SteerTarget)>,
    by_ipv6_group: Vec<((u16, u128), SteerTarget)>,
    vmk_macs: Vec<u64>,
}

fn pack_mac(mac: [u8; 6]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes[2..].copy_from_slice(&mac);
    u64::from_be_bytes(bytes)
}

fn pack_vlan_mac(key: &MacKey) -> u64 {
    (u64::from(key.vlan) << 48) | pack_mac(key.mac)
}

fn pack_vlan_ipv4(key: &Ipv4Key) -> u64 {
    (u64::from(key.vlan) << 32) | u64::from(u32::from_be_bytes(key.addr))
}

/// Open addressing with linear probing over packed (VLAN, MAC) keys, at most half full so every probe
/// sequence reaches an empty slot. Key 0 marks an empty slot: it would be the zero MAC, which the model refuses.
///
/// The hash multiplies by an odd constant; the build tries a few and keeps the one that leaves the fewest
/// keys away from their home slot, so a lookup is one probe (and no mispredicted loop) for almost every frame.
#[derive(Clone, Debug, Default)]
struct MacIndex {
    slots: Box<[(u64, SteerTarget)]>,
    multiplier: u64,
}

const EMPTY_TARGET: SteerTarget = SteerTarget { netstack: 0, vmk: 0 };

/// How many multipliers the build tries.
const MULTIPLIERS: u64 = 16;

impl MacIndex {
    fn build(entries: &[(u64, SteerTarget)]) -> Self {
        let capacity = (entries.len() * 2).next_power_of_two().max(8);
        (0..MULTIPLIERS)
            .map(|k| {
                // Odd, as every product of odd numbers: a bijection on 64-bit keys.
                let multiplier = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(2 * k + 1);
                Self::place(entries, capacity, multiplier)
            })
            .min_by_key(|&(_, displaced)| displaced)
            .map_or_else(Self::default, |(index, _)| index)
    }

    /// The index of `entries` with `multiplier`, and how many probes past their home slot its keys need.
    fn place(entries: &[(u64, SteerTarget)], capacity: usize, multiplier: u64) -> (Self, usize) {
        let mut index = Self {
            slots: vec![(0, EMPTY_TARGET); capacity].into_boxed_slice(),
            multiplier,
        };
        let mut displaced = 0;
        for &(key, target) in entries {
            let mut i = index.home(key);
            while index.slots[i].0 != 0 {
                i = (i + 1) & (capacity - 1);
                displaced += 1;
            }
            index.slots[i] = (key, target);
        }
        (index, displaced)
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(self.multiplier) >> 32) as usize & (self.slots.len() - 1)
    }

    #[inline]
    fn get(&self, key: u64) -> Option<SteerTarget> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let (k, target) = self.slots[i];
            if k == key {
                return Some(target);
            }
            if k == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
}

fn lookup<K: Ord, V: Copy>(table: &[(K, V)], key: &K) -> Option<V> {
    table.binary_search_by(|(k, _)| k.cmp(key)).ok().map(|i| table[i].1)
}

impl SteeringMaps {
    /// Compiles the entries of `model`: each enabled vmk's MAC on its VLAN, its IPv4 address for broadcast
    /// ARP, and the solicited-node group of each IPv6 address. Disabled adapters receive nothing.
    pub fn compile(model: &HostModel) -> Self {
        let mut maps = Self::default();
        for vmk in model.vmks.iter().filter(|v| v.enabled) {
            let target = SteerTarget {
                netstack: vmk.netstack.0,
                vmk: vmk.id.0,
            };
            maps.by_mac
                .push((pack_vlan_mac(&MacKey::new(vmk.vlan, vmk.mac.0)), target));
            maps.vmk_macs.push(pack_mac(vmk.mac.0));
            if let Some(cidr) = vmk.ipv4_cidr() {
                maps.by_arp_target
                    .push((pack_vlan_ipv4(&Ipv4Key::new(vmk.vlan, cidr.addr.octets())), target));
            }
            for cidr in &vmk.ipv6.addresses {
                let group = u128::from_be_bytes(solicited_node(cidr.addr.octets()));
                maps.by_ipv6_group.push(((vmk.vlan, group), target));
            }
        }
        maps.by_mac.sort_unstable_by_key(|e| e.0);
        maps.mac_index = MacIndex::build(&maps.by_mac);
        maps.by_arp_target.sort_unstable_by_key(|e| e.0);
        // Two adapters whose addresses share the low 24 bits on one VLAN share a group: the first one listed
        // receives the solicitations and answers for whichever address is the target.
        maps.by_ipv6_group.sort_by_key(|e| e.0);
        maps.by_ipv6_group.dedup_by_key(|e| e.0);
        maps.vmk_macs.sort_unstable();
        maps
    }

    /// The (VLAN, MAC) entries, for the XDP map.
    pub fn mac_entries(&self) -> impl Iterator<Item = (MacKey, SteerTarget)> + '_ {
        self.by_mac.iter().map(|&(k, t)| {
            let bytes = k.to_be_bytes();
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&bytes[2..]);
            (MacKey::new((k >> 48) as u16, mac), t)
        })
    }

    /// The (VLAN, IPv4) entries for broadcast ARP, for the XDP map.
    pub fn arp_entries(&self) -> impl Iterator<Item = (Ipv4Key, SteerTarget)> + '_ {
        self.by_arp_target
            .iter()
            .map(|&(k, t)| (Ipv4Key::new((k >> 32) as u16, (k as u32).to_be_bytes()), t))
    }

    /// The (VLAN, solicited-node group) entries, for the XDP map.
    pub fn ipv6_group_entries(&self) -> impl Iterator<Item = (Ipv6Key, SteerTarget)> + '_ {
        self.by_ipv6_group
            .iter()
            .map(|&((vlan, group), t)| (Ipv6Key::new(vlan, group.to_be_bytes()), t))
    }
}

impl SteeringTables for SteeringMaps {
    #[inline]
    fn by_mac(&self, key: &MacKey) -> Option<SteerTarget> {
        self.mac_index.get(pack_vlan_mac(key))
    }

    #[inline]
    fn by_arp_target(&self, key: &Ipv4Key) -> Option<SteerTarget> {
        lookup(&self.by_arp_target, &pack_vlan_ipv4(key))
    }

    #[inline]
    fn by_ipv6_group(&self, key: &Ipv6Key) -> Option<SteerTarget> {
        lookup(&self.by_ipv6_group, &(key.vlan, u128::from_be_bytes(key.addr)))
    }

    #[inline]
    fn is_vmk_mac(&self, mac: &[u8; 6]) -> bool {
        self.vmk_macs.binary_search(&pack_mac(*mac)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_host_entries_round_trip() {
        let model = HostModel::embedded_default();
        let maps = SteeringMaps::compile(&model);
        assert_eq!(maps.mac_entries().count(), model.vmks.len());
        for (key, target) in maps.mac_entries() {
            assert_eq!(maps.by_mac(&key), Some(target));
            let vmk = &model.vmks[target.vmk as usize];
            assert_eq!((key.vlan, key.mac), (vmk.vlan, vmk.mac.0));
            assert!(maps.is_vmk_mac(&key.mac));
        }
        for (key, target) in maps.arp_entries() {
            assert_eq!(maps.by_arp_target(&key), Some(target));
        }
        assert_eq!(maps.ipv6_group_entries().count(), 3);
        for (key, target) in maps.ipv6_group_entries() {
            assert_eq!(maps.by_ipv6_group(&key), Some(target));
        }
    }

    #[test]
    fn mac_index_finds_every_entry_and_nothing_else() {
        let entries: Vec<(u64, SteerTarget)> = (1..200u64)
            .map(|i| {
                (
                    i * 0x1_0000_0001,
                    SteerTarget {
                        netstack: 0,
                        vmk: i as u32,
                    },
                )
            })
            .collect();
        let index = MacIndex::build(&entries);
        for &(key, target) in &entries {
            assert_eq!(index.get(key), Some(target));
        }
        assert_eq!(index.get(0x1234_5678), None);
        assert_eq!(MacIndex::default().get(1), None);
    }

    #[test]
    fn default_host_macs_sit_in_their_home_slots() {
        let maps = SteeringMaps::compile(&HostModel::embedded_default());
        let index = &maps.mac_index;
        for &(key, _) in &maps.by_mac {
            assert_eq!(index.slots[index.home(key)].0, key, "{key:#x} is displaced");
        }
    }

    #[test]
    fn vlan_is_part_of_the_key() {
        let model = HostModel::embedded_default();
        let maps = SteeringMaps::compile(&model);
        let vmk1 = model.vmk_by_name("vmk1").unwrap();
        assert!(maps.by_mac(&MacKey::new(20, vmk1.mac.0)).is_some());
        assert!(maps.by_mac(&MacKey::new(10, vmk1.mac.0)).is_none());
        assert!(maps.by_arp_target(&Ipv4Key::new(10, [10, 20, 20, 11])).is_none());
    }
}
