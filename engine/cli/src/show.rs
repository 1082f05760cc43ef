//! `vmknet show`: esxcli-style views of the host model, and `show neighbors` from a running engine's state
//! directory (see [`super::state`]).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use clap::builder::PossibleValue;
use clap::{Args, ValueEnum};

use super::{ConfigArg, Format, state};
use vmknet::model::view::ViewKind;

/// A view of the host model, or the neighbour tables of a running engine.
#[derive(Clone, Copy, Debug)]
enum What {
    Model(ViewKind),
    Neighbors,
}

impl ValueEnum for What {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: OnceLock<Vec<What>> = OnceLock::new();
        ALL.get_or_init(|| {
            let model = ViewKind::value_variants().iter().map(|&k| What::Model(k));
            model.chain([What::Neighbors]).collect()
        })
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        match self {
            Self::Model(kind) => kind.to_possible_value(),
            Self::Neighbors => Some(PossibleValue::new("neighbors").help(
                "`esxcli network ip neighbor list`: the neighbour tables of the engine running on an interface \
                 (read from its --state-dir)",
            )),
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// What to show.
    #[arg(value_enum)]
    what: What,
    /// `neighbors`: the state directory of the engine (`vmknet run --state-dir`); by default the only one
    /// under /run/vmknet.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
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
    let kind = match args.what {
        What::Model(kind) => kind,
        What::Neighbors => return neighbors(args),
    };
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
    let view = model.view(kind, args.netstack.as_deref());
    match args.format {
        Format::Text => super::emit(view.to_text()),
        Format::Json => super::emit(format_args!("{:#}\n", view.to_json())),
    }
    ExitCode::SUCCESS
}

/// `show neighbors`: the snapshot the engine wrote last.
fn neighbors(args: &ShowArgs) -> ExitCode {
    let snapshot = match state::read_neighbors(args.state_dir.as_deref()) {
        Ok(snapshot) => snapshot,
        Err(message) => {
            eprintln!("vmknet: {message}");
            return ExitCode::from(2);
        }
    };
    let view = snapshot.view(args.netstack.as_deref());
    match args.format {
        Format::Text => super::emit(view.to_text()),
        Format::Json => super::emit(format_args!("{:#}\n", view.to_json())),
    }
    ExitCode::SUCCESS
}
