//! Builds vmknet-pktgen's XDP programs (`ebpf/pktgen`) for `bpfel-unknown-none` and leaves the object in
//! `OUT_DIR`, where `src/pktgen` embeds it; like `engine/build.rs` for the classifier.

fn main() -> std::process::ExitCode {
    build_ebpf_crate(
        "the packet generator's XDP programs",
        "vmknet-pktgen-ebpf",
        "../ebpf/pktgen",
    )
}

include!("../ebpf/toolchain.rs");
