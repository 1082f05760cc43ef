// What the build scripts that build an eBPF crate with aya-build share (`engine/build.rs`, `bench/build.rs`,
// `testbed/build.rs`), pulled in with `include!`: build scripts cannot share a library without a crate of
// their own.

/// Builds the eBPF crate `name` at `root_dir` for `bpfel-unknown-none` into `OUT_DIR`, after checking the
/// toolchain; `what` names its programs in errors. The build stops with the command that installs a missing
/// toolchain, not deep inside aya-build.
fn build_ebpf_crate(what: &str, name: &str, root_dir: &str) -> std::process::ExitCode {
    if let Err(missing) = check_ebpf_toolchain() {
        eprintln!("error: {what} cannot be built: {missing}; {INSTALL_HINT}");
        return std::process::ExitCode::FAILURE;
    }
    // aya-build watches the eBPF crate; the code it shares with userspace lives beside it.
    println!("cargo:rerun-if-changed=../ebpf/common");
    println!("cargo:rerun-if-changed=../ebpf/toolchain.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    // aya-build relays every stderr line of its cargo as a warning; keep only the compiler's own messages.
    // Safety: the build script is single-threaded here, nothing reads the environment concurrently.
    unsafe { std::env::set_var("CARGO_TERM_QUIET", "true") };
    let package = aya_build::Package {
        name,
        root_dir,
        ..Default::default()
    };
    match aya_build::build_ebpf([package], aya_build::Toolchain::Nightly) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: building {what} failed: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

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
