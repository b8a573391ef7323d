//! The project: `winebuild.toml` and `models/*.sql`, loaded and validated into a [`Project`].
//!
//! Owns the two file formats a user writes and what they mean. Rules it keeps:
//! - raw serde structs ([`raw`]) are read once and turned into typed specs ([`spec`]); nothing
//!   outside this module sees a raw struct or an option it must default;
//! - every name (source, model, export) is unique across kinds, and a valid identifier, so it can be
//!   used as a table name in SQL and as a file name in the store;
//! - a model's leading `--` comment block is TOML (its inputs and settings); unknown keys are errors,
//!   so a typo never silently changes nothing;
//! - nothing here reads data: loading a project reads only `winebuild.toml` and `models/`; month
//!   folders are listed ([`Project::resolve_month`]), never opened.

mod data;
mod errors;
#[cfg(test)]
mod fuzz;
mod model_file;
pub(crate) mod raw;
pub(crate) mod spec;
pub(crate) mod unit_file;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::did_you_mean;
use crate::files::relative;
use crate::month::{Month, MonthChoice};

pub(crate) use data::{DataPlace, InputFile};
pub(crate) use errors::{MonthError, OutProblem, ProjectError};
pub(crate) use model_file::{EngineChoice, ModelDef, parse_model};
pub(crate) use raw::{NotifyKind, SheetDef};
pub(crate) use spec::{CheckRule, CheckSpec, Expected, ExportSpec, NotifyTarget, RowCount};

/// The project file every winebuild project has at its root.
pub(crate) const PROJECT_FILE: &str = "winebuild.toml";
/// The folder holding one `<name>.sql` file per model.
pub(crate) const MODELS_DIR: &str = "models";

/// `2026-08, 2026-09`.
pub(crate) fn join_months(months: &[Month]) -> String {
    months
        .iter()
        .map(Month::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The declared type of a source column; declared types win over inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ColumnType {
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
pub(crate) enum SourceFormat {
    Xlsx,
    Csv,
    Parquet,
}

/// `[sources.<name>]`: one input file of the month. Its serialized form is what the source's
/// stage key hashes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SourceDef {
    /// Path of the file, relative to the month folder.
    pub(crate) file: String,
    /// Worksheet to read (xlsx only); the first sheet when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sheet: Option<String>,
    /// Declared column types; other columns are inferred.
    #[serde(default)]
    pub(crate) columns: BTreeMap<String, ColumnType>,
    /// Labels for selection; never serialized, so the source's key does not hash them.
    #[serde(default, skip_serializing)]
    pub(crate) tags: Vec<String>,
    /// Free text for people; never serialized, so the source's key does not hash it.
    #[serde(default, skip_serializing)]
    pub(crate) description: Option<String>,
}

/// What an export says of itself for people and selection: `tags` and `description`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StageDoc {
    pub(crate) tags: Vec<String>,
    pub(crate) description: Option<String>,
}

impl SourceDef {
    pub(crate) fn format(&self) -> Option<SourceFormat> {
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

/// What a check verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CheckKind {
    RowCount,
    Unique,
    NotNull,
    AcceptedValues,
    Relationships,
    Expression,
    Sql,
}

impl fmt::Display for CheckKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CheckKind::RowCount => "row_count",
            CheckKind::Unique => "unique",
            CheckKind::NotNull => "not_null",
            CheckKind::AcceptedValues => "accepted_values",
            CheckKind::Relationships => "relationships",
            CheckKind::Expression => "expression",
            CheckKind::Sql => "sql",
        })
    }
}

/// Whether a failing check fails its model (and so the build) or only warns.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    #[default]
    Error,
    Warn,
}

