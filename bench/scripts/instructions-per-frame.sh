#!/usr/bin/env bash
# Instructions per frame of the pipeline on the vSphere mix, measured with callgrind (deterministic, unlike
# wall-clock time on a shared machine): the mix is run 20 and 120 times, and the difference of the two totals
# divided by 100 × the mix's frame count removes start-up (generating the mix, building the tables).
# Usage: bench/scripts/instructions-per-frame.sh   (needs valgrind)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
cargo build --release --quiet -p vmknet-bench --example mix_rounds
bin=target/release/examples/mix_rounds
total() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
frames=$("$bin" 1)
low=$(total 20)
high=$(total 120)
echo "$(( (high - low) / (100 * frames) )) instructions per frame ($frames frames, callgrind)"
