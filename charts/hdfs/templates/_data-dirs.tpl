{{#each (range Values.datanode.volumesPerPod) as |v|}}{{#unless @first}},{{/unless}}[DISK]file:///hadoop/dfs/data{{v}}/dn{{/each}}
