//! Splitting rendered text into YAML documents, checking each object, and
//! ordering them the way Helm installs them.

use std::collections::HashMap;

use serde_json::Value;

/// Helm's install order (Helm 4, `kind_sorter.go`). Unknown kinds go last,
/// alphabetically.
pub const INSTALL_ORDER: &[&str] = &[
    "PriorityClass",
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

/// One rendered Kubernetes object.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `<chart>/templates/<file>` it came from.
    pub source: String,
    /// The object as YAML, exactly as it will be sent: the rendered
    /// document read with Kubernetes' YAML rules and written back (so an
    /// unquoted `0555` shows as `365`, and comments are gone).
    pub text: String,
    /// The parsed object.
    pub object: Value,
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if the template set one.
    pub namespace: Option<String>,
}

impl Manifest {
    /// `apiVersion/kind namespace/name`, for messages.
    pub fn id(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {} {ns}/{}", self.api_version, self.kind, self.name),
            None => format!("{} {} {}", self.api_version, self.kind, self.name),
        }
    }

    /// The object's annotations.
    pub fn annotations(&self) -> Option<&serde_json::Map<String, Value>> {
        self.object
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
    }
}

/// A rendered document that is not a valid Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template}: document {document}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
pub struct ManifestError {
    /// `<chart>/templates/<file>`.
    pub template: String,
    /// 1-based document index within the template's output.
    pub document: usize,
    /// 1-based line within the document, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// True for a valid DNS-1123 subdomain (lower-case alphanumerics, `-` and
/// `.`, starting and ending alphanumeric, at most 253 characters).
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label_body)
}

/// Roles and bindings take any name that is a valid URL path segment (the
/// API server's ValidateRBACName is path.IsValidPathSegmentName), so
/// `system:controller:x` is valid there though it is no DNS name.
fn is_rbac(api_version: &str) -> bool {
    api_version.starts_with("rbac.authorization.k8s.io/")
}

/// True for a name Kubernetes accepts as one URL path segment.
pub fn is_path_segment_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains(['/', '%'])
}

/// True for a valid DNS-1123 label (at most 63 characters).
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_dns1123_label_body(s)
}

fn is_dns1123_label_body(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_separator(line: &str) -> bool {
    line.strip_prefix("---").is_some_and(|rest| {
        rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t') || rest.starts_with('#')
    })
}

fn is_blank_doc(doc: &str) -> bool {
    doc.lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
}

/// Splits one template's output into manifests, dropping empty documents.
pub fn split(source: &str, rendered: &str) -> Result<Vec<Manifest>, ManifestError> {
    split_all(&[(source, rendered)])
}

/// Splits several templates' outputs (`(source, text)`, in order) into
/// manifests, in the same order; the error is the first in that order.
pub fn split_all(outputs: &[(&str, &str)]) -> Result<Vec<Manifest>, ManifestError> {
    // Documents are slices of the rendered texts, split at `---` lines:
    // (source, 1-based document index, text).
    let docs: Vec<(&str, usize, &str)> = outputs
        .iter()
        .flat_map(|(source, rendered)| {
            documents(rendered)
                .into_iter()
                .map(move |(index, doc)| (*source, index, doc))
        })
        .collect();
    // Documents parse independently: a large render (hundreds of
    // PersistentVolumes) is parsed on every core.
    let parse =
        |(source, document, doc): &(&str, usize, &str)| parse_document(source, *document, doc);
    let threads = crate::cores::cores().min(docs.len() / PARALLEL_DOCS_PER_THREAD);
    let parsed: Vec<Result<Option<Manifest>, ManifestError>> = if threads > 1 {
        let per = docs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = docs
                .chunks(per)
                .map(|chunk| scope.spawn(move || chunk.iter().map(parse).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(v) => v,
                    // A panic in a parser thread is a bug; surface it.
                    Err(p) => std::panic::resume_unwind(p),
                })
                .collect()
        })
    } else {
        docs.iter().map(parse).collect()
    };
    let mut out = Vec::with_capacity(parsed.len());
    for p in parsed {
        if let Some(m) = p? {
            out.push(m);
        }
    }
    Ok(out)
}

