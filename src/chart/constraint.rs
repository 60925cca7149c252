//! Version constraints as Helm writes them (`>= 1.25.0-0 < 2.0.0 || ~3.1`),
//! evaluated with the `semver` crate.

use semver::{Version, VersionReq};

/// A constraint that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version constraint `{constraint}`: {reason}")]
pub struct ConstraintError {
    /// The constraint text.
    pub constraint: String,
    /// Why it did not parse.
    pub reason: String,
}

/// A parsed constraint: alternatives joined by `||`, each a set of
/// comparators that must all hold.
#[derive(Debug, Clone)]
pub struct Constraint {
    alternatives: Vec<VersionReq>,
}

impl Constraint {
    /// Parses Helm's syntax: comparators separated by spaces or commas, an
    /// optional space between operator and version, alternatives with `||`.
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let err = |reason: String| ConstraintError {
            constraint: text.to_string(),
            reason,
        };
        let mut alternatives = Vec::new();
        for alt in text.split("||") {
            let mut comparators: Vec<String> = Vec::new();
            let mut pending_op = String::new();
            for token in alt.split(|c: char| c.is_whitespace() || c == ',') {
                if token.is_empty() {
                    continue;
                }
                if token.chars().all(|c| "<>=!~^".contains(c)) {
                    pending_op.push_str(token);
                    continue;
                }
                comparators.push(format!("{}{}", std::mem::take(&mut pending_op), token));
            }
            if !pending_op.is_empty() {
                return Err(err(format!("operator `{pending_op}` has no version")));
            }
            if comparators.is_empty() {
                return Err(err("empty constraint".into()));
            }
            let joined = comparators
                .iter()
                .map(|c| strip_v_after_op(c))
                .collect::<Vec<_>>()
                .join(", ");
            let req = VersionReq::parse(&joined).map_err(|e| err(e.to_string()))?;
            alternatives.push(req);
        }
        Ok(Constraint { alternatives })
    }

    /// True when `version` satisfies one of the alternatives. A pre-release
    /// such as Kubernetes' `1.30.2-gke.100` also matches when its release
    /// version does, which is what Helm's `-0` idiom is used for.
    pub fn matches(&self, version: &Version) -> bool {
        let release = Version::new(version.major, version.minor, version.patch);
        self.alternatives
            .iter()
            .any(|r| r.matches(version) || (!version.pre.is_empty() && r.matches(&release)))
    }
}

fn strip_v_after_op(c: &str) -> String {
    let op_len = c.chars().take_while(|ch| "<>=!~^".contains(*ch)).count();
    let (op, rest) = c.split_at(op_len);
    format!("{op}{}", rest.trim_start_matches('v'))
}

/// Parses a version leniently: a leading `v`, and missing minor/patch
/// (`1.31` -> `1.31.0`), as Kubernetes versions are often written.
pub fn parse_lenient(text: &str) -> Result<Version, semver::Error> {
    let t = text.trim().trim_start_matches('v');
    if let Ok(v) = Version::parse(t) {
        return Ok(v);
    }
    let (core, rest) = match t.find(['-', '+']) {
        Some(i) => t.split_at(i),
        None => (t, ""),
    };
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => t.to_string(),
    };
    Version::parse(&padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: &str, v: &str) -> bool {
        Constraint::parse(c)
            .unwrap()
            .matches(&parse_lenient(v).unwrap())
    }

    #[test]
    fn helm_style_constraints() {
        assert!(m(">= 1.25.0-0", "1.32.3"));
        assert!(m(">=1.25.0-0 <2.0.0", "1.30.2-gke.100"));
        assert!(!m(">= 1.33.0", "v1.32.0"));
        assert!(m("~1.2 || >=3", "3.1.0"));
        assert!(m("^1.2.0, <1.5", "1.4.9"));
        assert!(!m("^1.2.0, <1.5", "1.5.0"));
        assert!(m(">=v1.20", "1.31"));
    }

    #[test]
    fn bad_constraints() {
        assert!(Constraint::parse(">=").is_err());
        assert!(Constraint::parse("").is_err());
        assert!(Constraint::parse(">= banana").is_err());
    }

    #[test]
    fn lenient_versions() {
        assert_eq!(parse_lenient("v1.31").unwrap(), Version::new(1, 31, 0));
        assert_eq!(parse_lenient("2").unwrap(), Version::new(2, 0, 0));
        assert!(parse_lenient("x.y").is_err());
    }
}
