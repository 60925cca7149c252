{{sha256sum (concat (include "core-site.xml" this) (include "hdfs-site.xml" this) (include "log4j.properties" this) (include "wait-for-namenode.sh" this) (include "datanode-ready.sh" this))}}
