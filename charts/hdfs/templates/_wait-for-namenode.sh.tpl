#!/bin/bash
# Waits (bounded) until a namenode's RPC port accepts connections, so
# datanodes do not start before they can register. With HA any of the
# namenodes given will do: the standby takes registrations too.
set -uo pipefail
timeout="${1:?usage: wait-for-namenode.sh TIMEOUT_SECONDS HOST:PORT...}"
shift
if [ "$#" -eq 0 ]; then
  echo "usage: wait-for-namenode.sh TIMEOUT_SECONDS HOST:PORT..." >&2
  exit 2
fi
deadline=$((SECONDS + timeout))
while :; do
  for address in "$@"; do
    if (exec 3<>"/dev/tcp/${address%:*}/${address##*:}") 2>/dev/null; then
      echo "namenode $address is reachable"
      exit 0
    fi
  done
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "no namenode ($*) is reachable after ${timeout}s" >&2
    exit 1
  fi
  sleep 2
done
