//! What can go wrong loading a project or choosing its month, each error naming the file, the
//! model, the setting or the folder, with a hint.

use std::fmt;
use std::path::PathBuf;

use super::{PROJECT_FILE, join_months};
use crate::error::Hint;
use crate::month::{Month, NotAMonth};

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProjectError {
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
        suggestion: String,
    },
    #[error("{}{}: {message}", path.display(), test.as_ref().map(|t| format!(", test `{t}`")).unwrap_or_default())]
    BadUnitTest {
        path: PathBuf,
        test: Option<String>,
        message: String,
    },
    #[error("`{path}` has no model beside it (`{model}`)")]
    OrphanUnitTests { path: String, model: String },
    #[error("{stage}: `{tag}` is not a valid tag")]
    BadTag { stage: String, tag: String },
    #[error("export `{export}`: {message}")]
    BadExport { export: String, message: String },
    #[error("source `{source_name}`: {message}")]
    BadSource {
        source_name: String,
        message: String,
    },
    #[error("`data` in {PROJECT_FILE} must contain `{{month}}`, found `{template}`")]
    DataTemplate { template: String },
    #[error("`out` in {PROJECT_FILE} (`{template}`) {problem}")]
    OutTemplate {
        template: String,
        problem: OutProblem,
    },
    #[error("the project name {name:?} holds a line break or another control character")]
    ProjectName { name: String },
    #[error("[notify]: {message}")]
    BadNotify { message: String },
    #[error("[summary] `{label}`: {message}")]
    BadSummary { label: String, message: String },
    #[error(transparent)]
    Remote(#[from] crate::remote::SettingsError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterSettingsError),
    #[error("[{section}] `{field}`: {message}")]
    BadSetting {
        section: &'static str,
        field: &'static str,
        message: String,
    },
    #[error("model `{model}`, check `{check}`: {message}")]
    BadCheck {
        model: String,
        check: String,
        message: String,
        hint: Option<String>,
    },
}

impl Hint for ProjectError {
    fn hint(&self) -> Option<String> {
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
            ProjectError::BadUnitTest { .. } => Some(
                "a test is `[[tests]]` with `name`, `given.<input>` for every input and `expect`; rows are CSV text or an array of tables (README: Model unit tests)".into(),
            ),
            ProjectError::OrphanUnitTests { .. } => Some(
                "name the file after its model: models/<name>.tests.toml beside models/<name>.sql".into(),
            ),
            ProjectError::BadTag { .. } => Some(
                "a tag is one word of letters, digits, `_`, `-`, `.` or `/` (no spaces, commas, `:`, `+`, `@` or `*`)".into(),
            ),
            ProjectError::BadExport { .. } => {
                Some("see the README's `winebuild.toml` section for what an export takes".into())
            }
            ProjectError::UnknownInput { suggestion, .. } => Some(suggestion.clone()),
            ProjectError::DataTemplate { .. } => {
                Some("for example: data = \"data/{month}\"".into())
            }
            ProjectError::OutTemplate { problem, .. } => Some(problem.hint().into()),
            ProjectError::ProjectName { .. } => {
                Some("name the project in plain words on one line, e.g. name = \"cave\"".into())
            }
            ProjectError::Remote(e) => Some(e.hint()),
            ProjectError::Cluster(e) => Some(e.hint()),
            ProjectError::BadCheck { hint, .. } => hint.clone().or_else(|| {
                Some("see the README's section on checks for each kind's fields".into())
            }),
            _ => None,
        }
    }
}

/// Why an `out` template is refused: each one would let a build overwrite what it must not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutProblem {
    NoMonth,
    OutsideProject,
    IntoData,
    IntoWinebuild,
}

impl std::fmt::Display for OutProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutProblem::NoMonth => {
                "must contain `{month}`: one month's reports would overwrite another's"
            }
            OutProblem::OutsideProject => "leads outside the project folder",
            OutProblem::IntoData => {
                "is inside the month's data folder: an export could overwrite an input file"
            }
            OutProblem::IntoWinebuild => {
                "is inside the store, the archive or models/: winebuild's own files"
            }
        })
    }
}

impl OutProblem {
    fn hint(self) -> &'static str {
        match self {
            OutProblem::NoMonth => "for example: out = \"out/{month}\"",
            OutProblem::OutsideProject => {
                "write it inside the project, or set `out_outside_project = true` under [project] if another disk is meant"
            }
            OutProblem::IntoData | OutProblem::IntoWinebuild => {
                "for example: out = \"out/{month}\", beside data/, not inside it"
            }
        }
    }
}

/// Why `--month` names no month that can be built.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MonthError {
    #[error("no month folder found under `{dir}`")]
    NoMonths { dir: PathBuf },
    #[error(transparent)]
    NotAMonth(#[from] NotAMonth),
    #[error("no data for month `{month}`: `{dir}` does not exist")]
    NotFound {
        month: Month,
        dir: PathBuf,
        available: Vec<Month>,
    },
}

impl Hint for MonthError {
    fn hint(&self) -> Option<String> {
        match self {
            MonthError::NoMonths { .. } => Some(
                "put each month's files in a folder named YYYY-MM (see `data` in winebuild.toml)"
                    .into(),
            ),
            MonthError::NotAMonth(_) => {
                Some("for example: --month 2026-10, or --month previous".into())
            }
            MonthError::NotFound { available, .. } if !available.is_empty() => {
                Some(format!("months with data: {}", join_months(available)))
            }
            MonthError::NotFound { .. } => None,
        }
    }
}
