//! Checks made before anything is loaded, bound or attached: capabilities, the interface, its rx queues and
//! an rx VLAN offload that would hide the tags the classifier steers by.
//!
//! Each check answers with a [`RuntimeError`] that says what to change, so `vmknet run` fails before it has
//! touched the interface.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::RuntimeError;

/// A Linux capability: its bit in the capability sets (`capability.h`) and its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capability {
    /// The bit number.
    pub bit: u32,
    /// `CAP_...`.
    pub name: &'static str,
}

/// Configure interfaces, attach XDP.
pub const CAP_NET_ADMIN: Capability = Capability {
    bit: 12,
    name: "CAP_NET_ADMIN",
};
/// Open AF_XDP and AF_PACKET sockets.
pub const CAP_NET_RAW: Capability = Capability {
    bit: 13,
    name: "CAP_NET_RAW",
};
/// Pin memory (UMEMs) beyond RLIMIT_MEMLOCK.
pub const CAP_IPC_LOCK: Capability = Capability {
    bit: 14,
    name: "CAP_IPC_LOCK",
};
/// Create network namespaces (the testbed); also grants what CAP_BPF does.
pub const CAP_SYS_ADMIN: Capability = Capability {
    bit: 21,
    name: "CAP_SYS_ADMIN",
};
/// Load BPF programs and maps.
pub const CAP_BPF: Capability = Capability {
    bit: 39,
    name: "CAP_BPF",
};

/// Whether this process holds `capability` in its effective set (`CapEff` of `/proc/self/status`; none when
/// that cannot be read).
pub fn has_capability(capability: Capability) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    effective & (1 << capability.bit) != 0
}

/// The names of the capabilities of `needed` this process lacks, in order.
pub fn missing_capabilities(needed: &[Capability]) -> Vec<&'static str> {
    needed.iter().filter(|c| !has_capability(**c)).map(|c| c.name).collect()
}

/// Checks that this process holds what the fast path needs to load BPF, attach XDP, open AF_XDP sockets and
/// pin `umem_bytes` of UMEM: CAP_BPF, CAP_NET_ADMIN, CAP_NET_RAW, and CAP_IPC_LOCK or enough RLIMIT_MEMLOCK.
///
/// # Errors
/// [`RuntimeError::Capabilities`] naming every missing capability.
pub fn check_capabilities(umem_bytes: u64) -> Result<(), RuntimeError> {
    let mut missing = Vec::new();
    if !has_capability(CAP_BPF) && !has_capability(CAP_SYS_ADMIN) {
        missing.push("CAP_BPF".to_owned());
    }
    if !has_capability(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN".to_owned());
    }
    if !has_capability(CAP_NET_RAW) {
        missing.push("CAP_NET_RAW".to_owned());
    }
    if !has_capability(CAP_IPC_LOCK) {
        let limit = memlock_limit();
        if limit < umem_bytes {
            missing.push(format!(
                "CAP_IPC_LOCK (or RLIMIT_MEMLOCK of at least {umem_bytes} bytes for the UMEMs, now {limit})"
            ));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(RuntimeError::Capabilities { missing })
}

fn memlock_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // Safety: `limit` is valid for the write.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &raw mut limit) } != 0 {
        return 0;
    }
    limit.rlim_cur
}

/// The number of rx queues `interface` has, from sysfs.
///
/// # Errors
/// [`RuntimeError::InterfaceNotFound`].
pub(crate) fn rx_queues(interface: &str) -> Result<u32, RuntimeError> {
    let dir = format!("/sys/class/net/{interface}/queues");
    let entries = std::fs::read_dir(&dir).map_err(|_| RuntimeError::InterfaceNotFound(interface.to_owned()))?;
    let count = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("rx-"))
        .count();
    Ok(u32::try_from(count).unwrap_or(u32::MAX).max(1))
}

/// What the interface says about receive VLAN offload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VlanOffload {
    /// The driver's name (`ethtool -i`).
    pub driver: String,
    /// Whether `rx-vlan-offload` is on.
    pub rx_vlan_offload: bool,
}

impl VlanOffload {
    /// Whether the offload would hide tags from XDP. veth reports the feature on but has no hardware to strip
    /// anything: an in-band tag stays in the frame (a tag its sender kept as metadata, with `txvlan` on, is
    /// lost either way, which is the sender's setting).
    pub fn hides_tags(&self) -> bool {
        self.rx_vlan_offload && self.driver != "veth"
    }
}

