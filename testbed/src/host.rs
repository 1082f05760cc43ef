//! The testbed host: the embedded default plus what the default lacks to reach every drop reason.
//!
//! The embedded default has no default-stack adapter tagged VMotion or vSphereProvisioning, so no frame to it can
//! be dropped `service_moved_to_own_stack`. The testbed host adds `vmk9`, a legacy vMotion adapter left on the
//! default stack after the vmotion stack got adapters: its VMotion tag is out of force (fact sheet §1.3 rule 1).

use vmknet::model::{EMBEDDED_DEFAULT, HostModel};

/// What the testbed host adds to [`EMBEDDED_DEFAULT`].
pub const TESTBED_ADDITIONS: &str = r#"
# Testbed addition: a legacy vMotion adapter on the default stack. The vmotion stack has adapters, so this
# adapter's VMotion tag is out of force and vMotion frames to it are dropped service_moved_to_own_stack.
[[vmk]]
name = "vmk9"
netstack = "defaultTcpipStack"
portgroup = "vMotion-legacy"
mac = "00:50:56:6a:90:09"
vlan = 90
mtu = 1500
ipv4 = "10.90.90.11/24"
tags = ["VMotion"]
"#;

/// An untagged 9000-MTU vmk (vmk10, 10.100.100.11/24, fd00:100::11/64) to append to a host file: a Linux
/// peer reaches it on a plain veth or the switch's untagged access port, without VLAN devices (which the
/// project's kernels may lack).
pub const UNTAGGED_VMK: &str = r#"
[[vmk]]
name = "vmk10"
netstack = "defaultTcpipStack"
portgroup = "untagged"
mac = "00:50:56:6a:a0:10"
vlan = 0
mtu = 9000
ipv4 = "10.100.100.11/24"
ipv6 = ["fd00:100::11/64"]
"#;

/// The name diagnostics give the testbed host.
pub const TESTBED_HOST_NAME: &str = "<testbed host>";

/// The testbed host file: the embedded default followed by [`TESTBED_ADDITIONS`].
pub fn testbed_host_toml() -> String {
    format!("{EMBEDDED_DEFAULT}{TESTBED_ADDITIONS}")
}

/// The testbed host model.
///
/// # Panics
/// If the embedded default changes so that the additions no longer fit (a test catches it).
pub fn testbed_host() -> HostModel {
    match HostModel::from_toml(TESTBED_HOST_NAME, &testbed_host_toml()) {
        Ok(model) => model,
        Err(err) => panic!("the testbed host is invalid: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use vmknet::model::{ServiceState, ServiceTag};

    use super::*;

    #[test]
    fn vmk9_has_vmotion_out_of_force() {
        let model = testbed_host();
        let vmk9 = model.vmk_by_name("vmk9").unwrap();
        assert!(vmk9.is_tagged(ServiceTag::Vmotion));
        assert!(!vmk9.has_service(ServiceTag::Vmotion));
        assert!(matches!(vmk9.services[0].state, ServiceState::MovedTo(_)));
        assert!(crate::expect::moved_to_own_stack(&model, vmk9, ServiceTag::Vmotion));
    }
}
