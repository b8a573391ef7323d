//! A model file, `models/<name>.sql`: its TOML header in leading `--` comment lines, up to the first
//! blank line, then one SQL query.
//!
//! Rules it keeps: the header is parsed with `deny_unknown_fields`, so `keys = [...]` is an error,
//! not a silently ignored line; a SQL error's line number counts from the top of the file, so the
//! header is remembered ([`ModelDef::sql_first_line`]).

use std::path::{Path, PathBuf};

use super::ProjectError;
use super::raw::ModelHeader;
use super::spec::CheckSpec;

/// Where a model's query runs when the project has a cluster (`engine` in its header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum EngineChoice {
    /// On the cluster, unless its inputs hold fewer rows than `cluster_min_rows`.
    #[default]
    Auto,
    /// Always here: a small model, or one the cluster cannot run.
    Local,
    /// Always on the cluster, whatever `cluster_min_rows` says.
    Cluster,
}

/// A loaded model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ModelDef {
    pub(crate) name: String,
    /// Path relative to the project root, for messages.
    pub(crate) path: PathBuf,
    /// Sources and models the query reads; the query may read nothing else.
    pub(crate) inputs: Vec<String>,
    /// The columns that identify a row (`key = [...]` in the header): checks show them, and
    /// `diff` matches rows on them. Not to be confused with a stage's cache key.
    pub(crate) key_columns: Vec<String>,
    /// Free text for people. Not part of the stage key: editing it reruns nothing.
    pub(crate) description: Option<String>,
    /// Labels for selection (`--select tag:finance`). Not part of the stage key.
    pub(crate) tags: Vec<String>,
    /// `engine = "local"` or `"cluster"` in the header. Not part of the stage key: both engines
    /// give the same bytes.
    pub(crate) engine: EngineChoice,
    /// Data checks run on the model's output. Not part of the stage key: editing a check reruns
    /// that check, not the model.
    pub(crate) checks: Vec<CheckSpec>,
    /// Unit tests from `models/<name>.tests.toml`, if the file exists. Not part of the stage key.
    pub(crate) unit_tests: Vec<super::unit_file::UnitTest>,
    /// The query, without the header.
    pub(crate) sql: String,
    /// Line of the file where the query starts (1-based), to map SQL error positions.
    pub(crate) sql_first_line: usize,
}

impl ModelDef {
    /// A model of `sql` reading `inputs`, as a test writes it: no header but its inputs, the
    /// query starting on line `sql_first_line` of `models/<name>.sql`.
    #[cfg(test)]
    pub(crate) fn in_test(name: &str, inputs: &[&str], sql: &str, sql_first_line: usize) -> Self {
        ModelDef {
            name: name.into(),
            path: PathBuf::from(format!("models/{name}.sql")),
            inputs: inputs.iter().map(|input| (*input).to_string()).collect(),
            key_columns: Vec::new(),
            description: None,
            tags: Vec::new(),
            engine: EngineChoice::Auto,
            checks: Vec::new(),
            unit_tests: Vec::new(),
            sql: sql.into(),
            sql_first_line,
        }
    }

    /// What the model's stage key hashes of its own definition.
    pub(crate) fn definition(&self) -> serde_json::Value {
        serde_json::json!({
            "sql": self.sql,
            "inputs": self.inputs,
            "key": self.key_columns,
        })
    }
}

/// Splits a model file into its TOML header (the leading `--` lines, up to the first blank line)
/// and its query.
pub(crate) fn parse_model(name: &str, path: &Path, text: &str) -> Result<ModelDef, ProjectError> {
    let (header, consumed, sql_start_line) = split_header(text);
    let sql = text[consumed..].trim_end().to_string();
    let header_error = |message: String| ProjectError::ModelHeader {
        model: name.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let raw: ModelHeader = toml::from_str(&header).map_err(|e| {
        header_error(e.message().to_string() + &super::toml_location(&header, e.span()))
    })?;
    if sql.trim().is_empty() {
        return Err(ProjectError::EmptyModel {
            model: name.to_string(),
            path: path.to_path_buf(),
        });
    }
    let mut checks = Vec::with_capacity(raw.checks.len());
    for def in raw.checks {
        let check = def.name.clone();
        checks.push(
            CheckSpec::try_from(def).map_err(|message| ProjectError::BadCheck {
                model: name.to_string(),
                check,
                message,
                hint: None,
            })?,
        );
    }
    Ok(ModelDef {
        name: name.to_string(),
        path: path.to_path_buf(),
        inputs: raw.inputs,
        key_columns: raw.key,
        description: raw.description,
        tags: raw.tags,
        engine: raw.engine,
        checks,
        unit_tests: Vec::new(),
        sql,
        sql_first_line: sql_start_line + 1,
    })
}

/// The header's TOML text, how many bytes of `text` it takes, and how many lines.
fn split_header(text: &str) -> (String, usize, usize) {
    let mut header = String::new();
    let mut lines = 0;
    let mut consumed = 0;
    // The header is the leading block of `--` lines; the first blank line after it closes it,
    // so comments further down belong to the SQL.
    let mut closed = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let blank = trimmed.trim().is_empty();
        match trimmed.strip_prefix("--") {
            Some(comment) if !closed => {
                header.push_str(comment.strip_prefix(' ').unwrap_or(comment));
                if !comment.ends_with('\n') {
                    header.push('\n');
                }
            }
            _ if blank => closed |= !header.is_empty(),
            _ => break,
        }
        consumed += line.len();
        lines += 1;
    }
    (header, consumed, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_header_is_toml_in_leading_comments() {
        let text =
            "-- inputs = [\"erp\"]\n-- key = [\"product_id\"]\n\nSELECT DISTINCT * FROM erp\n";
        let model = parse_model("erp_clean", Path::new("models/erp_clean.sql"), text).unwrap();
        assert_eq!(model.inputs, vec!["erp"]);
        assert_eq!(model.key_columns, vec!["product_id"]);
        assert_eq!(model.sql, "SELECT DISTINCT * FROM erp");
        assert_eq!(model.sql_first_line, 4);
    }

    #[test]
    fn unknown_header_key_is_an_error() {
        let text = "-- inputs = []\n-- keys = [\"a\"]\nSELECT 1";
        let err = parse_model("m", Path::new("models/m.sql"), text).unwrap_err();
        assert!(err.to_string().contains("unknown field `keys`"), "{err}");
    }

    #[test]
    fn comments_after_the_header_belong_to_the_sql() {
        let text = "-- inputs = []\n\n-- not toml\nSELECT 1\n";
        let model = parse_model("m", Path::new("models/m.sql"), text).unwrap();
        assert_eq!(model.sql, "-- not toml\nSELECT 1");
        assert_eq!(model.sql_first_line, 3);
    }
}
