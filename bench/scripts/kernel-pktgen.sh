#!/usr/bin/env bash
# Drives the kernel's pktgen (/proc/net/pktgen, CONFIG_NET_PKTGEN) with vmknet-pktgen's `flows` parameters,
# following the conventions of the kernel's samples/pktgen scripts (one kpktgend thread per sender, a device
# per thread as DEV@N, pgset writes checked against the Result line), so the two generators can be compared
# where the kernel has pktgen. Where it has not (the project's CI machines: no CONFIG_NET_PKTGEN), it says so
# and exits 2; use vmknet-pktgen there.
#
# Usage: sudo bench/scripts/kernel-pktgen.sh -i IF [-s SIZE] [-n COUNT] [-d SECONDS] [-t THREADS] [-b BURST]
#            [-r PPS] [--vlan VID] [-m DST_MAC] [-6] [--src-ip RANGE] [--dst-ip RANGE] [--src-port RANGE]
#            [--dst-port RANGE]
#   Same meanings as `vmknet-pktgen flows`: SIZE counts the FCS (pktgen's pkt_size does not: SIZE - 4 is
#   written); COUNT 0 runs until -d SECONDS or Ctrl-C; ranges are FIRST or FIRST-LAST, walked sequentially;
#   threads run on CPUs 0..THREADS-1.
set -euo pipefail

die() { echo "kernel-pktgen.sh: $*" >&2; exit 2; }

iface= size=64 count=0 seconds= threads=1 burst=1 rate=0 vlan= dst_mac=00:00:00:00:00:00 ipv6=0
src_ip= dst_ip= src_port=9 dst_port=9
while [[ $# -gt 0 ]]; do
    case $1 in
    -i | --iface) iface=$2; shift 2 ;;
    -s | --size) size=$2; shift 2 ;;
    -n | --count) count=$2; shift 2 ;;
    -d | --duration) seconds=$2; shift 2 ;;
    -t | --threads) threads=$2; shift 2 ;;
    -b | --burst) burst=$2; shift 2 ;;
    -r | --rate) rate=$2; shift 2 ;;
    --vlan) vlan=$2; shift 2 ;;
    -m | --dst-mac) dst_mac=$2; shift 2 ;;
    -6 | --ipv6) ipv6=1; shift ;;
    --src-ip) src_ip=$2; shift 2 ;;
    --dst-ip) dst_ip=$2; shift 2 ;;
    --src-port) src_port=$2; shift 2 ;;
    --dst-port) dst_port=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
    esac
done
[[ -n $iface ]] || die "-i IF is required"
[[ $(id -u) -eq 0 ]] || die "run as root"
[[ -e /sys/class/net/$iface ]] || die "interface $iface not found"

if [[ ! -d /proc/net/pktgen ]]; then
    modprobe pktgen 2>/dev/null || true
fi
if [[ ! -d /proc/net/pktgen ]]; then
    die "the kernel's pktgen is absent on $(uname -r) (no /proc/net/pktgen; CONFIG_NET_PKTGEN not built, no pktgen \
module): nothing was sent. Use vmknet-pktgen (bench/), which needs no kernel module."
fi

if [[ $ipv6 -eq 1 ]]; then
    src_ip=${src_ip:-fd00::1} dst_ip=${dst_ip:-fd00::2}
else
    src_ip=${src_ip:-10.0.0.1} dst_ip=${dst_ip:-10.0.0.2}
fi
first() { echo "${1%%-*}"; }
last() { if [[ $1 == *-* ]]; then echo "${1#*-}"; else echo "$1"; fi; }

# samples/pktgen/functions.sh: write a command to a thread or device file, fail unless pktgen answers
# "Result: OK" (pgctrl has no Result line: its writes are not checked, as there).
pgset() {
    local file=$1 command=$2
    echo "$command" >"$file"
    grep -q "Result: OK:" "$file" || die "pktgen refused \`$command\` in $file: $(grep Result: "$file")"
}

echo reset >/proc/net/pktgen/pgctrl
devices=()
for ((t = 0; t < threads; t++)); do
    thread=/proc/net/pktgen/kpktgend_$t
    [[ -e $thread ]] || die "no pktgen thread on CPU $t"
    dev=$iface@$t
    pgset "$thread" rem_device_all
    pgset "$thread" "add_device $dev"
    devices+=("$dev")
    d=/proc/net/pktgen/$dev
    share=$((count / threads + (t < count % threads ? 1 : 0)))
    [[ $count -eq 0 ]] && share=0
    pgset "$d" "count $share"
    pgset "$d" "pkt_size $((size - 4))"
    pgset "$d" "burst $burst"
    pgset "$d" "clone_skb 0"
    if [[ $rate -gt 0 ]]; then
        pgset "$d" "ratep $((rate / threads))"
    else
        pgset "$d" "delay 0"
    fi
    pgset "$d" "dst_mac $dst_mac"
    [[ -n $vlan ]] && pgset "$d" "vlan_id $vlan"
    if [[ $ipv6 -eq 1 ]]; then
        pgset "$d" "src6_min $(first "$src_ip")"
        pgset "$d" "src6_max $(last "$src_ip")"
        pgset "$d" "dst6_min $(first "$dst_ip")"
        pgset "$d" "dst6_max $(last "$dst_ip")"
    else
        pgset "$d" "src_min $(first "$src_ip")"
        pgset "$d" "src_max $(last "$src_ip")"
        pgset "$d" "dst_min $(first "$dst_ip")"
        pgset "$d" "dst_max $(last "$dst_ip")"
    fi
    pgset "$d" "udp_src_min $(first "$src_port")"
    pgset "$d" "udp_src_max $(last "$src_port")"
    pgset "$d" "udp_dst_min $(first "$dst_port")"
    pgset "$d" "udp_dst_max $(last "$dst_port")"
done

stop() { echo stop >/proc/net/pktgen/pgctrl 2>/dev/null || true; }
trap stop INT TERM EXIT
echo start >/proc/net/pktgen/pgctrl &
runner=$!
if [[ -n $seconds ]]; then
    sleep "$seconds"
    stop
fi
wait "$runner" || true
for dev in "${devices[@]}"; do
    echo "$dev: $(grep -A2 '^Result:' "/proc/net/pktgen/$dev" | tr -s ' \n' ' ')"
done
