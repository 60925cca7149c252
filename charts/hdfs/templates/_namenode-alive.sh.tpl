#!/bin/bash
# Liveness of the namenode. Once RPC answers, it is alive. Before that it is
# loading its fsimage and replaying edits, which on a big namespace takes
# longer than any fixed budget: it stays alive while its /startupProgress
# keeps moving, and is restarted only when that progress has not moved for
# STALL_SECONDS. Bash's /dev/tcp, so the image needs no curl.
set -u
rpc="${1:?usage: namenode-alive.sh RPC_PORT HTTP_PORT STALL_SECONDS [STATE_FILE]}"
http="${2:?usage: namenode-alive.sh RPC_PORT HTTP_PORT STALL_SECONDS [STATE_FILE]}"
stall="${3:?usage: namenode-alive.sh RPC_PORT HTTP_PORT STALL_SECONDS [STATE_FILE]}"
state="${4:-/tmp/namenode-startup-progress}"
if (exec 3<>"/dev/tcp/127.0.0.1/$rpc") 2> /dev/null; then
  rm -f "$state"
  exit 0
fi
if ! exec 3<>"/dev/tcp/127.0.0.1/$http"; then
  echo "neither RPC (port $rpc) nor HTTP (port $http) answers"
  exit 1
fi
printf 'GET /startupProgress HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
response="$(timeout 5 cat <&3)"
# The first percentComplete is the whole startup's (then come the phases').
pattern='"percentComplete" *: *([0-9.eE+-]+)'
if [[ ! $response =~ $pattern ]]; then
  echo "the namenode's /startupProgress has no percentComplete"
  exit 1
fi
pct="${BASH_REMATCH[1]}"
now=$(date +%s)
last_pct=""
last_time=$now
if [ -f "$state" ]; then
  read -r last_pct last_time < "$state" || true
fi
if [ "$pct" != "$last_pct" ]; then
  echo "$pct $now" > "$state"
  exit 0
fi
if [ $((now - last_time)) -lt "$stall" ]; then
  exit 0
fi
echo "namenode startup has not moved from ${pct} for $((now - last_time))s"
exit 1