/// A template's documents with their 1-based indices, split at `---` lines.
fn documents(rendered: &str) -> Vec<(usize, &str)> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in rendered.split_inclusive('\n') {
        // The line without its break, as `str::lines` gives it.
        let bare = line.strip_suffix('\n').unwrap_or(line);
        if is_separator(bare.strip_suffix('\r').unwrap_or(bare)) {
            docs.push((docs.len() + 1, &rendered[start..at]));
            start = at + line.len();
        }
        at += line.len();
    }
    docs.push((docs.len() + 1, &rendered[start..]));
    docs
}

/// Below this many documents per thread, parsing stays on one thread.
const PARALLEL_DOCS_PER_THREAD: usize = 64;

/// Splits a template's output into documents as it is written, so they can
/// be parsed while the template is still rendering. The documents and
/// their 1-based indices are those [`split_all`] finds in the whole text,
/// however the text is cut into pieces.
#[derive(Debug, Default)]
pub(crate) struct DocStream {
    /// The current document, up to what has been written.
    buf: String,
    /// Where the current (unfinished) line starts in `buf`.
    line_start: usize,
    /// 1-based index of the current document.
    index: usize,
}

impl DocStream {
    /// A stream at the start of a template's output.
    pub(crate) fn new() -> DocStream {
        DocStream {
            index: 1,
            ..DocStream::default()
        }
    }

    /// Appends `piece`, handing each document it completes to `done` with
    /// its index.
    pub(crate) fn push(&mut self, piece: &str, done: &mut impl FnMut(usize, String)) {
        // Only the new text is searched for line breaks: a long line written
        // in many pieces is not scanned again for each.
        let mut from = self.buf.len();
        self.buf.push_str(piece);
        while let Some(nl) = memchr::memchr(b'\n', &self.buf.as_bytes()[from..]) {
            let end = from + nl;
            let bare = &self.buf[self.line_start..end];
            if is_separator(bare.strip_suffix('\r').unwrap_or(bare)) {
                // The next document is likely about as long as this one:
                // room for it up front, rather than growing a copy of the
                // rest by doubling.
                let mut rest = String::with_capacity(self.buf.len().max(256));
                rest.push_str(&self.buf[end + 1..]);
                let mut doc = std::mem::replace(&mut self.buf, rest);
                doc.truncate(self.line_start);
                done(self.index, doc);
                self.index += 1;
                self.line_start = 0;
                from = 0;
            } else {
                self.line_start = end + 1;
                from = end + 1;
            }
        }
    }

    /// Ends the output: the last document (and, when the text ends in a
    /// separator without a line break, the empty one after it).
    pub(crate) fn finish(mut self, done: &mut impl FnMut(usize, String)) {
        let last = &self.buf[self.line_start..];
        if is_separator(last.strip_suffix('\r').unwrap_or(last)) {
            self.buf.truncate(self.line_start);
            done(self.index, self.buf);
            done(self.index + 1, String::new());
        } else {
            done(self.index, self.buf);
        }
    }
}

