#!/usr/bin/env python3
# Hadoop's topology script (net.topology.script.file.name), run by the
# namenode: prints one rack per argument, in order. The arguments are IP
# addresses (ScriptBasedMapping passes the address a datanode registered
# from, and clients' addresses). A datanode's rack is "/" plus its node's
# $TOPOLOGY_KEY label; an address that is no datanode of this release, or a
# node without the label, is /default-rack. When the Kubernetes API cannot
# be read it exits 1: Hadoop then uses /default-rack for this call without
# caching the answer, and asks again next time.
import json, os, ssl, sys, urllib.parse, urllib.request

DEFAULT = "/default-rack"


def main(addresses):
    api = os.environ.get("KUBE_API", "https://kubernetes.default.svc")
    sa = os.environ.get("SA_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
    key = os.environ.get("TOPOLOGY_KEY", "topology.kubernetes.io/zone")
    selector = os.environ["DATANODE_SELECTOR"]
    with open(os.path.join(sa, "token")) as f:
        token = f.read().strip()
    with open(os.path.join(sa, "namespace")) as f:
        ns = f.read().strip()
    tls = ssl.create_default_context(cafile=os.path.join(sa, "ca.crt"))

    def get(path):
        req = urllib.request.Request(api + path)
        req.add_header("Authorization", "Bearer " + token)
        req.add_header("Accept", "application/json")
        with urllib.request.urlopen(req, context=tls, timeout=10) as r:
            return json.loads(r.read())

    pods = get("/api/v1/namespaces/%s/pods?labelSelector=%s" % (ns, urllib.parse.quote(selector)))
    node_of = {}
    for pod in pods.get("items") or []:
        ip = (pod.get("status") or {}).get("podIP")
        node = (pod.get("spec") or {}).get("nodeName")
        if ip and node:
            node_of[ip] = node
    racks = {}
    for node in sorted({node_of[a] for a in addresses if a in node_of}):
        labels = (get("/api/v1/nodes/" + urllib.parse.quote(node)).get("metadata") or {}).get("labels") or {}
        racks[node] = "/" + labels[key] if labels.get(key) else DEFAULT
    return [racks.get(node_of.get(a), DEFAULT) for a in addresses]


if __name__ == "__main__":
    try:
        print(" ".join(main(sys.argv[1:])))
    except Exception as e:  # any failure: let Hadoop fall back without caching
        sys.exit("topology script: cannot read the Kubernetes API: %s" % e)
