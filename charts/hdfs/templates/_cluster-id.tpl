{{Values.clusterId}}
