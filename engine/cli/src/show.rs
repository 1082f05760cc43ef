//! `vmknet show`: esxcli-style views of the host model.

use std::process::ExitCode;

use clap::Args;

use super::{ConfigArg, Format};
use vmknet::model::view::ViewKind;

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// What to show.
    #[arg(value_enum)]
    what: ViewKind,
    #[command(flatten)]
    config: ConfigArg,
    /// Only this netstack (as esxcli's -N).
    #[arg(long, short = 'N', value_name = "NETSTACK")]
    netstack: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn run(args: &ShowArgs) -> ExitCode {
    let model = match args.config.load() {
        Ok(model) => model,
        Err(code) => return code,
    };
    if let Some(n) = &args.netstack
        && model.netstacks.iter().all(|s| s.key.as_str() != n)
    {
        let known: Vec<&str> = model.netstacks.iter().map(|s| s.key.as_str()).collect();
        eprintln!("vmknet: no netstack `{n}` (known: {})", known.join(", "));
        return ExitCode::from(1);
    }
    let view = model.view(args.what, args.netstack.as_deref());
    match args.format {
        Format::Text => super::emit(view.to_text()),
        Format::Json => super::emit(format_args!("{:#}\n", view.to_json())),
    }
    ExitCode::SUCCESS
}
