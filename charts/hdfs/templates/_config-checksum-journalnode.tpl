{{sha256sum (concat (include "core-site.xml" this) (include "hdfs-site.xml" this) (include "log4j.properties" this))}}
