#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what is missing, then formatting, lints, every test (the root
# tests on veth run for real when run as root), and a build check of the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== fuzz targets build"
cargo check --manifest-path fuzz/Cargo.toml --locked --quiet
echo "== cargo test"
cargo test --workspace --locked
