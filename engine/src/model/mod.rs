//! The host model: netstacks, VMkernel adapters, routes and service tags, checked against VMkernel's rules.
//!
//! A host is described in a TOML file (see the README for the schema, and [`EMBEDDED_DEFAULT`] for a full
//! example). [`HostModel::load`] parses it, checks every rule in [`Rule`], and either returns an immutable
//! model (with warnings for practices VMware advises against) or every error found, each naming the file,
//! line and column, the field, the value and the rule. BPF maps, per-stack tables and the `show` views are
//! all compiled from the model; nothing else reads the file.

mod build;
mod diag;
mod host;
mod raw;
mod routes;
mod rules;
mod types;
pub mod view;

use std::path::Path;

pub use build::{DEFAULT_MAX_CONNECTIONS, DEFAULT_MTU, MAX_MTU, MIN_MTU};
pub use diag::{Diagnostic, Diagnostics, Location, Severity};
pub use host::{
    HostModel, Ipv4Mode, Ipv6Setup, Netstack, NetstackId, RouteSource, ServiceState, StaticRoute, TaggedService, Vmk,
    VmkId,
};
pub use routes::RouteEntry;
pub use rules::Rule;
pub use types::{
    CidrError, CongestionControl, IpCidr, IpNetwork, Ipv4Cidr, Ipv6Cidr, MacAddr, NetstackKey, ServiceTag,
};

/// The embedded default host: a realistic ESXi host used when no `--config` is given.
pub const EMBEDDED_DEFAULT: &str = include_str!("default_host.toml");

/// The name diagnostics give the embedded default.
pub const EMBEDDED_DEFAULT_NAME: &str = "<embedded default>";

/// Why a host file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read host file {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file breaks VMkernel rules; every error is listed.
    #[error("{path}: {} error(s)\n{diagnostics}", diagnostics.errors().count())]
    Invalid {
        /// The path given.
        path: String,
        /// Every error and warning.
        diagnostics: Diagnostics,
    },
}

impl HostModel {
    /// Loads and checks the host file at `path`.
    ///
    /// # Errors
    /// [`LoadError::Read`] if the file cannot be read, [`LoadError::Invalid`] with every problem if it breaks
    /// a rule.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: name.clone(),
            source,
        })?;
        Self::from_toml(&name, &text)
    }

    /// Checks host file text; `file` names it in diagnostics.
    ///
    /// # Errors
    /// [`LoadError::Invalid`] with every problem if the text breaks a rule.
    pub fn from_toml(file: &str, text: &str) -> Result<Self, LoadError> {
        build::build(file, text).map_err(|diagnostics| LoadError::Invalid {
            path: file.to_owned(),
            diagnostics,
        })
    }

    /// The embedded default host.
    ///
    /// # Panics
    /// Never in a released build: a test proves the embedded file valid.
    pub fn embedded_default() -> Self {
        match Self::from_toml(EMBEDDED_DEFAULT_NAME, EMBEDDED_DEFAULT) {
            Ok(model) => model,
            Err(err) => panic!("the embedded default host is invalid: {err}"),
        }
    }

    /// The host file at `path`, or the embedded default when `path` is `None`.
    ///
    /// # Errors
    /// As [`HostModel::load`].
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, LoadError> {
        path.map_or_else(|| Ok(Self::embedded_default()), Self::load)
    }

    /// Checks that replacing `self` with `next` is a legal reconfiguration: an adapter's TCP/IP stack is fixed
    /// at creation (fact sheet §1.3 rule 3). Returns the errors; empty when the reload may go ahead.
    pub fn check_reload(&self, next: &HostModel) -> Diagnostics {
        build::check_reload(self, next)
    }
}

#[cfg(test)]
mod tests;
