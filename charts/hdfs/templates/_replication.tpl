{{default (min 3 Values.datanode.replicas) Values.hdfs.replication}}
