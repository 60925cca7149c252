//! Server-side apply: the typed check (500s), field ownership and
//! conflicts, merging by the schema's list and map semantics, dry runs.

use serde_json::{json, Value};

use super::fields::{self, FieldSet, Seg};
use super::rules::{self, status};
use super::store::{key, now, sort_managers, without_managed, Manager, Reply, Req, Store, Target};
use super::typecheck;

/// Reads an apply body. YAML keys given twice keep the last value, with a
/// Warning, a 400 under `fieldValidation=Strict`, silence under `Ignore`
/// (recordings 68-70); JSON is JSON.
fn parse_apply_body(req: &Req) -> Result<(Value, Vec<String>), Reply> {
    let text = String::from_utf8_lossy(&req.body);
    let looks_json = text.trim_start().starts_with('{');
    if looks_json || !req.content_type.contains("yaml") {
        return Store::parse_body(req).map(|v| (v, Vec::new()));
    }
    let (v, dups) = windlass::yaml::parse_last_key_wins(&text).map_err(|e| {
        Reply::from(status(
            400,
            "BadRequest",
            &format!("error decoding YAML: {e}"),
            Value::Null,
        ))
    })?;
    let lines: Vec<String> = dups
        .iter()
        .map(|d| format!("line {}: key \"{}\" already set in map", d.line, d.key))
        .collect();
    let warnings = match req.query.get("fieldValidation").map(String::as_str) {
        _ if lines.is_empty() => Vec::new(),
        Some("Strict") => {
            return Err(status(
                400,
                "BadRequest",
                &format!(
                    "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
                    lines.join("\n  ")
                ),
                Value::Null,
            )
            .into())
        }
        Some("Ignore") => Vec::new(),
        _ => lines,
    };
    if !v.is_object() {
        return Err(status(400, "BadRequest", "the body must be an object", Value::Null).into());
    }
    Ok((v, warnings))
}

impl Store {
    pub(super) fn apply(&mut self, t: &Target, name: &str, req: &Req, dry_run: bool) -> Reply {
        let (applied, warnings) = match parse_apply_body(req) {
            Ok(x) => x,
            Err(e) => return e,
        };
        if let Err(e) = Self::check_type(t, &applied) {
            return e;
        }
        let mut reply = self.apply_parsed(t, name, req, applied, dry_run);
        reply.warnings.splice(0..0, warnings);
        reply
    }

