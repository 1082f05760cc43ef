//! The demo's accounting: what the testbed's labels say a run must count, and the comparison of a run's
//! counters (the workers' report, the XDP program's verdicts, the kernel's socket statistics) with it.
//!
//! Labels are the testbed's own statement of the rules, never the pipeline's output, so a match is evidence.
//! The comparison is count by count: frames sent and seen by the program, delivered (or replied to) per vmk and
//! service, dropped per reason (in the program or in the workers), Linux's frames passed by the program
//! and never by the workers, frames the sockets cannot receive whole lost in the kernel, the conservation
//! laws between the program, the sockets and the workers, and the UMEM's books (no buffer leaked).

use std::collections::{BTreeMap, BTreeSet};

use vmknet::runtime::RunSummary;
use vmknet_common::XdpVerdict;
use vmknet_testbed::LabelledFrame;

/// A vmk or service name missing from a label.
const NONE: &str = "-";

/// What the labels of the frames sent say the run must count.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    /// Frames sent, over all rounds.
    sent: u64,
    /// Delivered, replied or forwarded, per (verdict, vmk, service), among the frames received whole.
    handled: BTreeMap<Handled, u64>,
    /// Dropped, per reason, among the frames received whole or dropped in the program.
    dropped: BTreeMap<String, u64>,
    /// Labelled `passed`: Linux's frames.
    passed: u64,
    /// Steered to a vmk but longer than the sockets receive whole: lost in the kernel.
    lost: u64,
    /// The longest frame the sockets receive whole.
    max_frame_len: usize,
}

impl Expected {
    /// The counts for `rounds` rounds of `frames`, whose sockets receive frames of up to `max_frame_len`
    /// bytes whole. A frame labelled with a vmk is one the program redirects to that vmk's netstack socket.
    pub(crate) fn new<'a>(
        frames: impl IntoIterator<Item = &'a LabelledFrame>,
        rounds: u32,
        max_frame_len: usize,
    ) -> Self {
        let mut e = Self {
            max_frame_len,
            ..Self::default()
        };
        let r = u64::from(rounds);
        for frame in frames {
            let label = &frame.label;
            e.sent += r;
            if label.verdict == "passed" {
                e.passed += r;
            } else if label.vmk.is_some() && frame.bytes.len() > max_frame_len {
                e.lost += r;
            } else if label.verdict == "dropped" {
                let reason = label.reason.clone().unwrap_or_else(|| NONE.into());
                *e.dropped.entry(reason).or_default() += r;
            } else {
                *e.handled
                    .entry(handled(&label.verdict, &label.vmk, &label.service))
                    .or_default() += r;
            }
        }
        e
    }
}

/// A verdict other than dropped or passed, with the vmk and service it was given for.
type Handled = (String, String, String);

fn handled(verdict: &str, vmk: &Option<String>, service: &Option<String>) -> Handled {
    (
        verdict.to_owned(),
        vmk.clone().unwrap_or_else(|| NONE.into()),
        service.clone().unwrap_or_else(|| NONE.into()),
    )
}

/// One count of the run against the labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    /// What is counted.
    pub(crate) what: String,
    /// The count on the real path.
    pub(crate) got: u64,
    /// The count the labels (or a conservation law) require.
    pub(crate) want: u64,
}

impl Check {
    pub(crate) fn new(what: impl Into<String>, got: u64, want: u64) -> Self {
        Self {
            what: what.into(),
            got,
            want,
        }
    }

    /// Whether the counts agree.
    pub(crate) fn ok(&self) -> bool {
        self.got == self.want
    }
}

