{{default 3 Values.hdfs.replication}}
