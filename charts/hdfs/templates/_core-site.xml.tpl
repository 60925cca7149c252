<?xml version="1.0" encoding="UTF-8"?>
<!-- Rendered by windlass from the hdfs chart; hdfs.coreSite adds or overrides keys. -->
<configuration>
{{#each (mergeOverwrite
    (dict
      "fs.defaultFS" (ternary (concat "hdfs://" Values.ha.nameservice) (concat "hdfs://" (include "nn-fqdn" this) ":" Values.namenode.ports.rpc) Values.ha.enabled)
      "hadoop.tmp.dir" "/tmp/hadoop"
      "fs.trash.interval" "1440")
    (ternary (dict "ha.zookeeper.quorum" (include "zk-quorum" this)) (dict) Values.ha.enabled)
    (ternary (dict "hadoop.prometheus.endpoint.enabled" "true") (dict) Values.metrics.enabled)
    (ternary (dict "net.topology.script.file.name" "/opt/windlass/scripts/topology.py") (dict) Values.rackAwareness.enabled)
    Values.hdfs.coreSite)}}
  <property><name>{{xmlEscape @key}}</name><value>{{xmlEscape this}}</value></property>
{{/each}}
</configuration>
