#!/bin/bash
# Ready once this datanode has registered with the namenode: its JMX
# DataNodeInfo bean then reports the cluster ID. Uses bash's /dev/tcp so the
# image needs no curl.
set -uo pipefail
port="${1:?usage: datanode-ready.sh HTTP_PORT}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
timeout 5 cat <&3 | grep -Eq '"ClusterId" *: *"[^"]+"'
