//! The per-netstack / per-vmk / per-service report of a run, as text tables or JSON.

use std::collections::BTreeMap;

use serde::Serialize;

use super::counters::{Conservation, Counters, Tally};
use crate::model::HostModel;
use crate::model::view::{Layout, View};
use crate::pipeline::{FragmentStats, Verdict};

/// Verdict kinds by their index in [`Verdict::kind_index`]: the first four are not drops.
const NOT_DROPS: usize = 4;

/// One non-zero counter cell, named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// Netstack key; `None` for frames tied to no vmk.
    pub netstack: Option<String>,
    /// vmk name; `None` for frames tied to no vmk.
    pub vmk: Option<String>,
    /// Service, when known.
    pub service: Option<String>,
    /// `delivered`, `replied`, `forwarded`, `passed` or `dropped`.
    pub verdict: &'static str,
    /// The drop reason, for drops.
    pub reason: Option<&'static str>,
    /// Frames.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

/// Totals per verdict.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VerdictTotals {
    /// Delivered to a service sink.
    pub delivered: u64,
    /// Answered by a responder.
    pub replied: u64,
    /// Sent on another interface.
    pub forwarded: u64,
    /// Left to Linux.
    pub passed: u64,
    /// Dropped.
    pub dropped: u64,
}

impl VerdictTotals {
    fn add(&mut self, kind: usize, packets: u64) {
        match kind {
            0 => self.delivered += packets,
            1 => self.replied += packets,
            2 => self.forwarded += packets,
            3 => self.passed += packets,
            _ => self.dropped += packets,
        }
    }

    /// Sum of all verdicts.
    pub fn total(&self) -> u64 {
        self.delivered + self.replied + self.forwarded + self.passed + self.dropped
    }
}

/// A run's counters, named after the host model.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Frames that entered the pipeline.
    pub frames_in: u64,
    /// Their bytes.
    pub bytes_in: u64,
    /// Whether every frame got exactly one verdict.
    pub conservation_holds: bool,
    /// Totals per verdict.
    pub totals: VerdictTotals,
    /// Totals per netstack (`-` for frames tied to no vmk).
    pub netstacks: BTreeMap<String, VerdictTotals>,
    /// Drops per reason.
    pub drops: BTreeMap<&'static str, u64>,
    /// Fragment-cache entries evicted by newer datagrams.
    pub fragments_evicted: u64,
    /// Fragment-cache entries that expired.
    pub fragments_expired: u64,
    /// Every non-zero cell.
    pub cells: Vec<Cell>,
}

impl Report {
    /// Names the cells of `counters` after `model`.
    pub fn new(model: &HostModel, counters: &Counters, fragments: FragmentStats) -> Self {
        let Conservation { frames_in, verdicts } = counters.conservation();
        let mut totals = VerdictTotals::default();
        let mut netstacks = BTreeMap::new();
        let mut drops = BTreeMap::new();
        let mut cells = Vec::new();
        for (vmk, service, kind, Tally { packets, bytes }) in counters.cells() {
            let vmk = vmk.and_then(|i| model.vmks.get(i));
            let netstack = vmk.map(|v| model.netstack_of(v).key.to_string());
            totals.add(kind, packets);
            netstacks
                .entry(netstack.clone().unwrap_or_else(|| "-".into()))
                .or_insert_with(VerdictTotals::default)
                .add(kind, packets);
            let reason = (kind >= NOT_DROPS).then(|| Verdict::kind_name(kind));
            if let Some(reason) = reason {
                *drops.entry(reason).or_insert(0) += packets;
            }
            cells.push(Cell {
                netstack,
                vmk: vmk.map(|v| v.name.clone()),
                service: service.map(|s| s.name().to_owned()),
                verdict: if reason.is_some() {
                    "dropped"
                } else {
                    Verdict::kind_name(kind)
                },
                reason,
                packets,
                bytes,
            });
        }
        Self {
            frames_in: frames_in.packets,
            bytes_in: frames_in.bytes,
            conservation_holds: frames_in == verdicts,
            totals,
            netstacks,
            drops,
            fragments_evicted: fragments.evicted,
            fragments_expired: fragments.expired,
            cells,
        }
    }

    /// The report as text tables: totals, per netstack, per vmk and service, drop reasons.
    pub fn to_text(&self) -> String {
        let t = &self.totals;
        let mut out = format!(
            "frames in: {} ({} bytes); delivered {}, replied {}, forwarded {}, passed {}, dropped {}; \
             conservation: {}\n",
            self.frames_in,
            self.bytes_in,
            t.delivered,
            t.replied,
            t.forwarded,
            t.passed,
            t.dropped,
            if self.conservation_holds { "ok" } else { "VIOLATED" }
        );
        if self.fragments_evicted + self.fragments_expired > 0 {
            out.push_str(&format!(
                "fragment cache: {} evicted, {} expired\n",
                self.fragments_evicted, self.fragments_expired
            ));
        }
        let per_stack = self.netstacks.iter().map(|(n, t)| {
            let row = [t.total(), t.delivered, t.replied, t.forwarded, t.passed, t.dropped];
            std::iter::once(n.clone())
                .chain(row.iter().map(u64::to_string))
                .collect()
        });
        out.push('\n');
        out.push_str(
            &table(
                &[
                    "Netstack",
                    "Frames",
                    "Delivered",
                    "Replied",
                    "Forwarded",
                    "Passed",
                    "Dropped",
                ],
                per_stack,
            )
            .to_text(),
        );
        let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
        let per_service = self.cells.iter().map(|c| {
            vec![
                dash(&c.netstack),
                dash(&c.vmk),
                dash(&c.service),
                c.verdict.to_owned(),
                c.reason.unwrap_or("-").to_owned(),
                c.packets.to_string(),
                c.bytes.to_string(),
            ]
        });
        out.push('\n');
        out.push_str(
            &table(
                &["Netstack", "Vmk", "Service", "Verdict", "Reason", "Frames", "Bytes"],
                per_service,
            )
            .to_text(),
        );
        if !self.drops.is_empty() {
            let per_reason = self.drops.iter().map(|(r, n)| vec![(*r).to_owned(), n.to_string()]);
            out.push('\n');
            out.push_str(&table(&["Drop reason", "Frames"], per_reason).to_text());
        }
        out
    }
}

fn table(columns: &[&'static str], rows: impl Iterator<Item = Vec<String>>) -> View {
    View {
        layout: Layout::Table,
        columns: columns.to_vec(),
        rows: rows.collect(),
    }
}
