//! Labels: the verdict a VMkernel host must give a frame, in the pipeline's vocabulary of services and drop
//! reasons. Only the names are shared: which verdict a frame deserves is decided by the testbed's own
//! statement of the rules (`expect`), never by the pipeline.

use serde::{Deserialize, Serialize};
use vmknet::model::Vmk;

/// The services, as the pipeline names them.
pub use vmknet::pipeline::Service;
/// The drop reasons, as the pipeline (and the XDP program) name them.
pub use vmknet_common::DropReason as Reason;

/// The pipeline's verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Handed to the vmk's netstack.
    Delivered,
    /// Answered by a responder (echo, ARP, neighbour solicitation); not produced in this increment.
    Replied,
    /// Routed onwards; not produced in this increment.
    Forwarded,
    /// Not VMkernel traffic: left to Linux.
    Passed,
    /// Dropped, with a [`Reason`].
    Dropped,
}

impl Verdict {
    /// The label spelling.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Replied => "replied",
            Self::Forwarded => "forwarded",
            Self::Passed => "passed",
            Self::Dropped => "dropped",
        }
    }
}

/// The expected verdict for one frame: one line of a `.labels.jsonl` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// `delivered`, `replied`, `forwarded`, `passed` or `dropped`.
    pub verdict: String,
    /// The service, when the pipeline got as far as demultiplexing.
    pub service: Option<String>,
    /// The drop reason, for `dropped`.
    pub reason: Option<String>,
    /// The vmk the frame was steered to; `None` for Linux's traffic and drops before steering.
    pub vmk: Option<String>,
    /// Short human description of the scenario the frame belongs to.
    pub scenario: String,
}

impl Label {
    /// Delivered to `vmk`'s netstack as `service`.
    pub fn delivered(vmk: &Vmk, service: Service, scenario: impl Into<String>) -> Self {
        Self::with(Verdict::Delivered, Some(service), None, Some(vmk), scenario)
    }

    /// Answered by a responder on `vmk`.
    pub fn replied(vmk: &Vmk, service: Service, scenario: impl Into<String>) -> Self {
        Self::with(Verdict::Replied, Some(service), None, Some(vmk), scenario)
    }

    /// Not VMkernel traffic.
    pub fn passed(scenario: impl Into<String>) -> Self {
        Self::with(Verdict::Passed, None, None, None, scenario)
    }

    /// Dropped for `reason`, after steering to `vmk` if any, after demultiplexing to `service` if any.
    pub fn dropped(reason: Reason, vmk: Option<&Vmk>, service: Option<Service>, scenario: impl Into<String>) -> Self {
        Self::with(Verdict::Dropped, service, Some(reason), vmk, scenario)
    }

    fn with(
        verdict: Verdict,
        service: Option<Service>,
        reason: Option<Reason>,
        vmk: Option<&Vmk>,
        scenario: impl Into<String>,
    ) -> Self {
        Self {
            verdict: verdict.name().to_owned(),
            service: service.map(|s| s.name().to_owned()),
            reason: reason.map(|r| r.name().to_owned()),
            vmk: vmk.map(|v| v.name.clone()),
            scenario: scenario.into(),
        }
    }

    /// Whether this label drops for `reason`.
    pub fn is_dropped_for(&self, reason: Reason) -> bool {
        self.reason.as_deref() == Some(reason.name())
    }
}

/// A frame as it arrives on the uplink, and what the host must do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledFrame {
    /// The Ethernet frame, without FCS.
    pub bytes: Vec<u8>,
    /// The expected verdict.
    pub label: Label,
}
