//! Hand-made measurements for the tests of the modules that turn them into figures.

use super::model::{Load, Measurement, Placement, Subject};

/// A measurement delivering `mpps` of 20 Mpps offered; the fields the summaries do not read zero.
pub(crate) fn measurement(placement: Placement, subject: Subject, load: Load, rep: u32, mpps: f64) -> Measurement {
    Measurement {
        rep,
        placement,
        subject,
        load,
        seconds: 10.0,
        offered_pps: 20e6,
        delivered_pps: mpps * 1e6,
        dropped: 0,
        cpu: Vec::new(),
        peak_rss_kib: None,
        other_cpu_percent: 0.0,
    }
}
