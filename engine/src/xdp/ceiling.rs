//! The classifier's ceiling mode on its own: the benchmark's "XDP ceiling".
//!
//! A [`Ceiling`] loads the classifier, fills its steering maps from the host model exactly as the engine does
//! ([`SteeringEntries::compile`]), switches ceiling mode on and attaches it. Every frame is classified as in a
//! run of the engine, but a frame steered to a vmk is dropped in the program and counted
//! [`XdpVerdict::Discarded`](vmknet_common::XdpVerdict::Discarded) instead of redirected to a socket; frames
//! that are not VMkernel traffic still pass to Linux and drops still drop with their reason. No socket, UMEM or
//! worker is involved: the rate it sustains is what classifying alone costs. Dropping it detaches the program.

use super::{AttachMode, Classifier, SteeringEntries, XdpCounters, XdpError};
use crate::model::HostModel;

/// The classifier attached in ceiling mode. Dropping it detaches the program.
#[derive(Debug)]
pub struct Ceiling {
    classifier: Classifier,
    mode: AttachMode,
}

impl Ceiling {
    /// Loads the classifier for `model`, in ceiling mode, and attaches it to `interface` in `mode`.
    ///
    /// # Errors
    /// As [`Classifier::load`], [`Classifier::fill_steering`] and [`Classifier::attach`]; nothing stays
    /// attached on error.
    pub fn attach(model: &HostModel, interface: &str, mode: AttachMode) -> Result<Self, XdpError> {
        let n_netstacks = u32::try_from(model.netstacks.len()).unwrap_or(u32::MAX);
        // No socket is ever registered: one queue's worth of (empty) XSKMAP slots is enough.
        let mut classifier = Classifier::load(n_netstacks, 1)?;
        classifier.fill_steering(&SteeringEntries::compile(model))?;
        classifier.set_ceiling(true)?;
        let mode = classifier.attach(interface, mode)?;
        Ok(Self { classifier, mode })
    }

    /// The XDP mode in use (never [`AttachMode::NativeOrGeneric`]).
    pub fn mode(&self) -> AttachMode {
        self.mode
    }

    /// The program's verdict counters now, summed over CPUs.
    ///
    /// # Errors
    /// [`XdpError::Map`] when the kernel refuses the read.
    pub fn counters(&self) -> Result<XdpCounters, XdpError> {
        self.classifier.counters()
    }
}
