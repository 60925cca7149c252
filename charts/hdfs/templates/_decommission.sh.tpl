#!/bin/bash
# Runs before every upgrade and rollback (a hook Job, so it is the new
# revision's script even though the chart's ConfigMaps still hold the old
# one). When the datanode StatefulSet is about to shrink, it decommissions
# the datanodes that go, and only then lets the upgrade go on:
#  1. refuse at once when fewer live datanodes would remain than the largest
#     replication factor of any file (HDFS could never finish);
#  2. write their hostnames to the exclude list (ConfigMap $EXCLUDE_CM, which
#     only this hook writes; the namenode mounts it as dfs.hosts.exclude; it
#     is owned by the namenode StatefulSet, so an uninstall removes it);
#  3. `hdfs dfsadmin -refreshNodes` until the namenode has read the new list;
#  4. wait until every one is Decommissioned, printing progress.
# Scaling up takes returning datanodes off the list.
set -euo pipefail
: "${NEW_REPLICAS:?}" "${STS:?}" "${NAMENODE_STS:?}" "${EXCLUDE_CM:?}" "${HOST_SUFFIX:?}" "${REPLICATION:?}"
timeout_s=${TIMEOUT_SECONDS:-21600}
refresh_s=${REFRESH_TIMEOUT_SECONDS:-300}
poll=${POLL_SECONDS:-10}
kube="${PYTHON:-python3} ${KUBE_PY:-/tmp/kube.py}"
work=$(mktemp -d)

# The Kubernetes API through the Pod's service account (the image has
# Python, which its envtoconf.py needs, but no kubectl).
cat > "${KUBE_PY:-/tmp/kube.py}" <<'PY'
import json, os, ssl, sys, urllib.error, urllib.request
api = os.environ.get("KUBE_API", "https://kubernetes.default.svc")
sa = os.environ.get("SA_DIR", "/var/run/secrets/kubernetes.io/serviceaccount")
token = open(os.path.join(sa, "token")).read().strip()
ns = open(os.path.join(sa, "namespace")).read().strip()
tls = ssl.create_default_context(cafile=os.path.join(sa, "ca.crt"))

def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, context=tls, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, {"message": text}

def fail(what, code, body):
    sys.exit("%s: HTTP %s: %s" % (what, code, body.get("message", body)))

cmd, name = sys.argv[1], sys.argv[2]
if cmd == "replicas":
    path = "/apis/apps/v1/namespaces/%s/statefulsets/%s/scale" % (ns, name)
    code, body = call("GET", path)
    if code == 404:
        print(-1)
    elif code == 200:
        print((body.get("spec") or dict()).get("replicas", 0))
    else:
        fail("reading the scale of StatefulSet " + name, code, body)
else:
    key = sys.argv[3]
    path = "/api/v1/namespaces/%s/configmaps/%s" % (ns, name)
    code, body = call("GET", path)
    if code not in (200, 404):
        fail("reading ConfigMap " + name, code, body)
    if cmd == "read":
        if code == 200:
            sys.stdout.write((body.get("data") or dict()).get(key, ""))
    else:
        text = open(sys.argv[4]).read()
        # Owned by the namenode StatefulSet: the garbage collector removes
        # the list with the release, so a later installation never starts
        # with datanodes excluded.
        owner = sys.argv[5]
        c, sts = call("GET", "/apis/apps/v1/namespaces/%s/statefulsets/%s" % (ns, owner))
        if c not in (200, 404):
            fail("reading StatefulSet " + owner, c, sts)
        refs = []
        if c == 200:
            refs = [dict(apiVersion="apps/v1", kind="StatefulSet", name=owner,
                         uid=sts["metadata"]["uid"])]
        if code == 404:
            labels = json.loads(os.environ.get("EXCLUDE_LABELS", "{}"))
            cm = dict(apiVersion="v1", kind="ConfigMap", data={key: text},
                      metadata=dict(name=name, namespace=ns, labels=labels,
                                    ownerReferences=refs))
            code, body = call("POST", "/api/v1/namespaces/%s/configmaps" % ns, cm)
        else:
            body["data"] = dict(body.get("data") or dict())
            body["data"][key] = text
            if refs and not body["metadata"].get("ownerReferences"):
                body["metadata"]["ownerReferences"] = refs
            # The resourceVersion read above makes this a compare-and-swap.
            code, body = call("PUT", path, body)
        if code not in (200, 201):
            fail("writing ConfigMap " + name, code, body)
PY

