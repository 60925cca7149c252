<?xml version="1.0" encoding="UTF-8"?>
<!-- Rendered by windlass from the hdfs chart; hdfs.hdfsSite adds or overrides keys. -->
<configuration>
{{#each (mergeOverwrite
    (dict
      "dfs.namenode.rpc-bind-host" "0.0.0.0"
      "dfs.namenode.servicerpc-bind-host" "0.0.0.0"
      "dfs.namenode.lifeline.rpc-bind-host" "0.0.0.0"
      "dfs.namenode.http-bind-host" "0.0.0.0"
      "dfs.namenode.https-bind-host" "0.0.0.0"
      "dfs.namenode.name.dir" (include "name-dirs" this)
      "dfs.datanode.data.dir" (include "data-dirs" this)
      "dfs.replication" (include "replication" this)
      "dfs.namenode.datanode.registration.ip-hostname-check" "false"
      "dfs.client.use.datanode.hostname" "true"
      "dfs.datanode.use.datanode.hostname" "true"
      "dfs.datanode.hostname" "${env.POD_FQDN}"
      "dfs.datanode.address" (concat "0.0.0.0:" Values.datanode.ports.data)
      "dfs.datanode.http.address" (concat "0.0.0.0:" Values.datanode.ports.http)
      "dfs.datanode.ipc.address" (concat "0.0.0.0:" Values.datanode.ports.ipc)
      "dfs.datanode.failed.volumes.tolerated" (ternary 1 0 (gt Values.datanode.volumesPerPod 1))
      "dfs.datanode.du.reserved.calculator" "org.apache.hadoop.hdfs.server.datanode.fsdataset.impl.ReservedSpaceCalculator$ReservedSpaceCalculatorPercentage"
      "dfs.datanode.du.reserved.pct" Values.datanode.reservedPercent
      "dfs.namenode.safemode.threshold-pct" Values.hdfs.safemode.thresholdPct
      "dfs.namenode.safemode.min.datanodes" Values.hdfs.safemode.minDatanodes
      "dfs.namenode.safemode.extension" Values.hdfs.safemode.extensionMs
      "dfs.hosts.exclude" (ternary "/etc/hadoop/exclude/dfs.exclude" "" Values.datanode.decommission.enabled))
    (ternary
      (dict
        "dfs.nameservices" Values.ha.nameservice
        (concat "dfs.ha.namenodes." Values.ha.nameservice) "nn0,nn1"
        (concat "dfs.namenode.rpc-address." Values.ha.nameservice ".nn0") (concat (include "fullname" this) "-namenode-0." (include "nn-domain" this) ":" Values.namenode.ports.rpc)
        (concat "dfs.namenode.rpc-address." Values.ha.nameservice ".nn1") (concat (include "fullname" this) "-namenode-1." (include "nn-domain" this) ":" Values.namenode.ports.rpc)
        (concat "dfs.namenode.http-address." Values.ha.nameservice ".nn0") (concat (include "fullname" this) "-namenode-0." (include "nn-domain" this) ":" Values.namenode.ports.http)
        (concat "dfs.namenode.http-address." Values.ha.nameservice ".nn1") (concat (include "fullname" this) "-namenode-1." (include "nn-domain" this) ":" Values.namenode.ports.http)
        (concat "dfs.namenode.servicerpc-address." Values.ha.nameservice ".nn0") (concat (include "fullname" this) "-namenode-0." (include "nn-domain" this) ":" Values.namenode.ports.servicerpc)
        (concat "dfs.namenode.servicerpc-address." Values.ha.nameservice ".nn1") (concat (include "fullname" this) "-namenode-1." (include "nn-domain" this) ":" Values.namenode.ports.servicerpc)
        (concat "dfs.namenode.lifeline.rpc-address." Values.ha.nameservice ".nn0") (concat (include "fullname" this) "-namenode-0." (include "nn-domain" this) ":" Values.namenode.ports.lifeline)
        (concat "dfs.namenode.lifeline.rpc-address." Values.ha.nameservice ".nn1") (concat (include "fullname" this) "-namenode-1." (include "nn-domain" this) ":" Values.namenode.ports.lifeline)
        (concat "dfs.client.failover.proxy.provider." Values.ha.nameservice) "org.apache.hadoop.hdfs.server.namenode.ha.ConfiguredFailoverProxyProvider"
        "dfs.namenode.shared.edits.dir" (include "jn-quorum" this)
        "dfs.journalnode.edits.dir" "/hadoop/dfs/journal"
        "dfs.journalnode.rpc-address" (concat "0.0.0.0:" Values.ha.journalnode.ports.rpc)
        "dfs.journalnode.http-address" (concat "0.0.0.0:" Values.ha.journalnode.ports.http)
        "dfs.ha.automatic-failover.enabled" "true"
        "dfs.ha.fencing.methods" "shell(/bin/true)"
        "dfs.namenode.checkpoint.period" Values.secondaryNamenode.checkpointPeriodSeconds
        "dfs.namenode.checkpoint.txns" Values.secondaryNamenode.checkpointTxns)
      (dict
        "dfs.namenode.rpc-address" (concat (include "nn-fqdn" this) ":" Values.namenode.ports.rpc)
        "dfs.namenode.http-address" (concat (include "nn-fqdn" this) ":" Values.namenode.ports.http)
        "dfs.namenode.servicerpc-address" (concat (include "nn-fqdn" this) ":" Values.namenode.ports.servicerpc)
        "dfs.namenode.lifeline.rpc-address" (concat (include "nn-fqdn" this) ":" Values.namenode.ports.lifeline))
      Values.ha.enabled)
    (ternary
      (dict
        "dfs.namenode.secondary.http-address" (concat "0.0.0.0:" Values.secondaryNamenode.ports.http)
        "dfs.namenode.checkpoint.dir" "file:///hadoop/dfs/namesecondary/snn"
        "dfs.namenode.checkpoint.edits.dir" "file:///hadoop/dfs/namesecondary/snn"
        "dfs.namenode.checkpoint.period" Values.secondaryNamenode.checkpointPeriodSeconds
        "dfs.namenode.checkpoint.txns" Values.secondaryNamenode.checkpointTxns)
      (dict)
      (and Values.secondaryNamenode.enabled (not Values.ha.enabled)))
    Values.hdfs.hdfsSite)}}
  <property><name>{{xmlEscape @key}}</name><value>{{xmlEscape this}}</value></property>
{{/each}}
</configuration>
