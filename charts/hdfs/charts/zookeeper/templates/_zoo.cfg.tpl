tickTime={{Values.tickTime}}
initLimit={{Values.initLimit}}
syncLimit={{Values.syncLimit}}
dataDir=/data
clientPort={{Values.ports.client}}
autopurge.snapRetainCount={{Values.autopurge.snapRetainCount}}
autopurge.purgeInterval={{Values.autopurge.purgeIntervalHours}}
# The readiness probe asks `srvr`; nothing else is let through.
4lw.commands.whitelist=srvr
admin.enableServer=false
reconfigEnabled=false
# A server's own name resolves to its pod address; listen on every address.
quorumListenOnAllIPs=true
{{#each (range Values.replicas) as |i|}}
server.{{add i 1}}={{include "zookeeper-fullname" @root}}-{{i}}.{{include "zookeeper-fullname" @root}}-headless.{{@root.Release.Namespace}}.svc:{{@root.Values.ports.quorum}}:{{@root.Values.ports.election}};{{@root.Values.ports.client}}
{{/each}}
