//! Builds the switch's access-port programs (`ebpf/switch`) for `bpfel-unknown-none` and leaves the object in
//! `OUT_DIR`, where `src/switch.rs` embeds it; like `engine/build.rs` for the classifier.

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(missing) = check_ebpf_toolchain() {
        eprintln!("error: the testbed switch's tc programs cannot be built: {missing}; {INSTALL_HINT}");
        return ExitCode::FAILURE;
    }
    // aya-build watches the eBPF crate; the access-port rule lives beside it.
    println!("cargo:rerun-if-changed=../ebpf/common");
    println!("cargo:rerun-if-changed=../ebpf/toolchain.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    // Safety: the build script is single-threaded here, nothing reads the environment concurrently.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    let programs = aya_build::Package {
        name: "vmknet-switch-ebpf",
        root_dir: "../ebpf/switch",
        ..Default::default()
    };
    match aya_build::build_ebpf([programs], aya_build::Toolchain::Nightly) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: building the testbed switch's tc programs failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

include!("../ebpf/toolchain.rs");