/// Parses one document of a template's output (`None` when blank).
pub(crate) fn parse_document(
    source: &str,
    document: usize,
    doc: &str,
) -> Result<Option<Manifest>, ManifestError> {
    if is_blank_doc(doc) {
        return Ok(None);
    }
    let err = |line: Option<usize>, message: String| ManifestError {
        template: source.to_string(),
        document,
        line,
        message,
    };
    let object = crate::yaml::parse(doc).map_err(|e| err(e.line, e.message))?;
    let Value::Object(map) = &object else {
        return Err(err(
            None,
            "a manifest must be a map (an object with apiVersion, kind and metadata)".into(),
        ));
    };
    let field = |name: &str| map.get(name).and_then(Value::as_str).map(str::to_string);
    let api_version = field("apiVersion")
        .ok_or_else(|| err(None, "apiVersion is missing or not a string".into()))?;
    let kind = field("kind").ok_or_else(|| err(None, "kind is missing or not a string".into()))?;
    let meta = map.get("metadata").and_then(Value::as_object);
    let name = meta
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .ok_or_else(|| {
            err(
                None,
                format!("{kind}: metadata.name is missing or not a string"),
            )
        })?
        .to_string();
    if is_rbac(&api_version) {
        if !is_path_segment_name(&name) {
            return Err(err(
                None,
                format!("{kind} name `{name}` is not a valid name (it must not be empty, `.` or `..`, nor contain `/` or `%`)"),
            ));
        }
    } else if !is_dns1123_subdomain(&name) {
        return Err(err(
            None,
            format!("{kind} name `{name}` is not a valid DNS-1123 subdomain (lower-case letters, digits, '-' and '.', at most 253 characters)"),
        ));
    }
    let namespace = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // A hook whose annotations do not parse (an unknown event, a weight
    // that is no integer) fails here, naming its template: Helm skips an
    // unknown event silently, and the hook then never runs. Checked as the
    // object is read, on the core that read it, not in a pass over every
    // object after the render.
    if let Err(e) = crate::hook::Hook::parse(&object) {
        return Err(err(None, e.to_string()));
    }
    let text = crate::yaml::to_string_sized(&object, doc.len());
    Ok(Some(Manifest {
        source: source.to_string(),
        text,
        object,
        api_version,
        kind,
        name,
        namespace,
    }))
}

