#!/usr/bin/env bash
# The main job on the embedded default host: installs what is missing, builds, writes the testbed's labelled
# vSphere traffic for the embedded default host, and runs it through the engine, printing the per-netstack /
# per-vmk / per-service report and the drop reasons; then `vmknet demo` sends the mix and every bad case through
# the real XDP + AF_XDP path (a two-queue veth pair with its peer in a network namespace, needs root) and checks
# the engine's counters against the labels.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release --locked --workspace --bins
bin=target/release
out=target/demo
rm -rf "$out" && mkdir -p "$out"

echo "== the embedded default host"
"$bin/vmknet" check
"$bin/vmknet" show services
echo
echo "== labelled vSphere traffic for it"
"$bin/vmknet-traffic" "$out"
echo
echo "== vSphere mix through the pipeline (per-service captures in $out/split)"
"$bin/vmknet" replay --split-dir "$out/split" "$out/vsphere-mix.pcap"
echo
echo "== every bad case (testbed host: the default plus a default-stack vMotion adapter)"
"$bin/vmknet" replay --config "$out/testbed-host.toml" "$out/bad-cases.pcap"
echo
echo "== full-speed replay of the mix, 3 seconds"
"$bin/vmknet" replay --loop-seconds 3 "$out/vsphere-mix.pcap" | head -1
echo
echo "== the vSphere mix and every bad case through the real XDP + AF_XDP path (veth pair, 2 queues; needs root)"
"$bin/vmknet" demo
