//! Errors of the XDP loader, each with the hint that fixes it.

use std::io::ErrorKind;

use super::AttachMode;

/// An error loading, configuring or attaching the XDP classifier.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// The kernel refused a BPF operation for lack of privileges.
    #[error("{action}: permission denied; run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON")]
    PermissionDenied {
        /// What was refused.
        action: &'static str,
        /// The kernel's answer.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The classifier object failed to load (parsing it or creating its maps).
    #[error("loading the XDP classifier object (creating its maps) failed")]
    Load(#[source] aya::EbpfError),
    /// The classifier object lacks a map or program this loader expects: the build is out of step.
    #[error("the embedded XDP classifier has no {kind} `{name}`; rebuild the engine")]
    Missing {
        /// `map` or `program`.
        kind: &'static str,
        /// Its name.
        name: &'static str,
    },
    /// An operation on a program failed.
    #[error("{action} failed")]
    Program {
        /// What was attempted.
        action: &'static str,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// Reading or writing a map failed.
    #[error("map `{name}`: {action} failed")]
    Map {
        /// The map.
        name: &'static str,
        /// What was attempted.
        action: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    /// A steering target or socket names a netstack beyond the configured count.
    #[error("netstack {netstack} is out of range: the classifier was loaded for {n_netstacks} netstacks")]
    NetstackOutOfRange {
        /// The offending netstack index.
        netstack: u32,
        /// The configured count.
        n_netstacks: u32,
    },
    /// A socket names an rx queue beyond the configured count.
    #[error("rx queue {queue} is out of range: the classifier was loaded for {n_queues} queues")]
    QueueOutOfRange {
        /// The offending queue.
        queue: u32,
        /// The configured count.
        n_queues: u32,
    },
    /// No interface has this name.
    #[error("interface `{0}` not found (see `ip link`)")]
    InterfaceNotFound(String),
    /// Attaching to an interface failed.
    #[error("attaching the XDP classifier to `{interface}` in {mode} mode failed{hint}")]
    Attach {
        /// The interface.
        interface: String,
        /// The mode tried.
        mode: AttachMode,
        /// What to change, from the kernel's answer.
        hint: &'static str,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
}

impl XdpError {
    /// Wraps a program error from `action`, recognising a lack of privileges.
    pub(super) fn program(action: &'static str, source: aya::programs::ProgramError) -> Self {
        if is_kind(&source, ErrorKind::PermissionDenied) {
            return Self::PermissionDenied {
                action,
                source: Box::new(source),
            };
        }
        Self::Program { action, source }
    }

    /// Wraps a load error, recognising a lack of privileges.
    pub(super) fn load(source: aya::EbpfError) -> Self {
        if is_kind(&source, ErrorKind::PermissionDenied) {
            return Self::PermissionDenied {
                action: "loading the XDP classifier",
                source: Box::new(source),
            };
        }
        Self::Load(source)
    }

    /// Wraps a map error on `name`.
    pub(super) fn map(name: &'static str, action: &'static str, source: aya::maps::MapError) -> Self {
        if is_kind(&source, ErrorKind::PermissionDenied) {
            return Self::PermissionDenied {
                action,
                source: Box::new(source),
            };
        }
        Self::Map { name, action, source }
    }

    /// Wraps an attach error, with the hint its errno suggests.
    pub(super) fn attach(interface: &str, mode: AttachMode, source: aya::programs::ProgramError) -> Self {
        if let aya::programs::ProgramError::UnknownInterface { name } = source {
            return Self::InterfaceNotFound(name);
        }
        if is_kind(&source, ErrorKind::PermissionDenied) {
            return Self::PermissionDenied {
                action: "attaching the XDP classifier",
                source: Box::new(source),
            };
        }
        let hint = if is_kind(&source, ErrorKind::ResourceBusy) {
            "; another XDP program is attached: remove it with `ip link set dev <if> xdp off`"
        } else if mode == AttachMode::Native {
            "; the driver may lack native XDP (or, on veth, the peer has more tx queues than this end has rx \
             queues): try generic mode"
        } else {
            ""
        };
        Self::Attach {
            interface: interface.to_owned(),
            mode,
            hint,
            source,
        }
    }
}

/// Whether an I/O error of `kind` is somewhere in `err`'s source chain.
fn is_kind(err: &(dyn std::error::Error + 'static), kind: ErrorKind) -> bool {
    let mut current = Some(err);
    while let Some(err) = current {
        if err.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == kind) {
            return true;
        }
        current = err.source();
    }
    false
}