/// Position of a kind in the install order.
pub fn install_rank(kind: &str) -> usize {
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// Sorts manifests into install order; stable, unknown kinds last and
/// alphabetical.
pub fn sort_for_install(manifests: &mut [Manifest]) {
    // The rank is looked up once per manifest, not once per comparison;
    // sort_by_cached_key is stable like sort_by.
    manifests.sort_by_cached_key(|m| {
        let rank = install_rank(&m.kind);
        let unknown = if rank == INSTALL_ORDER.len() {
            m.kind.clone()
        } else {
            String::new()
        };
        (rank, unknown)
    });
}

/// Fails when two manifests name the same object. `default_namespace` fills
/// in objects without one (cluster-scoped kinds are not known offline, so
/// they are compared the same way, which is what users expect).
pub fn check_duplicates(
    manifests: &[Manifest],
    default_namespace: &str,
) -> Result<(), ManifestError> {
    // Keys borrow from the manifests: no copies for hundreds of objects.
    // Hashed with Fx, not SipHash: a template can only slow its own render.
    let mut seen: HashMap<(&str, &str, &str, &str), &Manifest, rustc_hash::FxBuildHasher> =
        HashMap::with_capacity_and_hasher(manifests.len(), Default::default());
    for m in manifests {
        // By group, not version: one object rendered through two versions
        // of its API is still one object (as ObjectRef::of keys them).
        let group = m.api_version.rsplit_once('/').map_or("", |(g, _)| g);
        let namespace = m
            .namespace
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or(default_namespace);
        let key = (group, m.kind.as_str(), namespace, m.name.as_str());
        if let Some(first) = seen.get(&key) {
            return Err(ManifestError {
                template: m.source.clone(),
                document: 0,
                line: None,
                message: format!(
                    "{} `{}` is also rendered by {}",
                    m.kind, m.name, first.source
                ),
            });
        }
        seen.insert(key, m);
    }
    Ok(())
}

/// One manifest's part of a YAML stream: a document start, its source as
/// a comment, its text.
fn stream_pieces(m: &Manifest) -> [&str; 5] {
    ["---\n# Source: ", &m.source, "\n", &m.text, "\n"]
}

/// Formats manifests as one YAML stream, each preceded by its source.
pub fn to_stream(manifests: &[Manifest]) -> String {
    // Sized once: growing by doubling copied a large render's output
    // several times over.
    let len = manifests
        .iter()
        .map(|m| stream_pieces(m).iter().map(|p| p.len()).sum::<usize>())
        .sum();
    let mut out = String::with_capacity(len);
    for m in manifests {
        for piece in stream_pieces(m) {
            out.push_str(piece);
        }
    }
    out
}

/// Writes what [`to_stream`] returns, without building it first: a large
/// render's stream is hundreds of kilobytes, copied once more and faulted
/// into fresh pages only to be written out.
pub fn write_stream(
    manifests: &[Manifest],
    out: &mut (impl std::io::Write + ?Sized),
) -> std::io::Result<()> {
    for m in manifests {
        for piece in stream_pieces(m) {
            out.write_all(piece.as_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_stream_is_the_formatted_one() {
        let m = split(
            "c/templates/t.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n",
        )
        .unwrap();
        let mut written = Vec::new();
        write_stream(&m, &mut written).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), to_stream(&m));
        assert!(to_stream(&m).starts_with("---\n# Source: c/templates/t.yaml\napiVersion: v1\n"));
        assert!(to_stream(&m).ends_with("name: b\n"));
    }

    #[test]
    fn splits_and_drops_empty_documents() {
        let text = "---\n# just a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n--- # second\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: x\n---\n\n";
        let m = split("c/templates/t.yaml", text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].kind, "ConfigMap");
        assert_eq!(m[1].namespace.as_deref(), Some("x"));
        assert_eq!(
            m[0].text,
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a"
        );
    }

    #[test]
    fn windows_line_breaks_and_a_last_document_without_one() {
        // Documents are slices of the rendered text; `---\r\n` separates
        // as `---\n` does, a `---\r\r` line does not (as with str::lines).
        let text = "apiVersion: v1\r\nkind: ConfigMap\r\nmetadata:\r\n  name: a\r\n---\r\napiVersion: v1\nkind: Service\nmetadata:\n  name: b";
        let m = split("t", text).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].name, "a");
        assert_eq!(m[1].name, "b");
        let e = split("t", "apiVersion: v1\n---\r\r\nkind: X\n").unwrap_err();
        assert_eq!(e.document, 1);
        let e = split(
            "t",
            "apiVersion: v1\nkind: X\nmetadata:\n  name: a\n---\r\nb: 2\r\nc: [\r\n",
        )
        .unwrap_err();
        assert_eq!((e.document, e.line), (2, Some(3)), "{e}");
    }

    #[test]
    fn documents_written_in_pieces_are_those_of_the_whole_text() {
        let texts = [
            "",
            "---",
            "---\r",
            "a: 1\n---",
            "a: 1\n---\nb: 2\n",
            "---\n# c\n--- # x\nk: v\n---\n\n",
            "a: 1\r\n---\r\nb: 2\n---\r\r\nc: 3\n----\n--- \n",
            "x: ---\n  ---\n---\tz\n---#\nlast",
        ];
        for text in texts {
            let want: Vec<(usize, String)> = documents(text)
                .into_iter()
                .map(|(i, d)| (i, d.to_string()))
                .collect();
            for size in 1..=text.len().max(1) {
                let mut got = Vec::new();
                let mut stream = DocStream::new();
                let mut done = |i: usize, d: String| got.push((i, d));
                for piece in text.as_bytes().chunks(size) {
                    stream.push(std::str::from_utf8(piece).unwrap(), &mut done);
                }
                stream.finish(&mut done);
                assert_eq!(got, want, "{text:?} in pieces of {size}");
            }
        }
    }

    #[test]
    fn errors_name_template_document_and_line() {
        let e = split(
            "c/templates/t.yaml",
            "apiVersion: v1\nkind: A\nmetadata:\n  name: a\n---\nkind: [\n",
        )
        .unwrap_err();
        assert_eq!(e.document, 2);
        assert!(e.line.is_some());
        assert!(
            e.to_string()
                .starts_with("c/templates/t.yaml: document 2, line"),
            "{e}"
        );
        let e = split("t", "kind: ConfigMap\nmetadata:\n  name: a\n").unwrap_err();
        assert!(e.message.contains("apiVersion"));
        let e = split("t", "apiVersion: v1\nmetadata:\n  name: a\n").unwrap_err();
        assert!(e.message.contains("kind"));
        let e = split("t", "apiVersion: v1\nkind: X\nmetadata: {}\n").unwrap_err();
        assert!(e.message.contains("metadata.name"));
        let e = split(
            "t",
            "apiVersion: v1\nkind: X\nmetadata:\n  name: Bad_Name\n",
        )
        .unwrap_err();
        assert!(e.message.contains("DNS-1123"));
        let e = split("t", "- a\n").unwrap_err();
        assert!(e.message.contains("must be a map"));
        // A hook whose annotations do not parse, in the document it is in.
        let hook = |events: &str| {
            format!("apiVersion: v1\nkind: Pod\nmetadata:\n  name: h\n  annotations:\n    helm.sh/hook: {events}\n")
        };
        let e = split(
            "t",
            &format!("{}---\n{}", hook("pre-install"), hook("pre-instal")),
        )
        .unwrap_err();
        assert_eq!(e.document, 2);
        assert!(e.message.contains("unknown hook `pre-instal`"), "{e}");
        assert!(e.message.contains("Pod h"), "{e}");
    }

    #[test]
    fn install_order_is_helms_and_stable() {
        let mk = |kind: &str, name: &str| Manifest {
            source: "s".into(),
            text: String::new(),
            object: Value::Null,
            api_version: "v1".into(),
            kind: kind.into(),
            name: name.into(),
            namespace: None,
        };
        let mut v = vec![
            mk("StatefulSet", "a"),
            mk("Zeta", "z"),
            mk("Alpha", "y"),
            mk("Service", "s1"),
            mk("ConfigMap", "c"),
            mk("Service", "s2"),
            mk("PersistentVolume", "pv"),
        ];
        sort_for_install(&mut v);
        let names: Vec<_> = v.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["c", "pv", "s1", "s2", "a", "y", "z"]);
    }

    #[test]
    fn duplicates_are_refused() {
        let objects = |docs: &[(&str, &str)]| -> Vec<Manifest> {
            docs.iter()
                .flat_map(|(source, text)| split(source, text).unwrap())
                .collect()
        };
        let all = objects(&[
            (
                "t1",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
            ),
            (
                "t2",
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: ns\n",
            ),
        ]);
        assert!(check_duplicates(&all, "other").is_ok());
        let e = check_duplicates(&all, "ns").unwrap_err();
        assert!(e.message.contains("also rendered by t1"), "{e}");
        // An empty namespace is the release's; one object through two
        // versions of its group is still one object.
        let all = objects(&[
            (
                "t3",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  namespace: ''\n",
            ),
            (
                "t4",
                "apiVersion: apps/v1beta2\nkind: Deployment\nmetadata:\n  name: d\n",
            ),
        ]);
        let e = check_duplicates(&all, "ns").unwrap_err();
        assert!(e.message.contains("also rendered by t3"), "{e}");
    }

    #[test]
    fn rbac_names_are_path_segments() {
        assert!(is_path_segment_name("system:controller:job-controller"));
        assert!(is_path_segment_name("hdfs-topology:data:hdfs"));
        assert!(!is_path_segment_name(".."));
        assert!(!is_path_segment_name("a/b"));
        assert!(!is_path_segment_name("a%2f"));
        let doc = |kind: &str, api: &str| {
            format!("apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: system:x\n")
        };
        let rbac = split(
            "t/templates/r.yaml",
            &doc("ClusterRole", "rbac.authorization.k8s.io/v1"),
        );
        assert!(rbac.is_ok(), "{rbac:?}");
        let cm = split("t/templates/c.yaml", &doc("ConfigMap", "v1"));
        assert!(cm
            .unwrap_err()
            .message
            .contains("not a valid DNS-1123 subdomain"));
    }

    #[test]
    fn dns_names() {
        assert!(is_dns1123_subdomain("hdfs-namenode-0.hdfs"));
        assert!(!is_dns1123_subdomain("-a"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(is_dns1123_label("abc-1"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
    }
}