/// Compares `summary`, a run in which `sent` frames were sent, with `expected`; one [`Check`] per count.
pub(crate) fn compare(expected: &Expected, summary: &RunSummary, sent: u64) -> Vec<Check> {
    let xdp = &summary.xdp;
    let report = &summary.report;
    let mut checks = vec![
        Check::new("frames sent", sent, expected.sent),
        Check::new("frames seen by the XDP program", xdp.frames(), expected.sent),
    ];

    let mut got = BTreeMap::<Handled, u64>::new();
    for cell in report
        .cells
        .iter()
        .filter(|c| !matches!(c.verdict, "dropped" | "passed"))
    {
        *got.entry(handled(cell.verdict, &cell.vmk, &cell.service)).or_default() += cell.packets;
    }
    for k in union(&got, &expected.handled) {
        let what = format!("{} {:<6} {}", k.0, k.1, k.2);
        checks.push(Check::new(what, count(&got, &k), count(&expected.handled, &k)));
    }

    let mut dropped = BTreeMap::<String, u64>::new();
    for (reason, n) in &report.drops {
        *dropped.entry((*reason).to_owned()).or_default() += n;
    }
    for (verdict, n) in xdp.iter() {
        if let XdpVerdict::Dropped(reason) = verdict {
            *dropped.entry(reason.name().to_owned()).or_default() += n;
        }
    }
    // Reasons neither counted nor expected (most of them, for the mix) are left out.
    for reason in union(&dropped, &expected.dropped) {
        let what = format!("dropped {reason} (XDP and workers)");
        checks.push(Check::new(
            what,
            count(&dropped, &reason),
            count(&expected.dropped, &reason),
        ));
    }

    let lost = summary.socket_lost();
    let umem = summary.umem();
    checks.extend([
        Check::new(
            "Linux's frames passed by the XDP program",
            xdp.get(XdpVerdict::PassedNotOurs) + xdp.get(XdpVerdict::PassedNoSocket),
            expected.passed,
        ),
        Check::new(
            "discarded by the XDP program (ceiling mode, never on in a run)",
            xdp.get(XdpVerdict::Discarded),
            0,
        ),
        Check::new(
            "frames passed by the workers (Linux's never reach them)",
            report.totals.passed,
            0,
        ),
        Check::new(
            format!(
                "lost in the kernel: steered, over the {} bytes a socket receives whole",
                expected.max_frame_len
            ),
            lost,
            expected.lost,
        ),
        Check::new(
            "redirected by the program = received by the sockets + lost",
            xdp.get(XdpVerdict::Redirected),
            summary.socket_rx() + lost,
        ),
        Check::new(
            "frames the workers counted = received by the sockets",
            report.frames_in,
            summary.socket_rx(),
        ),
        Check::new(
            "verdicts the workers gave = frames they counted",
            report.totals.total(),
            report.frames_in,
        ),
        Check::new(
            "UMEM buffers given back (recycled, transmitted) or held = taken (received, completed)",
            umem.recycled + umem.transmitted + umem.held,
            umem.received + umem.completed,
        ),
    ]);
    checks
}

/// The keys with a non-zero count in `a` or `b`.
fn union<K: Ord + Clone>(a: &BTreeMap<K, u64>, b: &BTreeMap<K, u64>) -> BTreeSet<K> {
    a.iter()
        .chain(b)
        .filter(|(_, n)| **n > 0)
        .map(|(k, _)| k.clone())
        .collect()
}

fn count<K: Ord>(map: &BTreeMap<K, u64>, k: &K) -> u64 {
    map.get(k).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use vmknet_testbed::Label;

    use super::*;

    fn frame(
        len: usize,
        verdict: &str,
        vmk: Option<&str>,
        service: Option<&str>,
        reason: Option<&str>,
    ) -> LabelledFrame {
        LabelledFrame {
            bytes: vec![0; len],
            label: Label {
                verdict: verdict.into(),
                service: service.map(Into::into),
                reason: reason.map(Into::into),
                vmk: vmk.map(Into::into),
                scenario: "test".into(),
            },
        }
    }

    #[test]
    fn frames_over_the_socket_limit_steered_to_a_vmk_are_expected_lost_whatever_their_label() {
        let frames = [
            frame(1000, "delivered", Some("vmk1"), Some("vmotion"), None),
            frame(9018, "delivered", Some("vmk1"), Some("vmotion"), None),
            frame(9018, "dropped", Some("vmk0"), None, Some("mtu_exceeded")),
            frame(17, "dropped", None, None, Some("runt")),
            frame(9018, "passed", None, None, None),
            frame(2000, "dropped", Some("vmk0"), None, Some("mtu_exceeded")),
            frame(60, "replied", Some("vmk1"), Some("arp"), None),
        ];
        let (vmk1, vmotion) = (Some("vmk1".to_owned()), Some("vmotion".to_owned()));
        let e = Expected::new(&frames, 3, 3840);
        assert_eq!(e.sent, 21);
        assert_eq!(e.lost, 6);
        assert_eq!(e.passed, 3);
        let arp = Some("arp".to_owned());
        assert_eq!(
            e.handled,
            BTreeMap::from([
                (handled("delivered", &vmk1, &vmotion), 3),
                (handled("replied", &vmk1, &arp), 3)
            ])
        );
        assert_eq!(
            e.dropped,
            BTreeMap::from([("mtu_exceeded".into(), 3), ("runt".into(), 3)])
        );
        // Once the sockets receive jumbo frames whole, they count as labelled.
        let e = Expected::new(&frames, 1, 9018);
        assert_eq!(e.lost, 0);
        assert_eq!(e.handled[&handled("delivered", &vmk1, &vmotion)], 2);
        assert_eq!(e.dropped["mtu_exceeded"], 2);
    }
}
