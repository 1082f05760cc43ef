//! Builds the XDP classifier (`ebpf/classifier`) for `bpfel-unknown-none` and leaves the object in `OUT_DIR`,
//! where `src/xdp` embeds it. The eBPF build needs nightly Rust with `rust-src` and `bpf-linker`; without them
//! the build stops here with the command that installs them, not deep inside aya-build.

use std::process::{Command, ExitCode};

const INSTALL_HINT: &str = "install the eBPF toolchain with `sudo scripts/install-deps.sh` (see shared/TOOLCHAIN.md)";

fn main() -> ExitCode {
    if let Err(missing) = check_ebpf_toolchain() {
        eprintln!("error: the XDP classifier cannot be built: {missing}; {INSTALL_HINT}");
        return ExitCode::FAILURE;
    }
    // aya-build watches the eBPF crate; the shared steering code lives beside it.
    println!("cargo:rerun-if-changed=../ebpf/common");
    println!("cargo:rerun-if-env-changed=PATH");
    // aya-build relays every stderr line of its cargo as a warning; keep only the compiler's own messages.
    // Safety: the build script is single-threaded here, nothing reads the environment concurrently.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    let classifier = aya_build::Package {
        name: "vmknet-ebpf",
        root_dir: "../ebpf/classifier",
        ..Default::default()
    };
    match aya_build::build_ebpf([classifier], aya_build::Toolchain::Nightly) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: building the XDP classifier failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Checks for the pieces aya-build assumes: `rustup`, a nightly toolchain with `rust-src`, and `bpf-linker`.
fn check_ebpf_toolchain() -> Result<(), String> {
    let sysroot = run("rustup", &["run", "nightly", "rustc", "--print", "sysroot"])
        .map_err(|err| format!("no nightly Rust toolchain ({err})"))?;
    let library = std::path::Path::new(sysroot.trim()).join("lib/rustlib/src/rust/library/core");
    if !library.is_dir() {
        return Err("the nightly toolchain lacks the rust-src component".into());
    }
    run("bpf-linker", &["--version"]).map_err(|err| format!("bpf-linker is not installed ({err})"))?;
    Ok(())
}

fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("`{program}`: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("`{program} {}` failed: {}", args.join(" "), stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