/// `SIOCETHTOOL` commands and flags (linux/ethtool.h).
const ETHTOOL_GDRVINFO: u32 = 0x03;
const ETHTOOL_GFLAGS: u32 = 0x25;
const ETH_FLAG_RXVLAN: u32 = 1 << 8;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

#[repr(C)]
struct EthtoolDrvinfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

/// Reads the driver and the rx VLAN offload of `interface` with the ethtool ioctl.
///
/// # Errors
/// [`RuntimeError::InterfaceNotFound`], or [`RuntimeError::Ethtool`] when the ioctl fails.
pub fn vlan_offload(interface: &str) -> Result<VlanOffload, RuntimeError> {
    let name = CString::new(interface).map_err(|_| RuntimeError::InterfaceNotFound(interface.to_owned()))?;
    if name.as_bytes().len() >= libc::IFNAMSIZ {
        return Err(RuntimeError::InterfaceNotFound(interface.to_owned()));
    }
    // Safety: plain socket(2); the descriptor is owned at once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(RuntimeError::Ethtool {
            interface: interface.to_owned(),
            source: std::io::Error::last_os_error(),
        });
    }
    // Safety: `raw` is a fresh descriptor nothing else owns.
    let socket = unsafe { OwnedFd::from_raw_fd(raw) };
    let ethtool = |data: *mut libc::c_char| -> Result<(), RuntimeError> {
        // Safety: all-zero is a valid ifreq; the name and the data pointer are set next.
        let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in request.ifr_name.iter_mut().zip(name.as_bytes()) {
            *dst = *src as libc::c_char;
        }
        request.ifr_ifru.ifru_data = data;
        // Safety: `request` names the interface and points to a command structure of the size the command
        // expects, valid for reads and writes during the call.
        let ret = unsafe { libc::ioctl(socket.as_raw_fd(), libc::SIOCETHTOOL, &raw mut request) };
        if ret < 0 {
            let source = std::io::Error::last_os_error();
            if source.raw_os_error() == Some(libc::ENODEV) {
                return Err(RuntimeError::InterfaceNotFound(interface.to_owned()));
            }
            return Err(RuntimeError::Ethtool {
                interface: interface.to_owned(),
                source,
            });
        }
        Ok(())
    };
    // Safety: all-zero is a valid ethtool_drvinfo.
    let mut info: EthtoolDrvinfo = unsafe { std::mem::zeroed() };
    info.cmd = ETHTOOL_GDRVINFO;
    ethtool((&raw mut info).cast())?;
    let mut flags = EthtoolValue {
        cmd: ETHTOOL_GFLAGS,
        data: 0,
    };
    ethtool((&raw mut flags).cast())?;
    let len = info.driver.iter().position(|&b| b == 0).unwrap_or(info.driver.len());
    Ok(VlanOffload {
        driver: String::from_utf8_lossy(&info.driver[..len]).into_owned(),
        rx_vlan_offload: flags.data & ETH_FLAG_RXVLAN != 0,
    })
}

/// Refuses an interface whose rx VLAN offload would strip the tags steering depends on.
///
/// # Errors
/// [`RuntimeError::VlanOffload`] with the `ethtool` command that fixes it.
pub(crate) fn check_vlan_offload(interface: &str) -> Result<VlanOffload, RuntimeError> {
    let offload = vlan_offload(interface)?;
    if offload.hides_tags() {
        return Err(RuntimeError::VlanOffload {
            interface: interface.to_owned(),
            driver: offload.driver,
        });
    }
    Ok(offload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_offload_is_harmless_hardware_offload_is_not() {
        let veth = VlanOffload {
            driver: "veth".into(),
            rx_vlan_offload: true,
        };
        assert!(!veth.hides_tags());
        let nic = VlanOffload {
            driver: "ice".into(),
            rx_vlan_offload: true,
        };
        assert!(nic.hides_tags());
        assert!(
            !VlanOffload {
                rx_vlan_offload: false,
                ..nic
            }
            .hides_tags()
        );
    }

    #[test]
    fn loopback_has_rx_queues_and_a_missing_interface_is_named() {
        assert!(rx_queues("lo").expect("lo exists") >= 1);
        let err = rx_queues("vmknet-nonesuch").expect_err("no such interface");
        assert!(err.to_string().contains("vmknet-nonesuch"), "{err}");
    }
}
