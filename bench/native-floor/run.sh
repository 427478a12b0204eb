#!/usr/bin/env bash
# The floor of a native heartbeat engine on this machine (docs/membership.md#cost): three
# processes in network namespaces on a bridge, each doing exactly one node's heartbeat work of a
# mesh of 3 at 10 ms (drain the socket with recvmmsg, verify the HMAC-SHA256 of what arrived,
# send one HMAC'd 182-byte datagram to each of the 2 peers), in C. Prints each process's CPU in %
# of one core over 20 s. Root; needs gcc and libssl-dev. Everything it creates is removed on exit.
#   sudo bash bench/native-floor/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(mktemp -d)
P=nfl$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for i in 1 2 3; do ip netns del "$P-n$i" 2>/dev/null || true; done
  ip link del "$P-br" 2>/dev/null || true
  rm -rf "$bin"
}
trap cleanup EXIT
gcc -O2 "$here/floor.c" -o "$bin/floor" -lcrypto
ip link add "$P-br" type bridge
ip link set "$P-br" up
for i in 1 2 3; do
  ip netns add "$P-n$i"
  ip link add "$P-v$i" type veth peer name eth0 netns "$P-n$i"
  ip link set "$P-v$i" master "$P-br" up
  ip -n "$P-n$i" addr add "10.77.0.$i/24" dev eth0
  ip -n "$P-n$i" link set eth0 up
done
ip netns exec "$P-n1" "$bin/floor" 10.77.0.1 10.77.0.2 10.77.0.3 & pids+=($!)
ip netns exec "$P-n2" "$bin/floor" 10.77.0.2 10.77.0.1 10.77.0.3 & pids+=($!)
ip netns exec "$P-n3" "$bin/floor" 10.77.0.3 10.77.0.1 10.77.0.2 & pids+=($!)
sleep 5
before=(); for p in "${pids[@]}"; do before+=("$(awk '{print $1}' "/proc/$p/schedstat")"); done
sleep 20
for i in 0 1 2; do
  after=$(awk '{print $1}' "/proc/${pids[$i]}/schedstat")
  awk -v a="${before[$i]}" -v b="$after" -v n="$((i + 1))" 'BEGIN { printf "node %d: %.2f %% of a core\n", n, (b - a) / 1e9 / 20 * 100 }'
done
echo "l2vip's membership thread doing the same work (bench:scale --real-only --real-sizes 3): see its 'membership %' column"
