//! The project: `winebuild.toml` and `models/*.sql`, loaded and validated into a [`Project`].
//!
//! Owns the two file formats a user writes. Rules it keeps:
//! - every name (source, model, export) is unique across kinds, and a valid identifier, so it can be
//!   used as a table name in SQL and as a file name in the store;
//! - a model's leading `--` comment block is TOML (its inputs and settings); unknown keys are errors,
//!   so a typo never silently changes nothing;
//! - nothing here touches data: loading a project reads only `winebuild.toml` and `models/`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The project file every winebuild project has at its root.
pub const PROJECT_FILE: &str = "winebuild.toml";
/// The folder holding one `<name>.sql` file per model.
pub const MODELS_DIR: &str = "models";

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid project file: {message}")]
    ProjectToml { path: PathBuf, message: String },
    #[error("model `{model}` ({path}): its header is not valid TOML: {message}")]
    ModelHeader {
        model: String,
        path: PathBuf,
        message: String,
    },
    #[error("model `{model}` ({path}) has no SQL query after its header")]
    EmptyModel { model: String, path: PathBuf },
    #[error("`{name}` is not a valid {kind} name")]
    BadName { kind: &'static str, name: String },
    #[error("the name `{name}` is used by both {first} and {second}")]
    DuplicateName {
        name: String,
        first: String,
        second: String,
    },
    #[error("{owner} reads `{input}`, which is neither a source nor a model")]
    UnknownInput {
        owner: String,
        input: String,
        suggestion: Option<String>,
    },
    #[error("export `{export}`: {message}")]
    BadExport { export: String, message: String },
    #[error("source `{source_name}`: {message}")]
    BadSource {
        source_name: String,
        message: String,
    },
    #[error("`data` in {PROJECT_FILE} must contain `{{month}}`, found `{template}`")]
    DataTemplate { template: String },
    #[error("[notify]: {message}")]
    BadNotify { message: String },
    #[error("[summary] `{label}`: {message}")]
    BadSummary { label: String, message: String },
    #[error("model `{model}`, check `{check}`: {message}")]
    BadCheck {
        model: String,
        check: String,
        message: String,
        hint: Option<String>,
    },
}

impl ProjectError {
    pub fn hint(&self) -> Option<String> {
        match self {
            ProjectError::Read { path, .. } if path.ends_with(PROJECT_FILE) => Some(format!(
                "run winebuild from a project folder (one with a {PROJECT_FILE}), or pass -C <dir>; \
                 `winebuild sample <dir>` creates one"
            )),
            ProjectError::ModelHeader { .. } => Some(
                "a model starts with `-- inputs = [\"a\", \"b\"]` lines; see the README's model format"
                    .into(),
            ),
            ProjectError::BadName { .. } => {
                Some("names use letters, digits and `_`, and start with a letter or `_`".into())
            }
            ProjectError::DuplicateName { .. } => Some("rename one of them".into()),
            ProjectError::UnknownInput { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "declare it under [sources.<name>] or add models/<name>.sql".into(),
            }),
            ProjectError::DataTemplate { .. } => {
                Some("for example: data = \"data/{month}\"".into())
            }
            ProjectError::BadCheck { hint, .. } => hint.clone().or_else(|| {
                Some("see the README's section on checks for each kind's fields".into())
            }),
            _ => None,
        }
    }
}

/// The declared type of a source column; declared types win over inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    String,
    Int64,
    Float64,
    Bool,
    Date,
    Timestamp,
}

impl fmt::Display for ColumnType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ColumnType::String => "string",
            ColumnType::Int64 => "int64",
            ColumnType::Float64 => "float64",
            ColumnType::Bool => "bool",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        };
        f.write_str(name)
    }
}

/// How a source file is read, decided by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceFormat {
    Xlsx,
    Csv,
    Parquet,
}

/// `[sources.<name>]`: one input file of the month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceDef {
    /// Path of the file, relative to the month folder.
    pub file: String,
    /// Worksheet to read (xlsx only); the first sheet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
    /// Declared column types; other columns are inferred.
    #[serde(default)]
    pub columns: BTreeMap<String, ColumnType>,
}

