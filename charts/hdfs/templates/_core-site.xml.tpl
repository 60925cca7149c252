<?xml version="1.0" encoding="UTF-8"?>
<!-- Rendered by windlass from the hdfs chart; hdfs.coreSite adds or overrides keys. -->
<configuration>
{{#each (mergeOverwrite
    (dict
      "fs.defaultFS" (ternary (concat "hdfs://" Values.ha.nameservice) (concat "hdfs://" (include "nn-fqdn" this) ":" Values.namenode.ports.rpc) Values.ha.enabled)
      "hadoop.tmp.dir" "/tmp/hadoop"
      "fs.trash.interval" "1440")
    (ternary (dict "ha.zookeeper.quorum" (include "zk-quorum" this)) (dict) Values.ha.enabled)
    Values.hdfs.coreSite)}}
  <property><name>{{xmlEscape @key}}</name><value>{{xmlEscape this}}</value></property>
{{/each}}
</configuration>
