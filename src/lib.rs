//! windlass: a Helm-style chart packager and installer.
//!
//! Data flows one way: **chart -> values -> render -> plan (diff) -> apply ->
//! release record**. Each stage lives in its own module and exposes typed
//! errors (`thiserror`); the CLI in `src/cli/` only parses flags and formats
//! output.

#![warn(missing_docs)]

pub mod action;
pub mod chart;
pub mod cluster;
pub(crate) mod cores;
pub mod diff;
pub mod hook;
pub mod lint;
pub mod object;
pub mod openapi;
pub mod package;
pub mod release;
pub mod render;
pub mod repo;
pub mod values;
pub mod yaml;

/// The field manager, `managed-by` label value and `Release.Service` that
/// windlass writes.
pub const TOOL_NAME: &str = "windlass";
