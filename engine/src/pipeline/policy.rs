//! The isolation policy: what becomes of a frame of each port class on each adapter.
//!
//! The first candidate service of the class (see [`PortClass::candidates`]) that the adapter carries is
//! delivered; otherwise the frame is dropped, as moved to its own stack when the adapter is tagged for a
//! candidate that moved there (vMotion, provisioning), else as disabled. The rule is applied once per
//! (adapter, class) when the tables are compiled, so policing a frame is one load.

use vmknet_common::DropReason;

use super::service::{PortClass, Service};
use super::tables::ServiceSet;
use super::verdict::Verdict;

/// One adapter's verdict for each port class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy([Verdict; PortClass::COUNT]);

impl Policy {
    /// The policy of an adapter that carries `allowed` and is tagged for `moved`, services that moved to their
    /// own stack.
    pub fn compile(allowed: ServiceSet, moved: ServiceSet) -> Self {
        let mut verdicts = [Verdict::Passed; PortClass::COUNT];
        for (verdict, class) in verdicts.iter_mut().zip(PortClass::all()) {
            *verdict = rule(allowed, moved, class.candidates());
        }
        Self(verdicts)
    }

    /// The verdict on a frame of `class`.
    #[inline]
    pub fn verdict(&self, class: PortClass) -> Verdict {
        self.0[class.index()]
    }
}

fn rule(allowed: ServiceSet, moved: ServiceSet, candidates: &[Service]) -> Verdict {
    if let Some(&service) = candidates.iter().find(|s| allowed.contains(**s)) {
        return Verdict::Delivered(service);
    }
    if let Some(&service) = candidates.iter().find(|s| moved.contains(**s)) {
        return Verdict::Dropped {
            reason: DropReason::ServiceMovedToOwnStack,
            service: Some(service),
        };
    }
    Verdict::Dropped {
        reason: DropReason::ServiceDisabled,
        service: candidates.last().copied(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(services: &[Service]) -> ServiceSet {
        let mut set = ServiceSet::default();
        for &s in services {
            set.insert(s);
        }
        set
    }

    #[test]
    fn port_902_is_the_first_nfc_service_carried_else_management() {
        let provisioning = Policy::compile(set(&[Service::Provisioning, Service::Management]), set(&[]));
        assert_eq!(
            provisioning.verdict(PortClass::NFC_902),
            Verdict::Delivered(Service::Provisioning)
        );
        let management = Policy::compile(set(&[Service::Management]), set(&[]));
        assert_eq!(
            management.verdict(PortClass::NFC_902),
            Verdict::Delivered(Service::Management)
        );
        assert_eq!(
            Policy::compile(set(&[]), set(&[])).verdict(PortClass::NFC_902),
            Verdict::Dropped {
                reason: DropReason::ServiceDisabled,
                service: Some(Service::Management)
            }
        );
    }

    #[test]
    fn refused_services_are_moved_or_disabled() {
        let policy = Policy::compile(set(&[Service::Icmp]), set(&[Service::Vmotion]));
        assert_eq!(
            policy.verdict(PortClass::service(Service::Vmotion)),
            Verdict::Dropped {
                reason: DropReason::ServiceMovedToOwnStack,
                service: Some(Service::Vmotion)
            }
        );
        assert_eq!(
            policy.verdict(PortClass::service(Service::Iscsi)),
            Verdict::Dropped {
                reason: DropReason::ServiceDisabled,
                service: Some(Service::Iscsi)
            }
        );
        assert_eq!(
            policy.verdict(PortClass::service(Service::Icmp)),
            Verdict::Delivered(Service::Icmp)
        );
    }

    #[test]
    fn unknown_ports_are_unclassified_where_that_is_carried() {
        let policy = Policy::compile(set(&[Service::Unclassified]), set(&[]));
        assert_eq!(
            policy.verdict(PortClass::UNKNOWN),
            Verdict::Delivered(Service::Unclassified)
        );
    }
}
