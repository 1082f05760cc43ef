//! The `vmknet` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    vmknet::cli::main()
}
