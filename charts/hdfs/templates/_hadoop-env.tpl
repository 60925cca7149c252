- name: HADOOP_CONF_DIR
  value: /etc/hadoop/conf
- name: HADOOP_LOG_DIR
  value: /tmp/hadoop-logs
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