/// `[summary]`: the business summary `winebuild diff` prints before the model-by-model diff.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SummaryDef {
    /// The headline figure: one column of a one-row model (the CA total).
    #[serde(default)]
    pub(crate) total: Option<FigureDef>,
    /// Rows entering and leaving a model, by its key (the premium list, the catalogue).
    #[serde(default)]
    pub(crate) lists: Vec<ListDef>,
    /// The rows whose figure moved most (the biggest CA movers).
    #[serde(default)]
    pub(crate) movers: Option<MoversDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FigureDef {
    pub(crate) label: String,
    pub(crate) model: String,
    pub(crate) column: String,
    /// Shown in euros, French style (70 568,60 €).
    #[serde(default)]
    pub(crate) money: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListDef {
    pub(crate) label: String,
    pub(crate) model: String,
    /// The column that names a row for people (`post_title`).
    pub(crate) name: String,
    /// Other columns shown beside the name.
    #[serde(default)]
    pub(crate) show: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoversDef {
    pub(crate) label: String,
    pub(crate) model: String,
    pub(crate) column: String,
    pub(crate) name: String,
    #[serde(default = "default_top")]
    pub(crate) top: usize,
    #[serde(default)]
    pub(crate) money: bool,
}

fn default_top() -> usize {
    5
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub(crate) struct Project {
    pub(crate) root: PathBuf,
    pub(crate) name: String,
    /// Month folder template relative to the root (or a URL), containing `{month}`.
    pub(crate) data_template: String,
    /// Where the month folders are: the project's disk or object storage.
    pub(crate) data: DataPlace,
    /// Output folder template relative to the root, containing `{month}`.
    pub(crate) out_template: String,
    /// Whether `out` may lead outside the project folder.
    pub(crate) out_elsewhere_allowed: bool,
    pub(crate) sources: BTreeMap<String, SourceDef>,
    pub(crate) models: BTreeMap<String, ModelDef>,
    pub(crate) exports: BTreeMap<String, ExportSpec>,
    /// Each export's tags and description (sources and models keep theirs in their specs).
    pub(crate) export_docs: BTreeMap<String, StageDoc>,
    pub(crate) summary: SummaryDef,
    pub(crate) notify: Vec<NotifyTarget>,
    /// What reading one input file may cost (`[limits]`).
    pub(crate) limits: crate::sources::Limits,
    /// What one model or check query may take (`[build]`).
    pub(crate) query_limits: crate::engine::QueryLimits,
    /// The shared store (`[remote]`, or `WINEBUILD_REMOTE`), if any.
    pub(crate) remote: Option<crate::remote::RemoteSettings>,
    /// The cluster models go to (`[engine]`, or `WINEBUILD_CLUSTER`), if any.
    pub(crate) cluster: Option<crate::cluster::ClusterSettings>,
}

impl Project {
    /// Reads and validates `winebuild.toml` and every `models/*.sql` under `root`.
    pub(crate) fn load(root: &Path) -> Result<Project, ProjectError> {
        let project_path = root.join(PROJECT_FILE);
        let text = read_to_string(&project_path)?;
        let file: raw::ProjectFile =
            toml::from_str(&text).map_err(|e| ProjectError::ProjectToml {
                path: PathBuf::from(PROJECT_FILE),
                message: e.message().to_string() + &toml_location(&text, e.span()),
            })?;
        if !file.project.data.contains("{month}") {
            return Err(ProjectError::DataTemplate {
                template: file.project.data,
            });
        }
        let models = load_models(root)?;
        let mut exports = BTreeMap::new();
        let mut export_docs = BTreeMap::new();
        for (name, mut def) in file.exports {
            export_docs.insert(
                name.clone(),
                StageDoc {
                    tags: std::mem::take(&mut def.tags),
                    description: def.description.take(),
                },
            );
            let spec = ExportSpec::try_from(def).map_err(|message| ProjectError::BadExport {
                export: name.clone(),
                message,
            })?;
            exports.insert(name, spec);
        }
        let notify =
            notify_targets(file.notify).map_err(|message| ProjectError::BadNotify { message })?;
        let remote = crate::remote::RemoteSettings::resolve(&file.remote)?;
        let cluster = crate::cluster::ClusterSettings::resolve(&file.engine, remote.is_some())?;
        let project = Project {
            root: root.to_path_buf(),
            name: file.project.name,
            data: DataPlace::new(root, &file.project.data).map_err(|message| {
                ProjectError::BadSetting {
                    section: "project",
                    field: "data",
                    message,
                }
            })?,
            data_template: file.project.data,
            out_template: file.project.out,
            out_elsewhere_allowed: file.project.out_outside_project,
            sources: file.sources,
            models,
            exports,
            export_docs,
            summary: file.summary,
            notify,
            limits: file.limits.limits(),
            query_limits: query_limits(&file.build)?,
            remote,
            cluster,
        };
        project.validate()?;
        Ok(project)
    }

    /// The stage's tags, whatever its kind (none for an unknown name).
    pub(crate) fn tags(&self, stage: &str) -> &[String] {
        if let Some(model) = self.models.get(stage) {
            &model.tags
        } else if let Some(source) = self.sources.get(stage) {
            &source.tags
        } else {
            self.export_docs.get(stage).map_or(&[], |doc| &doc.tags)
        }
    }

    /// The stage's description, whatever its kind.
    pub(crate) fn description(&self, stage: &str) -> Option<&str> {
        if let Some(model) = self.models.get(stage) {
            model.description.as_deref()
        } else if let Some(source) = self.sources.get(stage) {
            source.description.as_deref()
        } else {
            self.export_docs.get(stage)?.description.as_deref()
        }
    }

    /// The file a stage is defined in, relative to the root with `/` separators: a model's file,
    /// `winebuild.toml` for sources and exports.
    pub(crate) fn defined_in(&self, stage: &str) -> String {
        match self.models.get(stage) {
            Some(model) => model.path.to_string_lossy().replace('\\', "/"),
            None => PROJECT_FILE.to_string(),
        }
    }

    /// A month's input file, wherever the data is.
    pub(crate) fn input_file(&self, month: Month, file: &str) -> InputFile {
        self.data.file(month, file)
    }

    /// The folder a month's exports are written to.
    pub(crate) fn out_dir(&self, month: Month) -> PathBuf {
        self.root
            .join(self.out_template.replace("{month}", &month.to_string()))
    }

    /// `path` relative to the project root, for messages.
    pub(crate) fn relative(&self, path: &Path) -> PathBuf {
        relative(&self.root, path)
    }

    /// Month folders that exist, oldest first.
    pub(crate) fn available_months(&self) -> Vec<Month> {
        self.data.months()
    }

    /// The month `--month` asks for: a month folder that exists, the month before today's, or the
    /// latest month folder.
    pub(crate) fn resolve_month(&self, choice: MonthChoice) -> Result<Month, MonthError> {
        let month = match choice {
            MonthChoice::Latest => {
                return self.available_months().last().copied().ok_or_else(|| {
                    MonthError::NoMonths {
                        dir: PathBuf::from(self.data.shown_parent()),
                    }
                });
            }
            MonthChoice::Previous => Month::before_today(),
            MonthChoice::Given(month) => month,
        };
        if self.data.has_month(month) {
            Ok(month)
        } else {
            Err(MonthError::NotFound {
                month,
                dir: PathBuf::from(self.data.shown_month(month)),
                available: self.available_months(),
            })
        }
    }

    /// Every stage name, for suggestions in messages.
    pub(crate) fn stage_names(&self) -> impl Iterator<Item = &String> {
        self.sources
            .keys()
            .chain(self.models.keys())
            .chain(self.exports.keys())
    }

    /// Every check of every model, with its model.
    pub(crate) fn checks(&self) -> impl Iterator<Item = (&ModelDef, &CheckSpec)> {
        self.models
            .values()
            .flat_map(|model| model.checks.iter().map(move |check| (model, check)))
    }

    /// Every source and model `model` reads, directly or not.
    pub(crate) fn upstream_of(&self, model: &str) -> BTreeSet<&str> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![model];
        while let Some(current) = frontier.pop() {
            let Some(def) = self.models.get(current) else {
                continue;
            };
            for input in &def.inputs {
                if found.insert(input.as_str()) {
                    frontier.push(input.as_str());
                }
            }
        }
        found
    }

    /// An error for `input`, read by `owner`, unless it is a source or a model.
    fn check_input_exists(&self, owner: &str, input: &str) -> Result<(), ProjectError> {
        if self.sources.contains_key(input) || self.models.contains_key(input) {
            return Ok(());
        }
        Err(ProjectError::UnknownInput {
            owner: owner.to_string(),
            input: input.to_string(),
            suggestion: did_you_mean(
                input,
                self.sources.keys().chain(self.models.keys()),
                "declare it under [sources.<name>] or add models/<name>.sql",
            ),
        })
    }
}

/// The notifications `[notify]` asks for, or what is wrong with one of them.
fn notify_targets(value: Option<toml::Value>) -> Result<Vec<NotifyTarget>, String> {
    raw::notify_defs(value)?
        .into_iter()
        .map(NotifyTarget::try_from)
        .collect()
}

/// The project's name and notifications, read from `winebuild.toml` alone even when the rest of
/// the project does not load: a build that cannot even start is still worth telling someone of.
pub(crate) fn notify_settings(root: &Path) -> Option<(String, Vec<NotifyTarget>)> {
    let text = std::fs::read_to_string(root.join(PROJECT_FILE)).ok()?;
    let mut table: toml::Table = toml::from_str(&text).ok()?;
    let name = table
        .get("project")?
        .get("name")?
        .as_str()
        .map(str::to_string)?;
    let targets = notify_targets(table.remove("notify")).ok()?;
    Some((name, targets))
}

/// The query limits `[build]` sets, the defaults for what it leaves out.
fn query_limits(build: &raw::BuildSection) -> Result<crate::engine::QueryLimits, ProjectError> {
    let mut limits = crate::engine::QueryLimits::default();
    if let Some(text) = &build.stage_timeout {
        limits.timeout = parse_duration(text).ok_or_else(|| ProjectError::BadSetting {
            section: "build",
            field: "stage_timeout",
            message: format!("`{text}` is not a duration; write it as `90s`, `30m` or `2h`"),
        })?;
    }
    if let Some(mb) = build.query_memory_mb {
        limits.memory_bytes = usize::try_from(mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    }
    Ok(limits)
}

/// `90s`, `30m`, `2h` (a whole number and a unit), and nothing else.
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit())?);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" => number,
        "m" | "min" => number.checked_mul(60)?,
        "h" => number.checked_mul(3600)?,
        _ => return None,
    };
    (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
}

