//! `vmknet check`: validate a host file and report every finding.

use std::process::ExitCode;

use clap::Args;

use super::{ConfigArg, Format};
use vmknet::model::{Diagnostics, HostModel, LoadError};

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    #[command(flatten)]
    config: ConfigArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: &CheckArgs) -> ExitCode {
    let (diagnostics, valid, summary) = match HostModel::load_or_default(args.config.config.as_deref()) {
        Ok(model) => {
            let summary = format!(
                "{}: valid: {} netstacks, {} VMkernel adapters, {} static routes",
                model.name,
                model.netstacks.len(),
                model.vmks.len(),
                model.routes.len()
            );
            (model.warnings, true, summary)
        }
        Err(LoadError::Invalid { path, diagnostics }) => {
            let summary = format!("{path}: invalid: {} error(s)", diagnostics.errors().count());
            (diagnostics, false, summary)
        }
        Err(err @ LoadError::Read { .. }) => {
            eprintln!("vmknet: {err}");
            return ExitCode::from(2);
        }
    };
    print_report(&diagnostics, valid, &summary, args.format);
    if valid { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn print_report(diagnostics: &Diagnostics, valid: bool, summary: &str, format: Format) {
    match format {
        Format::Text => {
            let warnings = diagnostics.warnings().count();
            super::emit(format_args!("{diagnostics}{summary}, {warnings} warning(s)\n"));
        }
        Format::Json => {
            let report = serde_json::json!({ "valid": valid, "summary": summary, "diagnostics": diagnostics });
            super::emit(format_args!("{report:#}\n"));
        }
    }
}
