#!/bin/bash
# Formats the namenode's metadata directory exactly once. It never passes
# -force and never formats a directory that already holds metadata, so a
# restart, a rescheduled pod or an upgrade cannot wipe the filesystem.
set -euo pipefail
NAME_DIR="${NAME_DIR:?NAME_DIR must be set}"
# Empty: Hadoop generates a unique cluster ID.
CLUSTER_ID="${CLUSTER_ID:-}"

if [ -f "$NAME_DIR/current/VERSION" ]; then
  if compgen -G "$NAME_DIR/current/fsimage_*" > /dev/null; then
    echo "namenode metadata in $NAME_DIR is already formatted; leaving it alone"
    exit 0
  fi
  echo "ERROR: $NAME_DIR/current/VERSION exists but there is no fsimage:" >&2
  echo "an earlier format was interrupted or the metadata is damaged." >&2
  echo "Refusing to format over it. Inspect the volume; to start from scratch," >&2
  echo "delete $NAME_DIR by hand." >&2
  exit 1
fi

if [ -d "$NAME_DIR" ] && [ -n "$(ls -A "$NAME_DIR")" ]; then
  echo "ERROR: $NAME_DIR is not empty but has no current/VERSION; refusing to format it." >&2
  exit 1
fi

mkdir -p "$NAME_DIR"
if [ -n "$CLUSTER_ID" ]; then
  echo "formatting new namenode metadata in $NAME_DIR (cluster ID $CLUSTER_ID)"
  hdfs namenode -format -nonInteractive -clusterid "$CLUSTER_ID"
else
  echo "formatting new namenode metadata in $NAME_DIR (new cluster ID)"
  hdfs namenode -format -nonInteractive
fi
