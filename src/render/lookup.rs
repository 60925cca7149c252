//! Helm's `lookup`: templates read live objects during install and upgrade
//! (`lookup "apps/v1" "StatefulSet" Release.Namespace "hdfs-datanode"`).
//!
//! `lookup` with four arguments is the cluster lookup (as in Helm); with two
//! it stays Handlebars' own `lookup obj key`. `k8sLookup` is the cluster
//! lookup by a name that cannot be confused. An empty name lists the kind
//! (`{"items": [...]}`); an empty namespace with an empty name lists all
//! namespaces.
//!
//! Rendering is synchronous and the cluster is not, so a render does not
//! call the cluster: it answers from [`RenderOptions::lookups`] and notes
//! each object it was asked for and did not have; the caller fetches those
//! and renders again (`action::render_for`). Offline (`template`, client
//! dry runs) every lookup is an empty map, as in Helm.
//!
//! [`RenderOptions::lookups`]: super::RenderOptions::lookups

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::{json, Value};

/// One cluster lookup's arguments.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct LookupKey {
    /// `apps/v1`.
    pub api_version: String,
    /// `StatefulSet`.
    pub kind: String,
    /// Empty for cluster-scoped kinds, or to list all namespaces.
    pub namespace: String,
    /// Empty to list.
    pub name: String,
}

struct State {
    known: BTreeMap<LookupKey, Value>,
    wanted: BTreeSet<LookupKey>,
    asked: BTreeSet<LookupKey>,
}

thread_local! {
    /// The current render's lookups (`None`: offline, every lookup empty).
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Starts a render with these known answers (`None` renders offline).
pub(super) fn start(known: Option<&BTreeMap<LookupKey, Value>>) {
    STATE.with(|s| {
        *s.borrow_mut() = known.map(|k| State {
            known: k.clone(),
            wanted: BTreeSet::new(),
            asked: BTreeSet::new(),
        })
    });
}

/// This thread's render state, set aside by [`suspend`].
pub(super) struct Suspended(Option<State>);

/// Sets this thread's render state aside, for the thread to work for a
/// render on several threads with a state of its own ([`start`], [`finish`]);
/// [`resume`] puts it back.
pub(super) fn suspend() -> Suspended {
    Suspended(STATE.with(|s| s.borrow_mut().take()))
}

/// Puts back what [`suspend`] set aside.
pub(super) fn resume(suspended: Suspended) {
    STATE.with(|s| *s.borrow_mut() = suspended.0);
}

/// Ends a render: the lookups it needed and did not have, and every
/// lookup it made.
pub(super) fn finish() -> (Vec<LookupKey>, Vec<LookupKey>) {
    STATE.with(|s| {
        s.borrow_mut()
            .take()
            .map(|st| {
                (
                    st.wanted.into_iter().collect(),
                    st.asked.into_iter().collect(),
                )
            })
            .unwrap_or_default()
    })
}

/// Adds what another thread's part of this render looked up (see
/// [`finish`]) to this thread's render.
pub(super) fn merge(wanted: Vec<LookupKey>, asked: Vec<LookupKey>) {
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut() {
            st.wanted.extend(wanted);
            st.asked.extend(asked);
        }
    })
}

fn answer(key: LookupKey) -> Value {
    STATE.with(|s| match s.borrow_mut().as_mut() {
        None => json!({}),
        Some(st) => {
            st.asked.insert(key.clone());
            match st.known.get(&key) {
                Some(v) => v.clone(),
                None => {
                    st.wanted.insert(key);
                    json!({})
                }
            }
        }
    })
}

/// The `lookup` / `k8sLookup` helper.
pub(super) struct Lookup {
    /// `k8sLookup`: four arguments only.
    pub cluster_only: bool,
}

impl HelperDef for Lookup {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        r: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let name = if self.cluster_only {
            "k8sLookup"
        } else {
            "lookup"
        };
        let params = h.params();
        if params.len() == 2 && !self.cluster_only {
            // Handlebars' own lookup, unchanged.
            let (collection, index) = (params[0].value(), params[1].value());
            let value = match collection {
                Value::Array(v) => index.as_u64().and_then(|u| v.get(u as usize)),
                Value::Object(m) => index.as_str().and_then(|k| m.get(k)),
                _ => None,
            };
            if r.strict_mode() && value.is_none() {
                return Err(RenderError::strict_error(None));
            }
            return Ok(ScopedJson::Derived(value.cloned().unwrap_or(Value::Null)));
        }
        let args: Option<Vec<&str>> = params.iter().map(|p| p.value().as_str()).collect();
        let (Some(args), 4) = (args, params.len()) else {
            return Err(RenderErrorReason::Other(format!(
                "{name}: needs four strings (apiVersion kind namespace name){}",
                if self.cluster_only {
                    ""
                } else {
                    ", or an object and a key"
                }
            ))
            .into());
        };
        Ok(ScopedJson::Derived(answer(LookupKey {
            api_version: args[0].to_string(),
            kind: args[1].to_string(),
            namespace: args[2].to_string(),
            name: args[3].to_string(),
        })))
    }
}

/// Registers `lookup` (replacing Handlebars' own, which it still is with
/// two arguments) and `k8sLookup`.
pub(super) fn register(hb: &mut Handlebars<'_>) {
    hb.register_helper(
        "lookup",
        Box::new(Lookup {
            cluster_only: false,
        }),
    );
    hb.register_helper("k8sLookup", Box::new(Lookup { cluster_only: true }));
}