impl SourceDef {
    pub fn format(&self) -> Option<SourceFormat> {
        let ext = Path::new(&self.file)
            .extension()?
            .to_str()?
            .to_ascii_lowercase();
        match ext.as_str() {
            "xlsx" | "xlsm" => Some(SourceFormat::Xlsx),
            "csv" => Some(SourceFormat::Csv),
            "parquet" => Some(SourceFormat::Parquet),
            _ => None,
        }
    }
}

/// The TOML header of a model file: its inputs and settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Sources and models the query reads; the query may read nothing else.
    pub inputs: Vec<String>,
    /// Columns that identify a row (used by checks and diffs).
    #[serde(default)]
    pub key: Vec<String>,
    /// Free text for people. Not part of the stage key: editing it reruns nothing.
    #[serde(default, skip_serializing)]
    pub description: Option<String>,
    /// Data checks run on the model's output (`[[checks]]` tables). Not part of the stage key:
    /// editing a check reruns that check, not the model.
    #[serde(default, skip_serializing)]
    pub checks: Vec<CheckDef>,
}

/// What a check verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The number of rows: `equals`, `min`/`max`, `same_as` another model, or pinned per month.
    RowCount,
    /// No two rows share the values of `columns`.
    Unique,
    /// No null in any of `columns`.
    NotNull,
    /// Every non-null value of `column` is one of `values`.
    AcceptedValues,
    /// Every non-null value of `column` exists in `to`.`field`.
    Relationships,
    /// `assert` (a boolean over aggregates) holds, or `actual` equals `expected` within `tolerance`.
    Expression,
    /// `sql` returns the failing rows; none means the check passes.
    Sql,
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = serde_json::to_value(self).unwrap_or_default();
        f.write_str(value.as_str().unwrap_or("check"))
    }
}

/// Whether a failing check fails its model (and so the build) or only warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Error,
    Warn,
}