ordinal() { local h=${1%%.*}; echo "${h##*-}"; }
host() { echo "$STS-$1$HOST_SUFFIX"; }
# "hostname<TAB>decommission status" for every datanode the namenode knows.
statuses() {
  hdfs dfsadmin -report | awk '
    /^Hostname:/ { h = $2 }
    /^Decommission Status :/ { sub(/^Decommission Status : */, ""); print h "\t" $0 }'
}
status_of() { printf '%s\n' "$2" | awk -F '\t' -v h="$1" '$1 == h { print $2; exit }'; }
write_list() {
  printf '%s' "$1" > "$work/list"
  $kube write "$EXCLUDE_CM" dfs.exclude "$work/list" "$NAMENODE_STS"
}

old=$($kube replicas "$STS")
new=$NEW_REPLICAS
current=$($kube read "$EXCLUDE_CM" dfs.exclude)
# Entries of datanodes the new count keeps are returning: off the list.
# A fresh install starts from an empty list (one left by an earlier
# installation must not exclude the new datanodes).
keep=""
if [ "$old" -ge 0 ]; then
  for h in $current; do
    if [ "$(ordinal "$h")" -ge "$new" ]; then keep="$keep $h"; fi
  done
fi
going=""
if [ "$old" -gt "$new" ]; then
  for i in $(seq "$new" $((old - 1))); do going="$going $(host "$i")"; done
fi
want=$(printf '%s\n' $keep $going | sed '/^$/d' | sort -u)
returning=$(printf '%s\n' $current | sed '/^$/d' | sort -u | comm -23 - <(printf '%s\n' "$want"))

if [ -z "$going" ]; then
  if [ -z "$returning" ]; then
    if [ "$old" -lt 0 ]; then old=none; fi
    echo "datanodes: $old -> $new; nothing to decommission"
    exit 0
  fi
  write_list "$want"
  echo "taking returning datanodes off the exclude list:" $returning
  if [ "$old" -lt 0 ]; then exit 0; fi
  deadline=$((SECONDS + refresh_s))
  while :; do
    hdfs dfsadmin -refreshNodes > /dev/null
    table=$(statuses)
    left=""
    for h in $returning; do
      case "$(status_of "$h" "$table")" in Decommission*) left="$left $h" ;; esac
    done
    [ -z "$left" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "FAIL: the namenode still excludes$left after ${refresh_s}s: is $EXCLUDE_CM mounted at dfs.hosts.exclude?" >&2
      exit 1
    fi
    sleep "$poll"
  done
  echo "the namenode has taken them off its exclude list"
  exit 0
fi

echo "datanodes: $old -> $new; decommissioning:$going"
live=$(hdfs dfsadmin -report -live | sed -n 's/^Hostname: //p')
remaining=0
for h in $live; do
  if [ "$(ordinal "$h")" -lt "$new" ]; then remaining=$((remaining + 1)); fi
done
# The largest replication factor of any file (fsck lists each file's).
max=$(hdfs fsck / -files 2> /dev/null | sed -n 's/.* replication=\([0-9][0-9]*\).*/\1/p' | sort -n | tail -n 1)
max=${max:-$REPLICATION}
if [ "$remaining" -lt "$max" ]; then
  echo "FAIL: refusing to scale datanodes from $old to $new: $remaining live datanode(s) would remain, fewer than the largest replication factor in use ($max), so HDFS could never finish decommissioning. Lower that replication first (hdfs dfs -setrep) or keep more datanodes. Nothing was changed." >&2
  exit 1
fi
write_list "$want"

# The kubelet updates the mounted list within about a minute; until the
# namenode reads it, refreshNodes leaves the datanodes Normal.
deadline=$((SECONDS + refresh_s))
while :; do
  hdfs dfsadmin -refreshNodes > /dev/null
  table=$(statuses)
  unseen=""
  for h in $going; do
    if [ "$(status_of "$h" "$table")" = "Normal" ]; then unseen="$unseen $h"; fi
  done
  [ -z "$unseen" ] && break
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "FAIL: after ${refresh_s}s the namenode has not read the new exclude list (still Normal:$unseen); is $EXCLUDE_CM mounted at dfs.hosts.exclude? The StatefulSet was not shrunk." >&2
    exit 1
  fi
  sleep "$poll"
done

deadline=$((SECONDS + timeout_s))
while :; do
  table=$(statuses)
  busy=""
  for h in $going; do
    s=$(status_of "$h" "$table")
    case "$s" in
      Decommissioned | "") ;;
      *) busy="$busy $h"; echo "  $h: $s" ;;
    esac
  done
  if [ -z "$busy" ]; then
    echo "decommissioned:$going; the StatefulSet may shrink"
    exit 0
  fi
  under=$(hdfs dfsadmin -report | sed -n 's/^Under replicated blocks: *//p' | head -n 1)
  echo "  under-replicated blocks: ${under:-unknown}"
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "FAIL: decommissioning did not finish within ${timeout_s}s; the StatefulSet was not shrunk and the datanodes stay excluded (they still serve reads). Run the upgrade again to keep waiting, or keep the replica count to return them." >&2
    exit 1
  fi
  sleep "$poll"
done
