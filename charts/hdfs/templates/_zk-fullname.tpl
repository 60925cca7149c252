{{!-- The bundled ZooKeeper's base name; charts/zookeeper names its objects the same way. --}}
{{trimSuffix "-" (trunc 52 (concat Release.Name "-zookeeper"))}}