/// One `[[checks]]` entry of a model header. The fields a kind does not use must be absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    /// Unique across the project; named in alerts and in `expect.toml`.
    pub name: String,
    pub kind: CheckKind,
    #[serde(default)]
    pub severity: Severity,
    /// The alert shown when the check fails: `{actual}`, `{expected}`, `{failing}`, `{model}`,
    /// and `{actual:fr}` / `{expected:fr}` for French money formatting (70 568,60).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<toml::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub same_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl CheckDef {
    /// True when the check takes its expected figure from the month's `expect.toml`.
    pub fn is_pinned(&self) -> bool {
        match self.kind {
            CheckKind::RowCount => {
                self.equals.is_none()
                    && self.min.is_none()
                    && self.max.is_none()
                    && self.same_as.is_none()
            }
            CheckKind::Expression => self.assert.is_none() && self.expected.is_none(),
            _ => false,
        }
    }

    /// Other models this check reads by name (SQL checks name theirs in their query).
    pub fn named_models(&self) -> Vec<&String> {
        self.same_as.iter().chain(self.to.iter()).collect()
    }

    /// Which fields this kind needs and which it forbids, as a message when they are wrong.
    fn shape_error(&self) -> Option<String> {
        let given: Vec<(&str, bool)> = vec![
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
        ];
        let (required, allowed): (&[&str], &[&str]) = match self.kind {
            CheckKind::RowCount => (&[], &["equals", "min", "max", "same_as"]),
            CheckKind::Unique | CheckKind::NotNull => (&["columns"], &["columns"]),
            CheckKind::AcceptedValues => (&["column", "values"], &["column", "values"]),
            CheckKind::Relationships => (&["column", "to"], &["column", "to", "field"]),
            CheckKind::Expression => (&[], &["assert", "actual", "expected", "tolerance"]),
            CheckKind::Sql => (&["sql"], &["sql"]),
        };
        if let Some((field, _)) = given
            .iter()
            .find(|(field, set)| *set && !allowed.contains(field))
        {
            return Some(format!(
                "`{field}` does not apply to a `{}` check (it takes {})",
                self.kind,
                allowed
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(field) = required
            .iter()
            .find(|field| !given.iter().any(|(f, set)| f == *field && *set))
        {
            return Some(format!("a `{}` check needs `{field}`", self.kind));
        }
        if self.kind == CheckKind::RowCount
            && self.equals.is_some() as u8 + self.same_as.is_some() as u8 > 1
        {
            return Some("give either `equals` or `same_as`, not both".into());
        }
        if self.kind == CheckKind::Expression {
            match (&self.assert, &self.actual) {
                (Some(_), Some(_)) | (Some(_), None)
                    if self.expected.is_some() || self.tolerance.is_some() =>
                {
                    return Some("`assert` is a boolean on its own: drop `expected` and `tolerance`, or use `actual`".into());
                }
                (Some(_), Some(_)) => {
                    return Some("give either `assert` or `actual`, not both".into());
                }
                (None, None) => {
                    return Some("an `expression` check needs `assert = \"<boolean>\"` or `actual = \"<aggregate>\"`".into());
                }
                _ => {}
            }
        }
        if self.tolerance.is_some_and(|t| t.is_nan() || t < 0.0) {
            return Some("`tolerance` must be zero or more".into());
        }
        None
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelDef {
    pub name: String,
    /// Path relative to the project root, for messages.
    pub path: PathBuf,
    pub settings: ModelSettings,
    /// The query, without the header.
    pub sql: String,
    /// Line of the file where the query starts (1-based), to map SQL error positions.
    pub sql_first_line: usize,
}

/// A sheet of an xlsx export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetDef {
    pub name: String,
    pub model: String,
    /// Column summed in a final `Total` row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// Columns shown in euros with two decimals.
    #[serde(default)]
    pub money: Vec<String>,
}

/// `[exports.<name>]`: a file written to the month's output folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportDef {
    /// File name, relative to the month's output folder; `.xlsx` or `.csv`.
    pub file: String,
    /// For a csv export: the model written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// For an xlsx export: one sheet per entry.
    #[serde(default)]
    pub sheets: Vec<SheetDef>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Xlsx,
    Csv,
}

impl ExportDef {
    pub fn format(&self) -> Option<ExportFormat> {
        let lower = self.file.to_ascii_lowercase();
        if lower.ends_with(".xlsx") {
            Some(ExportFormat::Xlsx)
        } else if lower.ends_with(".csv") {
            Some(ExportFormat::Csv)
        } else {
            None
        }
    }

    /// The models this export reads, in declaration order.
    pub fn inputs(&self) -> Vec<String> {
        let mut inputs: Vec<String> = self.model.iter().cloned().collect();
        for sheet in &self.sheets {
            if !inputs.contains(&sheet.model) {
                inputs.push(sheet.model.clone());
            }
        }
        inputs
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectFile {
    project: ProjectSection,
    #[serde(default)]
    sources: BTreeMap<String, SourceDef>,
    #[serde(default)]
    exports: BTreeMap<String, ExportDef>,
    #[serde(default)]
    summary: SummaryDef,
    #[serde(default)]
    notify: Option<OneOrMany<NotifyDef>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyKind {
    /// POST the JSON summary of the build to `url`.
    Webhook,
    /// Send an e-mail through Resend's HTTP API.
    Resend,
}

/// `[notify]` (or `[[notify]]`, several): who hears about a build, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyDef {
    pub kind: NotifyKind,
    /// webhook: where to POST; resend: the API endpoint (default Resend's).
    #[serde(default)]
    pub url: Option<String>,
    /// Also notify when the build succeeded (default: only failures).
    #[serde(default)]
    pub on_success: bool,
    /// resend: the sender, e.g. `winebuild <rapports@cave.example>`.
    #[serde(default)]
    pub from: Option<String>,
    /// resend: the recipients.
    #[serde(default)]
    pub to: Vec<String>,
    /// resend: the environment variable holding the API token; never the token itself.
    #[serde(default = "default_token_env")]
    pub token_env: String,
}

fn default_token_env() -> String {
    "RESEND_API_KEY".into()
}

/// `[summary]`: the business summary `winebuild diff` prints before the model-by-model diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryDef {
    /// The headline figure: one column of a one-row model (the CA total).
    #[serde(default)]
    pub total: Option<FigureDef>,
    /// Rows entering and leaving a model, by its key (the premium list, the catalogue).
    #[serde(default)]
    pub lists: Vec<ListDef>,
    /// The rows whose figure moved most (the biggest CA movers).
    #[serde(default)]
    pub movers: Option<MoversDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureDef {
    pub label: String,
    pub model: String,
    pub column: String,
    /// Shown in euros, French style (70 568,60 €).
    #[serde(default)]
    pub money: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListDef {
    pub label: String,
    pub model: String,
    /// The column that names a row for people (post_title).
    pub name: String,
    /// Other columns shown beside the name.
    #[serde(default)]
    pub show: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoversDef {
    pub label: String,
    pub model: String,
    pub column: String,
    pub name: String,
    #[serde(default = "default_top")]
    pub top: usize,
    #[serde(default)]
    pub money: bool,
}

fn default_top() -> usize {
    5
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectSection {
    name: String,
    #[serde(default = "default_data")]
    data: String,
    #[serde(default = "default_out")]
    out: String,
}

fn default_data() -> String {
    "data/{month}".into()
}

fn default_out() -> String {
    "out/{month}".into()
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub name: String,
    /// Month folder template relative to the root, containing `{month}`.
    pub data_template: String,
    /// Output folder template relative to the root, containing `{month}`.
    pub out_template: String,
    pub sources: BTreeMap<String, SourceDef>,
    pub models: BTreeMap<String, ModelDef>,
    pub exports: BTreeMap<String, ExportDef>,
    pub summary: SummaryDef,
    pub notify: Vec<NotifyDef>,
}

impl Project {
    /// Reads and validates `winebuild.toml` and every `models/*.sql` under `root`.
    pub fn load(root: &Path) -> Result<Project, ProjectError> {
        let project_path = root.join(PROJECT_FILE);
        let text = read_to_string(&project_path)?;
        let file: ProjectFile = toml::from_str(&text).map_err(|e| ProjectError::ProjectToml {
            path: PathBuf::from(PROJECT_FILE),
            message: e.message().to_string() + &toml_location(&text, e.span()),
        })?;
        if !file.project.data.contains("{month}") {
            return Err(ProjectError::DataTemplate {
                template: file.project.data,
            });
        }
        let models = load_models(root)?;
        let project = Project {
            root: root.to_path_buf(),
            name: file.project.name,
            data_template: file.project.data,
            out_template: file.project.out,
            sources: file.sources,
            models,
            exports: file.exports,
            summary: file.summary,
            notify: file.notify.map(OneOrMany::into_vec).unwrap_or_default(),
        };
        project.validate()?;
        Ok(project)
    }

    /// The folder holding one month's input files.
    pub fn month_dir(&self, month: &str) -> PathBuf {
        self.root.join(self.data_template.replace("{month}", month))
    }

    /// The folder a month's exports are written to.
    pub fn out_dir(&self, month: &str) -> PathBuf {
        self.root.join(self.out_template.replace("{month}", month))
    }

    /// The folder whose sub-folders are the months (the part of the template before `{month}`).
    pub fn months_parent(&self) -> PathBuf {
        let prefix = self.data_template.split("{month}").next().unwrap_or("");
        self.root.join(prefix)
    }

    /// Every stage name, for suggestions in messages.
    pub fn stage_names(&self) -> impl Iterator<Item = &String> {
        self.sources
            .keys()
            .chain(self.models.keys())
            .chain(self.exports.keys())
    }

    fn validate(&self) -> Result<(), ProjectError> {
        self.validate_names()?;
        for (name, source) in &self.sources {
            if source.format().is_none() {
                return Err(ProjectError::BadSource {
                    source_name: name.clone(),
                    message: format!(
                        "cannot tell the format of `{}`: use a .xlsx, .csv or .parquet file",
                        source.file
                    ),
                });
            }
            if source.sheet.is_some() && source.format() != Some(SourceFormat::Xlsx) {
                return Err(ProjectError::BadSource {
                    source_name: name.clone(),
                    message: "`sheet` only applies to xlsx files".into(),
                });
            }
        }
        for model in self.models.values() {
            for input in &model.settings.inputs {
                self.check_input_exists(&format!("model `{}`", model.name), input)?;
            }
        }
        for (name, export) in &self.exports {
            self.validate_export(name, export)?;
        }
        self.validate_checks()?;
        self.validate_summary()?;
        self.validate_notify()
    }

    fn validate_notify(&self) -> Result<(), ProjectError> {
        for notify in &self.notify {
            let bad = |message: &str| ProjectError::BadNotify {
                message: message.to_string(),
            };
            match notify.kind {
                NotifyKind::Webhook if notify.url.is_none() => {
                    return Err(bad("a `webhook` needs `url`"));
                }
                NotifyKind::Webhook if notify.from.is_some() || !notify.to.is_empty() => {
                    return Err(bad("`from` and `to` are for `resend` e-mails"));
                }
                NotifyKind::Resend if notify.from.is_none() || notify.to.is_empty() => {
                    return Err(bad("a `resend` e-mail needs `from` and `to`"));
                }
                _ => {}
            }
            if notify.token_env.starts_with("re_") {
                return Err(bad(
                    "`token_env` names an environment variable; never put the token itself in the file",
                ));
            }
        }
        Ok(())
    }

    fn validate_summary(&self) -> Result<(), ProjectError> {
        let summary = &self.summary;
        let named = summary
            .total
            .iter()
            .map(|t| (&t.label, &t.model, false))
            .chain(summary.lists.iter().map(|l| (&l.label, &l.model, true)))
            .chain(summary.movers.iter().map(|m| (&m.label, &m.model, true)));
        for (label, model, needs_key) in named {
            let bad = |message: String| ProjectError::BadSummary {
                label: label.clone(),
                message,
            };
            let Some(def) = self.models.get(model) else {
                return Err(bad(format!("`{model}` is not a model")));
            };
            if needs_key && def.settings.key.is_empty() {
                return Err(bad(format!(
                    "model `{model}` declares no `key`, so its rows cannot be matched month to month"
                )));
            }
        }
        Ok(())
    }

    fn validate_checks(&self) -> Result<(), ProjectError> {
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for model in self.models.values() {
            for check in &model.settings.checks {
                let bad = |message: String, hint: Option<String>| ProjectError::BadCheck {
                    model: model.name.clone(),
                    check: check.name.clone(),
                    message,
                    hint,
                };
                if !is_check_name(&check.name) {
                    return Err(bad(
                        "check names use lowercase letters, digits, `_` and `-`".into(),
                        None,
                    ));
                }
                if let Some(first) = seen.insert(&check.name, &model.name) {
                    return Err(bad(
                        format!("the name is already used by a check of model `{first}`"),
                        Some("check names are unique across the project".into()),
                    ));
                }
                if let Some(message) = check.shape_error() {
                    return Err(bad(message, None));
                }
                let upstream: Vec<String> = self
                    .upstream_of(&model.name)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                for other in check.named_models() {
                    if !upstream.contains(other) {
                        return Err(bad(
                            format!(
                                "`{other}` is not a source or model that `{}` reads",
                                model.name
                            ),
                            Some(match closest(other, upstream.iter()) {
                                Some(s) => format!("did you mean `{s}`?"),
                                None => "a check may read its model and what the model reads, directly or not".into(),
                            }),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Every source and model `model` reads, directly or not.
    pub fn upstream_of(&self, model: &str) -> BTreeSet<&str> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![model];
        while let Some(current) = frontier.pop() {
            let Some(def) = self.models.get(current) else {
                continue;
            };
            for input in &def.settings.inputs {
                if found.insert(input.as_str()) {
                    frontier.push(input.as_str());
                }
            }
        }
        found
    }

    fn validate_names(&self) -> Result<(), ProjectError> {
        let mut seen: BTreeMap<&str, String> = BTreeMap::new();
        let named = self
            .sources
            .keys()
            .map(|n| (n, "source"))
            .chain(self.models.keys().map(|n| (n, "model")))
            .chain(self.exports.keys().map(|n| (n, "export")));
        for (name, kind) in named {
            if !is_identifier(name) {
                return Err(ProjectError::BadName {
                    kind,
                    name: name.clone(),
                });
            }
            let described = format!("{kind} `{name}`");
            if let Some(first) = seen.insert(name, described.clone()) {
                return Err(ProjectError::DuplicateName {
                    name: name.clone(),
                    first,
                    second: described,
                });
            }
        }
        Ok(())
    }

    fn check_input_exists(&self, owner: &str, input: &str) -> Result<(), ProjectError> {
        if self.sources.contains_key(input) || self.models.contains_key(input) {
            return Ok(());
        }
        let candidates = self.sources.keys().chain(self.models.keys());
        Err(ProjectError::UnknownInput {
            owner: owner.to_string(),
            input: input.to_string(),
            suggestion: closest(input, candidates),
        })
    }

    fn validate_export(&self, name: &str, export: &ExportDef) -> Result<(), ProjectError> {
        let bad = |message: &str| ProjectError::BadExport {
            export: name.to_string(),
            message: message.to_string(),
        };
        match export.format() {
            None => return Err(bad("`file` must end in .xlsx or .csv")),
            Some(ExportFormat::Csv) if export.model.is_none() || !export.sheets.is_empty() => {
                return Err(bad("a csv export names one `model` and no `sheets`"));
            }
            Some(ExportFormat::Xlsx) if export.sheets.is_empty() || export.model.is_some() => {
                return Err(bad(
                    "an xlsx export lists its `sheets` ([[exports.<name>.sheets]])",
                ));
            }
            _ => {}
        }
        if export.file.contains("..") || Path::new(&export.file).is_absolute() {
            return Err(bad("`file` must stay inside the output folder"));
        }
        for input in export.inputs() {
            self.check_input_exists(&format!("export `{name}`"), &input)?;
        }
        Ok(())
    }
}

fn read_to_string(path: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn load_models(root: &Path) -> Result<BTreeMap<String, ModelDef>, ProjectError> {
    let dir = root.join(MODELS_DIR);
    let mut models = BTreeMap::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(models),
        Err(source) => return Err(ProjectError::Read { path: dir, source }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "sql"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        if !is_identifier(&name) {
            return Err(ProjectError::BadName {
                kind: "model",
                name,
            });
        }
        let text = read_to_string(&path)?;
        let relative = PathBuf::from(MODELS_DIR).join(path.file_name().unwrap_or_default());
        models.insert(name.clone(), parse_model(&name, &relative, &text)?);
    }
    Ok(models)
}

/// Splits a model file into its TOML header (the leading `--` lines, up to the first blank line)
/// and its query.
pub fn parse_model(name: &str, path: &Path, text: &str) -> Result<ModelDef, ProjectError> {
    let mut header = String::new();
    let mut sql_start_line = 0;
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
        sql_start_line += 1;
    }
    let sql = text[consumed..].trim_end().to_string();
    let header_error = |message: String| ProjectError::ModelHeader {
        model: name.to_string(),
        path: path.to_path_buf(),
        message,
    };
    let settings: ModelSettings = toml::from_str(&header)
        .map_err(|e| header_error(e.message().to_string() + &toml_location(&header, e.span())))?;
    if sql.trim().is_empty() {
        return Err(ProjectError::EmptyModel {
            model: name.to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok(ModelDef {
        name: name.to_string(),
        path: path.to_path_buf(),
        settings,
        sql,
        sql_first_line: sql_start_line + 1,
    })
}

fn toml_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}

/// `YYYY-MM` with a month from 01 to 12.
pub fn is_month(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 7
        && bytes[4] == b'-'
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[5..].iter().all(u8::is_ascii_digit)
        && matches!(text[5..].parse::<u8>(), Ok(1..=12))
}

pub fn relative(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root).unwrap_or(path).to_path_buf()
}

/// Check names may also use `-`, as the earlier pipeline's did (`test-nettoyage-erp`).
pub fn is_check_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Names must be usable unquoted in SQL and as file names.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.to_ascii_lowercase() == name
}

/// The candidate closest to `name` by edit distance, when it is close enough to be a typo.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a String>) -> Option<String> {
    candidates
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_header_is_toml_in_leading_comments() {
        let text =
            "-- inputs = [\"erp\"]\n-- key = [\"product_id\"]\n\nSELECT DISTINCT * FROM erp\n";
        let model = parse_model("erp_clean", Path::new("models/erp_clean.sql"), text).unwrap();
        assert_eq!(model.settings.inputs, vec!["erp"]);
        assert_eq!(model.settings.key, vec!["product_id"]);
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
    fn names_must_be_lowercase_identifiers() {
        assert!(is_identifier("web_dedup"));
        assert!(!is_identifier("web-dedup"));
        assert!(!is_identifier("Web"));
        assert!(!is_identifier("1web"));
    }

    #[test]
    fn closest_suggests_typos_only() {
        let names = ["erp_clean".to_string(), "web_dedup".to_string()];
        assert_eq!(closest("erp_claen", names.iter()), Some("erp_clean".into()));
        assert_eq!(closest("zzzzzzzzzz", names.iter()), None);
    }
}
