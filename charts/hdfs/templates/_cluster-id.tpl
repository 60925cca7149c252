{{#if Values.clusterId}}{{Values.clusterId}}{{else}}CID-{{trunc 16 (sha256sum (concat Release.Namespace "/" Release.Name))}}{{/if}}
