//! The project: `winebuild.toml` and `models/*.sql`, loaded and validated into a [`Project`].
//!
//! Owns the two file formats a user writes. Rules it keeps:
//! - every name (source, model, export) is unique across kinds, and a valid identifier, so it can be
//!   used as a table name in SQL and as a file name in the store;
//! - a model's leading `--` comment block is TOML (its inputs and settings); unknown keys are errors,
//!   so a typo never silently changes nothing;
//! - nothing here touches data: loading a project reads only `winebuild.toml` and `models/`.

use std::collections::BTreeMap;
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
        Ok(())
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

/// Splits a model file into its TOML header (the leading `--` lines) and its query.
pub fn parse_model(name: &str, path: &Path, text: &str) -> Result<ModelDef, ProjectError> {
    let mut header = String::new();
    let mut sql_start_line = 0;
    let mut consumed = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(comment) = trimmed.strip_prefix("--") {
            header.push_str(comment.strip_prefix(' ').unwrap_or(comment));
            if !comment.ends_with('\n') {
                header.push('\n');
            }
        } else if !trimmed.trim().is_empty() {
            break;
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
