{{include "fullname" this}}-namenode.{{Release.Namespace}}.svc.{{Values.clusterDomain}}
