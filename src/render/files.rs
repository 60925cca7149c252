//! Helm's `.Files` for templates: the chart's other files (not
//! `templates/`, not subcharts under `charts/`, not Chart.yaml, values.yaml
//! or values.schema.json), after `.windlassignore`/`.helmignore`.
//!
//! Handlebars cannot call `Files.Get "x"` (a helper name has no dots), so
//! each method is a helper: `filesGet`, `filesGetBytes`, `filesGlob`,
//! `filesLines`, `filesAsConfig`, `filesAsSecrets`.

use std::sync::Arc;

use base64::Engine as _;
use handlebars::{
    Context, Handlebars, Helper, HelperDef, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};
use serde_json::{Map, Value};

use crate::chart::Files;

/// Whether a chart file is one `Files` shows.
fn visible(path: &str) -> bool {
    !(path.starts_with("templates/")
        || path.starts_with("charts/")
        || matches!(
            path,
            "Chart.yaml" | "values.yaml" | "values.schema.json" | "Chart.lock"
        ))
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    GetBytes,
    Glob,
    Lines,
    AsConfig,
    AsSecrets,
}

struct FilesHelper {
    files: Arc<Files>,
    method: Method,
    name: &'static str,
}

impl FilesHelper {
    fn text(&self, path: &str) -> String {
        self.files
            .get(path)
            .filter(|_| visible(path))
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default()
    }

    fn glob(&self, pattern: &str) -> Result<Map<String, Value>, String> {
        let m = globset::GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("bad pattern `{pattern}`: {e}"))?
            .compile_matcher();
        Ok(self
            .files
            .iter()
            .filter(|(p, _)| visible(p) && m.is_match(p.as_str()))
            .map(|(p, f)| {
                (
                    p.clone(),
                    Value::String(String::from_utf8_lossy(&f.data).into_owned()),
                )
            })
            .collect())
    }

    /// The files `AsConfig`/`AsSecrets` turn into data: a map from
    /// `filesGlob`, or a pattern.
    fn chosen(&self, arg: &Value) -> Result<Vec<(String, Vec<u8>)>, String> {
        let paths: Vec<String> = match arg {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::String(p) => self.glob(p)?.keys().cloned().collect(),
            _ => return Err("expects a pattern or the map filesGlob returns".into()),
        };
        Ok(paths
            .into_iter()
            .filter_map(|p| {
                let data = self.files.get(&p)?.data.clone();
                let base = p.rsplit('/').next().unwrap_or(&p).to_string();
                Some((base, data))
            })
            .collect())
    }

    fn call(&self, args: &[&Value]) -> Result<Value, String> {
        let arg = args.first().ok_or("expects an argument")?;
        let text_arg = || arg.as_str().ok_or("expects a path (a string)");
        Ok(match self.method {
            Method::Get => Value::String(self.text(text_arg()?)),
            Method::GetBytes => {
                let path = text_arg()?;
                let data = self
                    .files
                    .get(path)
                    .filter(|_| visible(path))
                    .map(|f| f.data.as_slice())
                    .unwrap_or_default();
                Value::String(base64::engine::general_purpose::STANDARD.encode(data))
            }
            Method::Glob => Value::Object(self.glob(text_arg()?)?),
            Method::Lines => Value::Array(
                self.text(text_arg()?)
                    .lines()
                    .map(|l| Value::String(l.to_string()))
                    .collect(),
            ),
            Method::AsConfig => {
                let data: Map<String, Value> = self
                    .chosen(arg)?
                    .into_iter()
                    .map(|(k, v)| (k, Value::String(String::from_utf8_lossy(&v).into_owned())))
                    .collect();
                Value::String(crate::yaml::to_string(&Value::Object(data)))
            }
            Method::AsSecrets => {
                let data: Map<String, Value> = self
                    .chosen(arg)?
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                        )
                    })
                    .collect();
                Value::String(crate::yaml::to_string(&Value::Object(data)))
            }
        })
    }
}

impl HelperDef for FilesHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        let args: Vec<&Value> = h.params().iter().map(|p| p.value()).collect();
        self.call(&args)
            .map(ScopedJson::Derived)
            .map_err(|m| RenderErrorReason::Other(format!("{}: {m}", self.name)).into())
    }
}

/// Registers the `files*` helpers over one chart's files.
pub(super) fn register(hb: &mut Handlebars<'_>, files: &Files) {
    let files = Arc::new(files.clone());
    for (name, method) in [
        ("filesGet", Method::Get),
        ("filesGetBytes", Method::GetBytes),
        ("filesGlob", Method::Glob),
        ("filesLines", Method::Lines),
        ("filesAsConfig", Method::AsConfig),
        ("filesAsSecrets", Method::AsSecrets),
    ] {
        hb.register_helper(
            name,
            Box::new(FilesHelper {
                files: files.clone(),
                method,
                name,
            }),
        );
    }
}
