allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{Values.security.readOnlyRootFilesystem}}
capabilities:
  drop:
    - ALL
