#!/bin/bash
# Ready when the server serves requests: `srvr` then reports its Mode
# (leader, follower or standalone); outside a quorum it says it is not
# currently serving. The whole reply is read before matching (no pipe into
# grep -q, which fails at random under pipefail).
set -u
port="${1:?usage: zookeeper-ready.sh CLIENT_PORT}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'srvr' >&3
reply="$(timeout 5 cat <&3)"
pattern='Mode: (leader|follower|standalone)'
[[ $reply =~ $pattern ]]
