#!/usr/bin/env bash
# The end-to-end benchmark in one command (root): installs what is missing (the build's dependencies, then
# the comparison peers: DPDK's testpmd and its AF_XDP driver), builds in release and runs `vmknet-bench run`:
# vmknet-pktgen against xdp-trafficgen at 64 bytes, then the generator against the XDP ceiling, xdp-bench,
# vmknet's bare AF_XDP rings, the engine (poll and busy idle), DPDK and the kernel's UDP socket path, for
# every frame size and the vSphere mix, in both placements, then the latency runs. Writes bench/results/:
# report.md (the table the README shows), report.json and the SVG plots.
#
# Usage: sudo scripts/bench.sh [vmknet-bench run options, e.g. --reps 5 --seconds 3 --loads 64,mix]
# About 15 minutes with the defaults (3 repetitions of 2 s, 6 loads, 8 subjects, 2 placements). Not part of
# the test suite, which runs a short bounded version (bench/tests/e2e.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/install-bench-deps.sh
cargo build --release --locked -p vmknet-bench --bins
target/release/vmknet-bench run --out bench/results "$@"
cat bench/results/report.md
