{{!-- The parent hdfs chart computes the same name (its zk-fullname) for ha.zookeeper.quorum. --}}
{{trimSuffix "-" (trunc 52 (concat Release.Name "-zookeeper"))}}
