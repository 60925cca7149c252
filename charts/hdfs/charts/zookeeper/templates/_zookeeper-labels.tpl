app.kubernetes.io/name: {{Chart.Name}}
app.kubernetes.io/instance: {{Release.Name}}
app.kubernetes.io/version: {{quote Chart.AppVersion}}
app.kubernetes.io/managed-by: {{Release.Service}}
app.kubernetes.io/component: zookeeper
