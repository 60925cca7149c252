#!/bin/bash
# Waits (bounded) until the namenode's RPC port accepts connections, so
# datanodes do not start before they can register.
set -uo pipefail
host="$1"
port="$2"
timeout="${3:-300}"
deadline=$((SECONDS + timeout))
until (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "namenode $host:$port is not reachable after ${timeout}s" >&2
    exit 1
  fi
  sleep 2
done
echo "namenode $host:$port is reachable"
