//! Builds the switch's access-port programs (`ebpf/switch`) for `bpfel-unknown-none` and leaves the object in
//! `OUT_DIR`, where `src/switch.rs` embeds it; like `engine/build.rs` for the classifier.

fn main() -> std::process::ExitCode {
    build_ebpf_crate(
        "the testbed switch's tc programs",
        "vmknet-switch-ebpf",
        "../ebpf/switch",
    )
}

include!("../ebpf/toolchain.rs");
