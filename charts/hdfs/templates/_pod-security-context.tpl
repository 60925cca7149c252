runAsUser: {{Values.security.runAsUser}}
runAsGroup: {{Values.security.runAsGroup}}
fsGroup: {{Values.security.fsGroup}}
fsGroupChangePolicy: OnRootMismatch
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
