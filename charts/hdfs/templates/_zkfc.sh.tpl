#!/bin/bash
# Starts the failover controller. The first one to start creates the
# nameservice's znode (-formatZK); -nonInteractive never clears an existing
# one (Hadoop exits 2, ERR_CODE_FORMAT_DENIED, and the znode is kept).
set -u
hdfs zkfc -formatZK -nonInteractive
rc=$?
case "$rc" in
  0) echo "created the failover znode in ZooKeeper" ;;
  2) echo "the failover znode already exists in ZooKeeper; keeping it" ;;
  *)
    echo "hdfs zkfc -formatZK failed (exit $rc): is ZooKeeper (ha.zookeeper.quorum) reachable?" >&2
    exit "$rc"
    ;;
esac
exec hdfs zkfc
