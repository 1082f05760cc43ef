//! CPU lists (`0,2-3`), dedicated netstack CPUs (`vmotion=1`) and pinning the calling thread to one CPU.

use std::fmt;
use std::str::FromStr;

/// An ordered list of CPUs, as given with `--cpus` or allowed to this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuList(Vec<usize>);

/// A CPU list that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid CPU list `{0}`: use CPU numbers and ranges separated by commas, e.g. `0,2-3`")]
pub struct CpuListError(String);

impl FromStr for CpuList {
    type Err = CpuListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || CpuListError(s.to_owned());
        let mut cpus = Vec::new();
        for part in s.split(',').map(str::trim) {
            let cpu = |s: &str| s.trim().parse::<usize>().map_err(|_| error());
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (cpu(a)?, cpu(b)?),
                None => (cpu(part)?, cpu(part)?),
            };
            if first > last || last >= libc::CPU_SETSIZE as usize {
                return Err(error());
            }
            cpus.extend(first..=last);
        }
        Ok(Self(cpus))
    }
}

impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        for cpu in &self.0 {
            write!(f, "{sep}{cpu}")?;
            sep = ",";
        }
        Ok(())
    }
}

impl CpuList {
    /// The CPUs this process may run on, in order.
    pub fn allowed() -> Self {
        // Safety: an all-zero cpu_set_t is the empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // Safety: `set` is valid for writes of its size.
        let ret = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &raw mut set) };
        if ret != 0 {
            return Self(vec![0]);
        }
        let cpus: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            // Safety: `cpu` is below CPU_SETSIZE.
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
            .collect();
        if cpus.is_empty() { Self(vec![0]) } else { Self(cpus) }
    }

    /// Whether `cpu` is in the list.
    pub fn contains(&self, cpu: usize) -> bool {
        self.0.contains(&cpu)
    }

    /// The CPU of the `index`th worker: the list in order, wrapping around.
    pub fn for_worker(&self, index: usize) -> usize {
        self.0.get(index % self.0.len().max(1)).copied().unwrap_or(0)
    }
}

/// A netstack given a worker of its own, pinned to a CPU (`--netstack-cpu vmotion=1`): that worker serves the
/// netstack's ring on every queue, and the queue workers serve the other netstacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetstackCpu {
    /// The netstack's key (`vmotion`, `defaultTcpipStack`, a custom stack's name).
    pub netstack: String,
    /// The CPU of its worker.
    pub cpu: usize,
}

/// A `--netstack-cpu` value that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid netstack CPU `{0}`: use NETSTACK=CPU, e.g. `vmotion=1`")]
pub struct NetstackCpuError(String);

impl FromStr for NetstackCpu {
    type Err = NetstackCpuError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || NetstackCpuError(s.to_owned());
        let (netstack, cpu) = s.split_once('=').ok_or_else(error)?;
        let cpu: usize = cpu.trim().parse().map_err(|_| error())?;
        let netstack = netstack.trim();
        if netstack.is_empty() || cpu >= libc::CPU_SETSIZE as usize {
            return Err(error());
        }
        Ok(Self {
            netstack: netstack.to_owned(),
            cpu,
        })
    }
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
/// As [`pin_thread`].
pub(super) fn pin_current_thread(cpu: usize) -> std::io::Result<()> {
    pin_thread(0, cpu)
}

/// Pins the thread `tid` (0: the calling thread) to `cpu`, e.g. a kernel thread of the receive path.
///
/// # Errors
/// `EINVAL` for a CPU beyond `CPU_SETSIZE`; the errno of `sched_setaffinity` (a CPU this process may not use,
/// no such thread).
pub fn pin_thread(tid: u32, cpu: usize) -> std::io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::from_raw_os_error(libc::EINVAL));
    }
    // Safety: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // Safety: `cpu` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(cpu, &mut set) };
    let tid = libc::pid_t::try_from(tid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    // Safety: `set` is a valid cpu_set_t of the size given.
    if unsafe { libc::sched_setaffinity(tid, size_of::<libc::cpu_set_t>(), &raw const set) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges() {
        let list: CpuList = "0, 2-4,1".parse().unwrap();
        assert_eq!(list.0, vec![0, 2, 3, 4, 1]);
        assert_eq!(list.to_string(), "0,2,3,4,1");
        assert_eq!(list.for_worker(0), 0);
        assert_eq!(list.for_worker(6), 2);
        assert!(list.contains(3) && !list.contains(5));
        for bad in ["", "a", "3-1", "1-", "99999"] {
            assert!(bad.parse::<CpuList>().is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_netstack_cpus() {
        let spec: NetstackCpu = " vmotion = 1".parse().unwrap();
        assert_eq!(
            spec,
            NetstackCpu {
                netstack: "vmotion".into(),
                cpu: 1
            }
        );
        for bad in ["vmotion", "=1", "vmotion=", "vmotion=x", "vmotion=99999"] {
            let err = bad.parse::<NetstackCpu>().unwrap_err();
            assert!(err.to_string().contains("NETSTACK=CPU"), "{bad}: {err}");
        }
    }

    #[test]
    fn allowed_cpus_are_pinnable() {
        let allowed = CpuList::allowed();
        assert!(!allowed.0.is_empty());
        let cpu = allowed.for_worker(0);
        std::thread::spawn(move || pin_current_thread(cpu))
            .join()
            .unwrap()
            .expect("pin to an allowed CPU");
    }
}
