//! Builds the XDP classifier (`ebpf/classifier`) for `bpfel-unknown-none` and leaves the object in `OUT_DIR`,
//! where `src/xdp` embeds it. The eBPF build needs nightly Rust with `rust-src` and `bpf-linker`; without them
//! the build stops here with the command that installs them, not deep inside aya-build.

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(missing) = check_ebpf_toolchain() {
        eprintln!("error: the XDP classifier cannot be built: {missing}; {INSTALL_HINT}");
        return ExitCode::FAILURE;
    }
    // aya-build watches the eBPF crate; the shared steering code lives beside it.
    println!("cargo:rerun-if-changed=../ebpf/common");
    println!("cargo:rerun-if-changed=../ebpf/toolchain.rs");
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

include!("../ebpf/toolchain.rs");
