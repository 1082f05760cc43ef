//! How a frame ends: exactly one verdict per frame.

use vmknet_common::DropReason;

use super::service::Service;
use crate::model::VmkId;

/// The end of one frame's way through the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Handed to the service's sink on the vmk's netstack.
    Delivered(Service),
    /// Answered in place by a responder (ARP, ND, ICMP echo); the frame now holds the reply.
    Replied(Service),
    /// Transmitted on another interface.
    Forwarded(Service),
    /// Not VMkernel traffic: left to the Linux stack.
    Passed,
    /// Dropped, with the reason and, when known, the service the frame was for.
    Dropped {
        /// Why.
        reason: DropReason,
        /// The service refused, if the frame got that far.
        service: Option<Service>,
    },
}

impl Verdict {
    /// Number of verdict kinds a counter distinguishes: four plus one per drop reason.
    pub const KINDS: usize = 4 + DropReason::COUNT;

    /// A drop for `reason` before any service was known.
    pub const fn drop(reason: DropReason) -> Self {
        Self::Dropped { reason, service: None }
    }

    /// The service the frame was for, if known.
    pub const fn service(self) -> Option<Service> {
        match self {
            Self::Delivered(s) | Self::Replied(s) | Self::Forwarded(s) => Some(s),
            Self::Dropped { service, .. } => service,
            Self::Passed => None,
        }
    }

    /// Dense index of the verdict kind (a drop per reason), for counter arrays.
    pub const fn kind_index(self) -> usize {
        match self {
            Self::Delivered(_) => 0,
            Self::Replied(_) => 1,
            Self::Forwarded(_) => 2,
            Self::Passed => 3,
            Self::Dropped { reason, .. } => 4 + reason as usize,
        }
    }

    /// The name of the kind at `index` (`delivered`, ..., or the drop reason).
    pub fn kind_name(index: usize) -> &'static str {
        match index {
            0 => "delivered",
            1 => "replied",
            2 => "forwarded",
            3 => "passed",
            i => DropReason::ALL.get(i - 4).map_or("?", |r| r.name()),
        }
    }
}

/// A frame's verdict and the adapter it was tied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Outcome {
    /// The vmk the frame was steered to; `None` for frames that are not VMkernel traffic or too broken to tell.
    pub vmk: Option<VmkId>,
    /// The verdict.
    pub verdict: Verdict,
}
