{{include "fullname" this}}-namenode-0.{{include "fullname" this}}-namenode.{{Release.Namespace}}.svc.{{Values.clusterDomain}}