fn read_to_string(path: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn load_models(root: &Path) -> Result<BTreeMap<String, ModelDef>, ProjectError> {
    let dir = root.join(MODELS_DIR);
    match std::fs::metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => return Err(ProjectError::Read { path: dir, source }),
        Ok(_) => {}
    }
    let mut models: BTreeMap<String, ModelDef> = BTreeMap::new();
    // Models may sit in subfolders, as dbt users keep them (`models/staging/web_clean.sql`); a
    // model's name is its file's name, so it must be unique across folders. Hidden folders
    // (an editor's or a notebook's) are not the project's.
    let files: BTreeSet<String> = crate::files::files_under(&dir)
        .into_iter()
        .filter(|file| !file.split('/').any(|part| part.starts_with('.')))
        .collect();
    let is_sql = |file: &&String| {
        Path::new(file.as_str())
            .extension()
            .is_some_and(|e| e == "sql")
    };
    for file in files.iter().filter(is_sql) {
        let stem = file.rsplit('/').next().unwrap_or(file);
        let name = stem.trim_end_matches(".sql").to_string();
        if !validate::is_identifier(&name) {
            return Err(ProjectError::BadName {
                kind: "model",
                name,
            });
        }
        let text = read_to_string(&dir.join(file))?;
        let relative = PathBuf::from(format!("{MODELS_DIR}/{file}"));
        if let Some(first) = models.get(&name) {
            return Err(ProjectError::DuplicateName {
                name,
                first: format!("model `{}`", first.path.display()),
                second: format!("model `{}`", relative.display()),
            });
        }
        let mut model = parse_model(&name, &relative, &text)?;
        // Beside the model: `models/<folder>/<name>.tests.toml`.
        let tests = format!("{}.tests.toml", file.trim_end_matches(".sql"));
        if files.contains(&tests) {
            model.unit_tests = unit_file::parse_tests(&model, &read_to_string(&dir.join(&tests))?)?;
        }
        models.insert(name.clone(), model);
    }
    for file in &files {
        let Some(stem) = file.strip_suffix(".tests.toml") else {
            continue;
        };
        if !files.contains(&format!("{stem}.sql")) {
            let model = format!("{MODELS_DIR}/{stem}.sql");
            return Err(ProjectError::OrphanUnitTests {
                path: format!("{MODELS_DIR}/{file}"),
                model,
            });
        }
    }
    Ok(models)
}

/// ` (line 3)`: where in `text` a TOML error's span starts.
pub(crate) fn toml_location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    match span {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" (line {line})")
        }
        None => String::new(),
    }
}
