#!/bin/bash
# Formats the namenode's metadata directory exactly once. It never passes
# -force and never formats a directory that already holds metadata, so a
# restart, a rescheduled pod or an upgrade cannot wipe the filesystem.
set -euo pipefail
NAME_DIR="${NAME_DIR:?NAME_DIR must be set}"
# More dfs.namenode.name.dir entries (space-separated): Hadoop keeps a full
# copy of the metadata in each, and fills an empty one from the others.
EXTRA_NAME_DIRS="${EXTRA_NAME_DIRS:-}"
# Empty: Hadoop generates a unique cluster ID.
CLUSTER_ID="${CLUSTER_ID:-}"
read -r -a dirs <<< "$NAME_DIR $EXTRA_NAME_DIRS"

for dir in "${dirs[@]}"; do
  if [ -f "$dir/current/VERSION" ] && compgen -G "$dir/current/fsimage_*" > /dev/null; then
    echo "namenode metadata in $dir is already formatted; leaving it alone"
    exit 0
  fi
done

for dir in "${dirs[@]}"; do
  if [ -f "$dir/current/VERSION" ]; then
    echo "ERROR: $dir/current/VERSION exists but there is no fsimage:" >&2
    echo "an earlier format was interrupted or the metadata is damaged." >&2
    echo "Refusing to format over it. Inspect the volume; to start from scratch," >&2
    echo "delete $dir by hand." >&2
    exit 1
  fi
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ]; then
    echo "ERROR: $dir is not empty but has no current/VERSION; refusing to format it." >&2
    exit 1
  fi
done

for dir in "${dirs[@]}"; do
  mkdir -p "$dir"
done

format() {
  if [ -n "$CLUSTER_ID" ]; then
    echo "formatting new namenode metadata in $NAME_DIR (cluster ID $CLUSTER_ID)"
    hdfs namenode -format -nonInteractive -clusterid "$CLUSTER_ID"
  else
    echo "formatting new namenode metadata in $NAME_DIR (new cluster ID)"
    hdfs namenode -format -nonInteractive
  fi
}

if [ "${HA:-false}" != true ]; then
  format
  exit
fi

# HA: an empty directory is filled from the other namenode whenever that
# one answers (-bootstrapStandby copies its namespace). Only namenode 0
# ever formats, only while the other does not answer, and only once every
# JournalNode answers; -nonInteractive makes Hadoop refuse when the
# JournalNodes already hold edits, so a namenode that lost its volume
# waits for its peer instead of starting an empty filesystem.
ORDINAL="${POD_NAME:?POD_NAME must be set in HA}"
ORDINAL="${ORDINAL##*-}"
peer_var="PEER_$ORDINAL"
PEER="${!peer_var:?$peer_var (host:http-port of the other namenode) must be set in HA}"
RETRY_SECONDS="${RETRY_SECONDS:-10}"
answers() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2> /dev/null; }
while :; do
  if answers "$PEER"; then
    echo "copying the namespace from the other namenode ($PEER)"
    if hdfs namenode -bootstrapStandby -nonInteractive; then
      exit 0
    fi
    echo "bootstrapStandby failed; retrying in ${RETRY_SECONDS}s" >&2
  elif [ "$ORDINAL" = 0 ]; then
    missing=""
    for jn in ${JOURNALNODES:-}; do
      answers "$jn" || missing="$missing $jn"
    done
    if [ -n "$missing" ]; then
      echo "waiting for JournalNodes:$missing"
    elif format; then
      exit 0
    else
      echo "format refused or failed: if the JournalNodes already hold a namespace, this namenode waits for $PEER to copy it from" >&2
      # A refused format leaves the directory as it was; anything else it
      # left behind would make the next attempt refuse too.
      if [ -n "$(ls -A "$NAME_DIR")" ]; then
        echo "ERROR: the failed format left files in $NAME_DIR; inspect them before restarting" >&2
        exit 1
      fi
    fi
  else
    echo "waiting for namenode 0 ($PEER) to format the namespace or answer"
  fi
  sleep "$RETRY_SECONDS"
done
