file:///hadoop/dfs/name/nn{{#if Values.namenode.persistence.extraNameDir.enabled}},file:///hadoop/dfs/name2/nn{{/if}}
