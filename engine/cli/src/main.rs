//! The `vmknet` command: parsing (clap) and one module per subcommand.
//!
//! A package of its own (`vmknet-cli`) rather than the engine crate's binary, so that subcommands can use the
//! testbed (`vmknet-testbed`), which itself depends on the engine library.
//!
//! Subcommands print human-readable text by default and JSON with `--format json`. Exit status: 0 on
//! success, 1 when the input is refused (an invalid host file, say), 2 on usage or I/O errors.

mod check;
mod demo;
mod ping;
mod replay;
mod run;
mod show;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use vmknet::model::{EMBEDDED_DEFAULT, HostModel, LoadError};

/// VMware ESXi's VMkernel networking layer on a Linux NIC.
#[derive(Debug, Parser)]
#[command(name = "vmknet", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a host file against VMkernel's rules; print every error and warning.
    Check(check::CheckArgs),
    /// Show the host model as esxcli would (netstacks, interfaces, ipv4, ipv6, routes, tags, services).
    Show(show::ShowArgs),
    /// Run captures (pcap, pcapng) through the pipeline and report verdicts per netstack, vmk and service.
    Replay(replay::ReplayArgs),
    /// Run the AF_XDP fast path on an interface until SIGINT/SIGTERM or --duration; print a summary per interval
    /// and the report on exit.
    Run(run::RunArgs),
    /// vmkping (root): start the fast path on an interface and ping from a vmk through its netstack (route,
    /// ARP/ND, egress MTU, VLAN); exit 0 when replies came, 1 when none did.
    Ping(ping::PingArgs),
    /// The embedded default end to end (root): a veth pair in a network namespace, the engine attached, the
    /// vSphere mix and every bad case sent through XDP + AF_XDP, the report and the accounting against the
    /// labels; everything removed on exit.
    Demo(demo::DemoArgs),
    /// Print configuration files.
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the embedded default host file.
    Default,
}

/// Output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// esxcli-style text.
    #[default]
    Text,
    /// JSON, for scripts.
    Json,
}

/// The host file option shared by subcommands.
#[derive(Debug, Args)]
pub(crate) struct ConfigArg {
    /// Host file (TOML); the embedded default host when omitted.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    /// Loads the host, or prints why not and returns the exit code.
    pub(crate) fn load(&self) -> Result<HostModel, ExitCode> {
        HostModel::load_or_default(self.config.as_deref()).map_err(|err| {
            eprintln!("vmknet: {err}");
            match err {
                LoadError::Read { .. } => ExitCode::from(2),
                LoadError::Invalid { .. } => ExitCode::from(1),
            }
        })
    }
}

/// Writes `text` to standard output. A closed pipe (`vmknet show routes | head`) ends the output quietly
/// instead of panicking as `print!` would.
pub(crate) fn emit(text: impl std::fmt::Display) {
    use std::io::Write as _;
    let _ = write!(std::io::stdout().lock(), "{text}");
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Check(args) => check::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Replay(args) => replay::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Ping(args) => ping::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Config {
            what: ConfigCommand::Default,
        } => {
            emit(EMBEDDED_DEFAULT);
            ExitCode::SUCCESS
        }
    }
}
