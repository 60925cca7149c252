#!/bin/bash
# Starts one ZooKeeper server: its id is its StatefulSet ordinal plus one,
# written to the data directory's myid the first time. A data directory that belongs to
# another server id is refused rather than rewritten.
set -eu
data="${ZOO_DATA_DIR:-/data}"
ordinal="${HOSTNAME##*-}"
myid=$((ordinal + 1))
if [ -f "$data/myid" ]; then
  existing="$(cat "$data/myid")"
  if [ "$existing" != "$myid" ]; then
    echo "ERROR: $data/myid says server $existing, but this pod is server $myid; refusing to start on another server's data" >&2
    exit 1
  fi
else
  echo "$myid" > "$data/myid"
fi
exec zkServer.sh start-foreground