    fn apply_parsed(
        &mut self,
        t: &Target,
        name: &str,
        req: &Req,
        applied: Value,
        dry_run: bool,
    ) -> Reply {
        if let Some(n) = applied["metadata"]["name"].as_str() {
            if n != name {
                return status(
                    400,
                    "BadRequest",
                    &format!(
                        "the name of the object ({n}) does not match the name on the URL ({name})"
                    ),
                    Value::Null,
                )
                .into();
            }
        }
        let Some(manager) = req.query.get("fieldManager").cloned() else {
            return status(
                400,
                "BadRequest",
                "PATCH with application/apply-patch+yaml requires a fieldManager",
                Value::Null,
            )
            .into();
        };
        // The typed conversion comes first, and fieldValidation does not
        // change it (recordings 63-65).
        let errors = typecheck::apply_errors(&applied, t.res.node());
        if !errors.is_empty() {
            let detail = if errors.len() == 1 {
                errors[0].clone()
            } else {
                format!("errors:\n  {}", errors.join("\n  "))
            };
            return rules::status_without_reason(
                500,
                &format!(
                    "failed to create typed patch object (/{name}; {}): {detail}",
                    t.res.gvk_string()
                ),
            )
            .into();
        }
        if let Err(e) = rules::validate_name(t.res, name) {
            return e.into();
        }
        let force = req.query.get("force").is_some_and(|v| v == "true");
        let ns = t.namespace.clone().unwrap_or_default();
        let k = key(t.res, &ns, name);
        let node = t.res.node();
        let new_set = fields::collect(&applied, node);
        let Some(old) = self.objects.get(&k).cloned() else {
            if let Err(e) = self.namespace_check(t, name, true) {
                return e;
            }
            return self.insert_new(t, &ns, name, applied, req, "Apply", dry_run);
        };
        if let Err(e) = self.namespace_check(t, name, false) {
            return e;
        }

        // Conflicts: fields another manager owns, set here to another value.
        let mut conflicts: Vec<(&Manager, &Vec<Seg>)> = Vec::new();
        for p in &new_set {
            for m in old.managers.iter().filter(|m| m.name != manager) {
                // Owning a list item with fields under it is membership,
                // not a value; the fields themselves conflict, if any.
                let leaf = !fields::has_children(&m.fields, p);
                if leaf
                    && m.fields.contains(p)
                    && fields::get(&old.obj, node, p) != fields::get(&applied, node, p)
                {
                    conflicts.push((m, p));
                }
            }
        }
        if !conflicts.is_empty() && !force {
            return conflict_reply(&conflicts);
        }
        let taken: FieldSet = conflicts.iter().map(|(_, p)| (*p).clone()).collect();

        let mut new = old.obj.clone();
        let old_set = old
            .managers
            .iter()
            .find(|m| m.name == manager && m.operation == "Apply")
            .map(|m| m.fields.clone())
            .unwrap_or_default();
        for p in old_set.difference(&new_set) {
            let shared = old
                .managers
                .iter()
                .any(|m| m.name != manager && m.fields.contains(p));
            if !shared {
                fields::remove(&mut new, node, p);
            }
        }
        let mut body = applied.clone();
        if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("name");
            m.remove("namespace");
        }
        fields::merge(&mut new, &body, node, true);
        rules::apply_defaults(t.res, &mut new, &mut String::new);
        if let Err(e) = rules::validate(t.res, name, &new) {
            return e.into();
        }
        if let Err(e) = rules::check_immutable(t.res, name, &old.obj, &new) {
            return e.into();
        }
        let mut stored = old.clone();
        for m in &mut stored.managers {
            if m.name != manager {
                m.fields.retain(|p| !taken.contains(p));
            }
        }
        let ownership_changed;
        match stored
            .managers
            .iter_mut()
            .find(|m| m.name == manager && m.operation == "Apply")
        {
            Some(m) => {
                ownership_changed = m.fields != new_set;
                if ownership_changed {
                    m.fields = new_set;
                }
            }
            None => {
                ownership_changed = true;
                stored.managers.push(Manager {
                    name: manager.clone(),
                    operation: "Apply",
                    api_version: t.res.api_version(),
                    subresource: None,
                    time: now(),
                    fields: new_set,
                });
            }
        }
        stored.managers.retain(|m| !m.fields.is_empty());
        let changed = without_managed(&new) != without_managed(&old.obj)
            || ownership_changed
            || !taken.is_empty();
        if !changed {
            // A no-op apply writes nothing: same resourceVersion and times (recording 11).
            return (200, self.output(t.res, &old)).into();
        }
        // Any applying manager's entry is stamped with the time of the
        // write, dry run or not (recording 119).
        if let Some(m) = stored
            .managers
            .iter_mut()
            .find(|m| m.name == manager && m.operation == "Apply")
        {
            m.time = now();
        }
        sort_managers(&mut stored.managers);
        self.commit(t, k, stored, new, dry_run)
    }
}

fn conflict_reply(conflicts: &[(&Manager, &Vec<Seg>)]) -> Reply {
    // "using apps/v1" is named for an owner whose entry is an Update (recording 43).
    let describe = |m: &Manager| match (&m.subresource, m.operation) {
        (Some(s), _) => format!(
            "conflict with \"{}\" with subresource \"{s}\" using {}",
            m.name, m.api_version
        ),
        (None, "Update") => format!("conflict with \"{}\" using {}", m.name, m.api_version),
        (None, _) => format!("conflict with \"{}\"", m.name),
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": describe(m), "field": fields::display(p)}))
        .collect();
    let message = if conflicts.len() == 1 {
        format!(
            "Apply failed with 1 conflict: {}: {}",
            describe(conflicts[0].0),
            fields::display(conflicts[0].1)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, p)| format!("{}: {}", describe(m), fields::display(p)))
            .collect();
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    status(409, "Conflict", &message, json!({"causes": causes})).into()
}
