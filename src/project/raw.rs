//! The two file formats a user writes, exactly as serde reads them: `winebuild.toml` and the
//! TOML header of a model. Unknown keys are errors (`deny_unknown_fields`), so a typo never
//! silently changes nothing.
//!
//! These structs exist for serde's friendly messages ("unknown field `keys`, expected one of …");
//! [`super::spec`] turns each into a typed spec once, when the project loads, and nothing else
//! reads them. They also give each stage the definition its cache key hashes
//! ([`super::spec::ExportSpec::definition`], [`super::spec::CheckSpec::definition`]), so the
//! store's keys do not change when the typed specs do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CheckKind, Severity, SourceDef, SummaryDef};

/// `winebuild.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectFile {
    pub(crate) project: ProjectSection,
    #[serde(default)]
    pub(crate) sources: BTreeMap<String, SourceDef>,
    #[serde(default)]
    pub(crate) exports: BTreeMap<String, ExportDef>,
    #[serde(default)]
    pub(crate) summary: SummaryDef,
    /// `[notify]` (one table) or `[[notify]]` (several): read as a value, so that a mistake is
    /// said of the entry it is in ([`notify_defs`]), not as serde's "did not match any variant".
    #[serde(default)]
    pub(crate) notify: Option<toml::Value>,
    #[serde(default)]
    pub(crate) limits: crate::sources::limits::LimitsDef,
    #[serde(default)]
    pub(crate) build: BuildSection,
    #[serde(default)]
    pub(crate) remote: crate::remote::RemoteDef,
    #[serde(default)]
    pub(crate) engine: crate::cluster::EngineDef,
}

/// `[build]`: what a build may spend on one stage.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BuildSection {
    /// The longest one model or check query may run: `90s`, `30m`, `2h`.
    #[serde(default)]
    pub(crate) stage_timeout: Option<String>,
    /// The memory one query may use, for its operators and its result.
    #[serde(default)]
    pub(crate) query_memory_mb: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProjectSection {
    pub(crate) name: String,
    #[serde(default = "default_data")]
    pub(crate) data: String,
    #[serde(default = "default_out")]
    pub(crate) out: String,
    /// Lets `out` lead outside the project folder (another disk, a network share).
    #[serde(default)]
    pub(crate) out_outside_project: bool,
}

fn default_data() -> String {
    "data/{month}".into()
}

fn default_out() -> String {
    "out/{month}".into()
}

/// The entries of `[notify]` or `[[notify]]`, each read on its own so that an error names it.
pub(crate) fn notify_defs(value: Option<toml::Value>) -> Result<Vec<NotifyDef>, String> {
    let entries: Vec<(String, toml::Value)> = match value {
        None => Vec::new(),
        Some(table @ toml::Value::Table(_)) => vec![("[notify]".to_string(), table)],
        Some(toml::Value::Array(entries)) => entries
            .into_iter()
            .enumerate()
            .map(|(i, entry)| (format!("[[notify]] number {}", i + 1), entry))
            .collect(),
        Some(other) => {
            return Err(format!(
                "`notify` is a {}; write it as a [notify] table, or [[notify]] tables for several",
                other.type_str()
            ));
        }
    };
    entries
        .into_iter()
        .map(|(label, entry)| {
            NotifyDef::deserialize(entry).map_err(|e| format!("{label}: {}", e.message()))
        })
        .collect()
}

/// The TOML header of a model file: its inputs and settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelHeader {
    pub(crate) inputs: Vec<String>,
    /// The columns that identify a row (the user-facing word is `key`).
    #[serde(default)]
    pub(crate) key: Vec<String>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Labels for selection (`--select tag:finance`); no part of any key.
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// Where the query runs when a cluster is configured; no part of any key (both engines give
    /// the same bytes).
    #[serde(default)]
    pub(crate) engine: super::EngineChoice,
    #[serde(default)]
    pub(crate) checks: Vec<CheckDef>,
}

/// One `[[checks]]` entry of a model header. The fields a kind does not use must be absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckDef {
    pub(crate) name: String,
    pub(crate) kind: CheckKind,
    #[serde(default)]
    pub(crate) severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) column: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) values: Vec<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) equals: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) same_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) assert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) actual: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sql: Option<String>,
}

impl CheckDef {
    /// A check of `kind` named `name` with no field set, for building one field by field.
    pub(crate) fn bare(name: &str, kind: CheckKind, severity: Severity) -> CheckDef {
        CheckDef {
            name: name.to_string(),
            kind,
            severity,
            message: None,
            columns: Vec::new(),
            column: None,
            values: Vec::new(),
            equals: None,
            min: None,
            max: None,
            same_as: None,
            to: None,
            field: None,
            assert: None,
            actual: None,
            expected: None,
            tolerance: None,
            sql: None,
        }
    }

    /// Each optional field and whether it is set, in declaration order.
    pub(crate) fn fields_given(&self) -> [(&'static str, bool); 14] {
        [
            ("columns", !self.columns.is_empty()),
            ("column", self.column.is_some()),
            ("values", !self.values.is_empty()),
            ("equals", self.equals.is_some()),
            ("min", self.min.is_some()),
            ("max", self.max.is_some()),
            ("same_as", self.same_as.is_some()),
            ("to", self.to.is_some()),
            ("field", self.field.is_some()),
            ("assert", self.assert.is_some()),
            ("actual", self.actual.is_some()),
            ("expected", self.expected.is_some()),
            ("tolerance", self.tolerance.is_some()),
            ("sql", self.sql.is_some()),
        ]
    }
}

/// `[exports.<name>]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportDef {
    pub(crate) file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) sheets: Vec<SheetDef>,
    /// Labels for selection; never serialized, so no stage key hashes them.
    #[serde(default, skip_serializing)]
    pub(crate) tags: Vec<String>,
    /// Free text for people; never serialized, so no stage key hashes it.
    #[serde(default, skip_serializing)]
    pub(crate) description: Option<String>,
}

/// A sheet of an xlsx export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SheetDef {
    pub(crate) name: String,
    pub(crate) model: String,
    /// Column summed in a final `Total` row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<String>,
    /// Columns shown in euros with two decimals.
    #[serde(default)]
    pub(crate) money: Vec<String>,
}

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NotifyKind {
    /// POST the JSON summary of the build to `url`.
    Webhook,
    /// Send an e-mail through Resend's HTTP API.
    Resend,
}

/// `[notify]` (or `[[notify]]`, several).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifyDef {
    pub(crate) kind: NotifyKind,
    #[serde(default)]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub(crate) on_success: bool,
    #[serde(default)]
    pub(crate) from: Option<String>,
    #[serde(default)]
    pub(crate) to: Vec<String>,
    #[serde(default)]
    pub(crate) token_env: Option<String>,
}
