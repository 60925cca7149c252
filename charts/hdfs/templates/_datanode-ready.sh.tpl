#!/bin/bash
# Ready once this datanode has registered with the namenode: its JMX
# DataNodeInfo bean then reports the cluster ID. Uses bash's /dev/tcp so the
# image needs no curl.
# The whole response is read first and matched in bash: a pipe into
# `grep -q` under pipefail failed at random (141) when grep exited first.
set -u
port="${1:?usage: datanode-ready.sh HTTP_PORT}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
printf 'GET /jmx?qry=Hadoop:service=DataNode,name=DataNodeInfo HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
response="$(timeout 5 cat <&3)"
pattern='"ClusterId" *: *"[^"]+"'
[[ $response =~ $pattern ]]
