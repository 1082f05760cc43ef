//! Where the CPU time of a measurement went: per core from `/proc/stat`, and how much of it processes other
//! than the benchmark's own took (from `/proc/<pid>/stat`), so a report says when the machine was not quiet.
//!
//! Both are snapshots taken before and after the sending window; the difference over the wall time is the
//! share. Kernel threads are left out of "other processes": the receive path under test runs in them
//! (`ksoftirqd`, threaded NAPI), and the per-core figures already show them.

use std::collections::HashMap;
use std::fs;

use super::model::CoreUsage;

/// Clock ticks per second of `/proc` times (`USER_HZ`).
fn ticks_per_second() -> f64 {
    // Safety: sysconf has no preconditions.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        hz if hz > 0 => hz as f64,
        _ => 100.0,
    }
}

/// One core's cumulative times, in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct CoreTicks {
    user: u64,
    system: u64,
    irq: u64,
    idle: u64,
}

impl CoreTicks {
    fn total(&self) -> u64 {
        self.user + self.system + self.irq + self.idle
    }
}

/// The cores' cumulative times at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuSnapshot {
    cores: Vec<(usize, CoreTicks)>,
}

impl CpuSnapshot {
    /// Reads `/proc/stat`; empty when it cannot be read.
    pub fn take() -> Self {
        fs::read_to_string("/proc/stat").map_or_else(|_| Self::default(), |text| Self::parse(&text))
    }

    fn parse(text: &str) -> Self {
        let cores = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_ascii_whitespace();
                let cpu = fields.next()?.strip_prefix("cpu")?.parse().ok()?;
                let v: Vec<u64> = fields.map_while(|f| f.parse().ok()).collect();
                let at = |i: usize| v.get(i).copied().unwrap_or(0);
                // user nice system idle iowait irq softirq steal
                Some((
                    cpu,
                    CoreTicks {
                        user: at(0) + at(1),
                        system: at(2) + at(7),
                        irq: at(5) + at(6),
                        idle: at(3) + at(4),
                    },
                ))
            })
            .collect();
        Self { cores }
    }

    /// Each core's share of the time between `self` (earlier) and `later`, in percent.
    pub fn usage_until(&self, later: &Self) -> Vec<CoreUsage> {
        later
            .cores
            .iter()
            .filter_map(|(cpu, after)| {
                let before = self.cores.iter().find(|(c, _)| c == cpu)?.1;
                let total = after.total().saturating_sub(before.total()).max(1) as f64;
                let share = |a: u64, b: u64| 100.0 * a.saturating_sub(b) as f64 / total;
                Some(CoreUsage {
                    cpu: *cpu,
                    user: share(after.user, before.user),
                    system: share(after.system, before.system),
                    irq: share(after.irq, before.irq),
                    idle: share(after.idle, before.idle),
                })
            })
            .collect()
    }
}

/// The CPU ticks each user-space process has used so far, by pid, leaving out kernel threads and `exclude`d
/// process trees.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessSnapshot {
    ticks: HashMap<u32, u64>,
}

/// `PF_KTHREAD` in the flags field of `/proc/<pid>/stat`.
const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of `/proc/<pid>/stat` the snapshot needs: (parent pid, flags, utime + stime).
fn parse_stat(text: &str) -> Option<(u32, u64, u64)> {
    // The command name is in parentheses and may hold spaces: the fields start after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the name: state(0) ppid(1) … flags(6) … utime(11) stime(12).
    let parent = fields.get(1)?.parse().ok()?;
    let flags = fields.get(6)?.parse().ok()?;
    let time = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some((parent, flags, time))
}

impl ProcessSnapshot {
    /// Reads every process's times, leaving out kernel threads and the process trees rooted at `exclude`.
    pub fn take(exclude: &[u32]) -> Self {
        let mut all = HashMap::new();
        if let Ok(dir) = fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some(stat) = fs::read_to_string(entry.path().join("stat"))
                    .ok()
                    .as_deref()
                    .and_then(parse_stat)
                {
                    all.insert(pid, stat);
                }
            }
        }
        let excluded = |mut pid: u32| {
            // Walk up to init; the depth bound guards against a parent cycle from a racing pid reuse.
            for _ in 0..64 {
                if exclude.contains(&pid) {
                    return true;
                }
                match all.get(&pid) {
                    Some(&(parent, _, _)) if parent != 0 => pid = parent,
                    _ => return false,
                }
            }
            false
        };
        let ticks = all
            .iter()
            .filter(|(pid, (_, flags, _))| flags & PF_KTHREAD == 0 && !excluded(**pid))
            .map(|(pid, (_, _, time))| (*pid, *time))
            .collect();
        Self { ticks }
    }

    /// CPU taken between `self` (earlier) and `later` by the processes of both, in percent of one core over
    /// `seconds`.
    pub fn percent_until(&self, later: &Self, seconds: f64) -> f64 {
        let ticks: u64 = later
            .ticks
            .iter()
            .filter_map(|(pid, after)| self.ticks.get(pid).map(|before| after.saturating_sub(*before)))
            .sum();
        if seconds > 0.0 {
            100.0 * ticks as f64 / ticks_per_second() / seconds
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_usage_is_the_share_of_each_kind_of_time() {
        let before = CpuSnapshot::parse("cpu  9 9 9 9 9 9 9 9\ncpu0 10 0 10 70 0 5 5 0 0 0\ncpu1 0 0 0 100 0 0 0 0\n");
        let after = CpuSnapshot::parse("cpu0 30 0 30 100 0 10 30 0 0 0\ncpu1 0 0 0 200 0 0 0 0\n");
        let usage = before.usage_until(&after);
        assert_eq!(usage.len(), 2, "the aggregate line is not a core");
        let cpu0 = usage[0];
        assert_eq!(cpu0.cpu, 0);
        // 100 ticks passed: 20 user, 20 system, 30 irq, 30 idle.
        assert!((cpu0.user - 20.0).abs() < 1e-9 && (cpu0.system - 20.0).abs() < 1e-9);
        assert!((cpu0.irq - 30.0).abs() < 1e-9 && (cpu0.idle - 30.0).abs() < 1e-9);
        assert!((usage[1].idle - 100.0).abs() < 1e-9);
    }

    #[test]
    fn stat_lines_with_spaces_in_the_name_parse() {
        let line = "1234 (tmux: server) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat(line), Some((1, 4_194_560, 300)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_excluded_and_others_are_counted() {
        let me = std::process::id();
        let snapshot = ProcessSnapshot::take(&[me]);
        assert!(!snapshot.ticks.contains_key(&me));
        assert!(ProcessSnapshot::take(&[]).ticks.contains_key(&me));
        let earlier = ProcessSnapshot {
            ticks: HashMap::from([(1, 100), (2, 50)]),
        };
        let later = ProcessSnapshot {
            ticks: HashMap::from([(1, 100 + ticks_per_second() as u64), (3, 999)]),
        };
        // Process 1 took one core-second in two seconds; 2 ended, 3 started: neither is counted.
        assert!((earlier.percent_until(&later, 2.0) - 50.0).abs() < 1e-9);
    }
}
