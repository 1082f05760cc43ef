#!/usr/bin/env bash
# vmknet-pktgen against xdp-trafficgen (xdp-tools) at 64 bytes, in one run, on one veth pair.
#
# Both generators send single-flow UDP/IPv6 frames of 64 bytes plus FCS (xdp-trafficgen 1.3.1 sends only those)
# from one thread pinned to CPU $CPU, on the host end of a veth pair whose peer, in a network namespace, runs
# `vmknet-pktgen sink` (XDP_DROP, counting). Placement: softirq — the veth receive half (NAPI, the sink) runs
# on the sender's CPU. The runs alternate ($ROUNDS each, $RUN_SECONDS seconds each); a run's rate is the
# median of the sink's one-second rates, its first and last (partial) seconds left out. The result is the
# median of each generator's runs, their ratio, and the median of the per-round ratios (each round's two
# runs are neighbours in time, so it suffers least from other load on the machine: the figure to quote); the
# issue's target is vmknet-pktgen >= 0.9x. Each round also shows the 1-minute load average after it.
#
# Usage: sudo bench/scripts/compare-trafficgen.sh
#   ROUNDS=5 RUN_SECONDS=5 CPU=0 PORTS=1   the defaults; PORTS=N > 1 varies the destination port over N
#                                          values in both (xdp-trafficgen -d N, vmknet-pktgen --dst-port 0-(N-1))
#   PKTGEN_BIN=target/debug/vmknet-pktgen  use this binary instead of building the release one
# Needs root, xdp-tools and clang-22 with libbpf headers (scripts/install-deps.sh installs them). Not part of
# the test suite: it takes about ROUNDS x 2 x (RUN_SECONDS + 3) seconds and its figures depend on the load.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
PORTS=${PORTS:-1}
RUN_SECONDS=${RUN_SECONDS:-5}
CPU=${CPU:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)

die() { echo "compare-trafficgen.sh: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "run as root (XDP programs, network namespaces)"
command -v xdp-trafficgen >/dev/null || die "xdp-trafficgen missing: install xdp-tools (scripts/install-deps.sh)"
command -v clang-22 >/dev/null || die "clang-22 missing (scripts/install-deps.sh)"

work=$(mktemp -d)
ns=vmknet-pgcmp-$$
host=vpgc$$a
peer=vpgc$$b
cleanup() {
    ip link del "$host" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# The shim makes xdp-tools 1.3.1 load on kernels without the tracepoints it expects (see the file).
clang-22 -shared -fPIC -O2 -o "$work/xdptools-shim.so" "$root/bench/scripts/xdptools-shim.c" -ldl -lbpf

pktgen=${PKTGEN_BIN:-}
if [[ -z $pktgen ]]; then
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p vmknet-bench --bin vmknet-pktgen
    pktgen=$root/target/release/vmknet-pktgen
fi
pktgen=$(realpath "$pktgen")

ip netns add "$ns"
ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip link add "$host" type veth peer name "$peer" netns "$ns"
# No IPv6 on the host end either: its neighbour discovery would add frames to the counts.
sysctl -qw "net.ipv6.conf.$host.disable_ipv6=1"
ip link set "$host" up
ip -n "$ns" link set "$peer" up

# Runs "$@" for RUN_SECONDS with the sink counting on the peer; prints the median one-second rate in Mpps
# and the frame length the sink saw.
measure() {
    ip netns exec "$ns" "$pktgen" sink -i "$peer" --duration $((RUN_SECONDS + 2)) --interval 1 --format json \
        >"$work/sink.json" 2>"$work/sink.log" &
    local sink=$!
    sleep 1
    timeout -s INT "$RUN_SECONDS" "$@" >"$work/generator.log" 2>&1 || true
    wait "$sink"
    local median
    median=$(awk '/rx/ && $3 > 0 {print $3}' "$work/sink.log" | sed '1d;$d' | sort -g |
        awk '{v[NR] = $1} END {if (NR == 0) print "0"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    local length
    length=$(sed -E 's/.*"bytes":([0-9]+).*"frames":([0-9]+).*/\1 \2/' "$work/sink.json" |
        awk '$2 > 0 {printf "%.0f", $1 / $2}')
    echo "$median ${length:-0}"
}

trafficgen=(env LD_PRELOAD="$work/xdptools-shim.so" taskset -c "$CPU" xdp-trafficgen udp -t 1 "$host")
# xdp-trafficgen 1.3.1 sends 64-byte UDP/IPv6 frames (it does not count the FCS): --size 68 here.
ours=("$pktgen" flows -i "$host" --ipv6 --size 68 --cpus "$CPU" --duration "$RUN_SECONDS")
if [[ $PORTS -gt 1 ]]; then
    trafficgen=("${trafficgen[@]:0:$((${#trafficgen[@]} - 1))}" -d "$PORTS" "$host")
    ours+=(--dst-port "0-$((PORTS - 1))")
fi

echo "kernel $(uname -r), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); sender and veth NAPI on CPU $CPU; $PORTS destination port(s)"
printf '%-6s %-16s %-16s %-7s %-6s %s\n' round xdp-trafficgen vmknet-pktgen ratio load "frame bytes (trafficgen/ours, no FCS)"
tg_rates=()
our_rates=()
ratios=()
for round in $(seq 1 "$ROUNDS"); do
    read -r tg tg_len < <(measure "${trafficgen[@]}")
    read -r us us_len < <(measure "${ours[@]}")
    tg_rates+=("$tg")
    our_rates+=("$us")
    ratios+=("$(awk -v a="$us" -v b="$tg" 'BEGIN {if (b > 0) printf "%.3f", a / b; else print 0}')")
    printf '%-6s %-16s %-16s %-7s %-6s %s\n' "$round" "$tg Mpps" "$us Mpps" "${ratios[-1]}" \
        "$(cut -d' ' -f1 /proc/loadavg)" "$tg_len/$us_len"
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
tg=$(median "${tg_rates[@]}")
us=$(median "${our_rates[@]}")
echo "median of the per-round ratios: $(median "${ratios[@]}")x (target >= 0.9x)"
echo "medians of the runs: xdp-trafficgen $tg Mpps, vmknet-pktgen $us Mpps ($(awk -v a="$us" -v b="$tg" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')x)"
