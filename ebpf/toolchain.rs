// The eBPF toolchain check shared by the build scripts that build an eBPF crate with aya-build
// (`engine/build.rs`, `bench/build.rs`, `testbed/build.rs`), pulled in with `include!`: build scripts cannot
// share a library without a crate of their own.

/// What fixes a missing eBPF toolchain.
const INSTALL_HINT: &str = "install the eBPF toolchain with `sudo scripts/install-deps.sh` (see shared/TOOLCHAIN.md)";

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
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .map_err(|err| format!("`{program}`: {err}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("`{program} {}` failed: {}", args.join(" "), stderr.trim()));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
