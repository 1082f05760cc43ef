//! Builds the XDP classifier (`ebpf/classifier`) for `bpfel-unknown-none` and leaves the object in `OUT_DIR`,
//! where `src/xdp` embeds it. The eBPF build needs nightly Rust with `rust-src` and `bpf-linker`; without them
//! the build stops here with the command that installs them, not deep inside aya-build.

fn main() -> std::process::ExitCode {
    build_ebpf_crate("the XDP classifier", "vmknet-ebpf", "../ebpf/classifier")
}

include!("../ebpf/toolchain.rs");
