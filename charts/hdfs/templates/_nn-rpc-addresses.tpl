{{!-- One "host:port" list item per namenode's client RPC address, for wait-for-namenode.sh. --}}
- {{quote Values.datanode.waitForNamenode.timeoutSeconds}}
- "{{include "fullname" this}}-namenode-0.{{include "nn-domain" this}}:{{Values.namenode.ports.rpc}}"
{{#if Values.ha.enabled}}
- "{{include "fullname" this}}-namenode-1.{{include "nn-domain" this}}:{{Values.namenode.ports.rpc}}"
{{/if}}
