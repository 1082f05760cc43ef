#!/usr/bin/env bash
# Installs the peers the end-to-end benchmark (vmknet-bench) measures vmknet against, on Debian 12: DPDK's
# testpmd with its AF_XDP poll-mode driver (`librte-net-af-xdp23`, a plugin testpmd loads from the PMD
# directory). On bookworm `dpdk-testpmd` is in `dpdk-dev` (with the dev tools), not in `dpdk` (the runtime).
# xdp-bench comes with xdp-tools, which scripts/install-deps.sh installs. The test suite (scripts/test.sh)
# does not call this: the peers' tests skip without them; the benchmark command runs it.
# Idempotent; run as root.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
    echo "install-bench-deps.sh: run as root (apt-get install)" >&2
    exit 1
fi

packages=(dpdk dpdk-dev librte-net-af-xdp23 xdp-tools)
if dpkg-query -W -f='${Status}\n' "${packages[@]}" 2>/dev/null | grep -qv 'install ok installed' \
    || [[ $(dpkg-query -W "${packages[@]}" 2>/dev/null | wc -l) -ne ${#packages[@]} ]]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${packages[@]}"
else
    echo "apt packages present"
fi
