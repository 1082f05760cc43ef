#!/usr/bin/env bash
# Installs what building and testing vmknet's XDP classifier needs on Debian 12 (see shared/TOOLCHAIN.md):
# LLVM/clang 22 and libbpf headers, nightly rust-src (the eBPF crate is built with -Z build-std=core), and
# bpf-linker 0.13.0 linked against LLVM 22; rustfmt and clippy, and a nightly toolchain when rustup lacks them.
# Idempotent; run as root with rustup present.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps.sh: run as root (apt-get install)" >&2
    exit 1
fi

# xdp-tools: xdp-trafficgen, the peer the benchmark's generator stage (bench/src/e2e/generator.rs) measures
# vmknet-pktgen against.
packages=(llvm-22-dev clang-22 m4 libelf-dev zlib1g-dev libbpf-dev pkg-config make ethtool iproute2 procps xdp-tools)
if dpkg-query -W -f='${Status}\n' "${packages[@]}" 2>/dev/null | grep -qv 'install ok installed' \
    || [[ $(dpkg-query -W "${packages[@]}" 2>/dev/null | wc -l) -ne ${#packages[@]} ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${packages[@]}"
else
    echo "apt packages present"
fi

# The stable toolchain's fmt and clippy (the suite runs both), and the nightly the eBPF crates build with.
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        rustup component add "$component"
    fi
done
if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
fi

if command -v bpf-linker >/dev/null; then
    echo "bpf-linker present: $(bpf-linker --version)"
else
    # The base image's llvm-config is LLVM 14: without the prefix the link fails with `unable to find library -lLLVM`.
    LLVM_PREFIX=/usr/lib/llvm-22 cargo install bpf-linker --version 0.13.0 --locked \
        --no-default-features --features llvm-22
fi
