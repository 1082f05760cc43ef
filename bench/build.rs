//! Builds vmknet-pktgen's XDP programs (`ebpf/pktgen`) for `bpfel-unknown-none` and leaves the object in
//! `OUT_DIR`, where `src/pktgen` embeds it; like `engine/build.rs` for the classifier.

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(missing) = check_ebpf_toolchain() {
        eprintln!("error: the packet generator's XDP programs cannot be built: {missing}; {INSTALL_HINT}");
        return ExitCode::FAILURE;
    }
    // aya-build watches the eBPF crate; the shared rewrite code lives beside it.
    println!("cargo:rerun-if-changed=../ebpf/common");
    println!("cargo:rerun-if-changed=../ebpf/toolchain.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    // Safety: the build script is single-threaded here, nothing reads the environment concurrently.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    let programs = aya_build::Package {
        name: "vmknet-pktgen-ebpf",
        root_dir: "../ebpf/pktgen",
        ..Default::default()
    };
    match aya_build::build_ebpf([programs], aya_build::Toolchain::Nightly) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: building the packet generator's XDP programs failed: {err:#}");
            ExitCode::FAILURE
        }
    }
}

include!("../ebpf/toolchain.rs");
