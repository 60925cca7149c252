{{#if (eq @root.Values.persistence.mode "poc")}}
storageClassName: {{@root.Values.persistence.poc.storageClassName}}
{{else}}
{{#if @root.Values.persistence.storageClassName}}
storageClassName: {{@root.Values.persistence.storageClassName}}
{{/if}}
{{/if}}
