//! The versioned artifacts a build leaves for other tools, as dbt leaves its `target/`:
//! `.winebuild/artifacts/manifest.json` (the project as the build saw it: stages, inputs, keys,
//! columns and types, checks, unit tests, exports, tags, descriptions) and
//! `.winebuild/artifacts/run_results.json` (per stage: status, reason, timing, rows, checks).
//!
//! Rules it keeps:
//! - each document names its format in `schema` (`winebuild/manifest/v1`,
//!   `winebuild/run_results/v1`); a change that removes or retypes a field is a new version, new
//!   optional fields are not;
//! - the JSON Schemas are generated from these types (schemars) and committed beside this file
//!   (`manifest.schema.json`, `run_results.schema.json`); a unit test fails when they drift, and
//!   `winebuild schema NAME` prints them;
//! - both are written after every build, failed or not, each atomically; writing them never
//!   changes a build's result (a failure is a warning).

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::build::{Action, BuildReport, BuildStatus};
use crate::checks::CheckStatus;
use crate::graph::StageKind;
use crate::project::{CheckKind, Project, Severity};

/// Where the artifacts are written, relative to the project root.
pub(crate) const ARTIFACTS_DIR: &str = ".winebuild/artifacts";

/// The artifacts and their schemas, by the name `winebuild schema` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Artifact {
    Manifest,
    RunResults,
}

impl Artifact {
    pub(crate) fn file(self) -> &'static str {
        match self {
            Artifact::Manifest => "manifest.json",
            Artifact::RunResults => "run_results.json",
        }
    }

    /// The JSON Schema, as generated from the Rust type.
    pub(crate) fn schema(self) -> serde_json::Value {
        let schema = match self {
            Artifact::Manifest => schemars::schema_for!(Manifest),
            Artifact::RunResults => schemars::schema_for!(RunResults),
        };
        serde_json::to_value(schema).unwrap_or_default()
    }
}

/// The format of a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) enum ManifestVersion {
    #[serde(rename = "winebuild/manifest/v1")]
    V1,
}

/// The format of a run's results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub(crate) enum RunResultsVersion {
    #[serde(rename = "winebuild/run_results/v1")]
    V1,
}

/// The project as a build of one month saw it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    pub(crate) schema: ManifestVersion,
    pub(crate) winebuild_version: String,
    /// When the build that wrote it started (RFC 3339).
    pub(crate) generated_at: String,
    pub(crate) project: String,
    /// The month built, `YYYY-MM`.
    pub(crate) month: String,
    /// Every stage, each after all its inputs.
    pub(crate) stages: Vec<ManifestStage>,
}

/// One source, model or export.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestStage {
    pub(crate) name: String,
    pub(crate) kind: StageKind,
    /// The file that defines it: `models/<name>.sql`, or `winebuild.toml`.
    pub(crate) path: String,
    pub(crate) description: Option<String>,
    pub(crate) tags: Vec<String>,
    /// The stages it reads.
    pub(crate) inputs: Vec<String>,
    /// A source's file in the month folder, or an export's file in the output folder.
    pub(crate) file: Option<String>,
    /// Its cache key in this build (blake3, hex); none when it was not decided (skipped).
    pub(crate) key: Option<String>,
    /// Its output's columns and Arrow types, when it has an output.
    pub(crate) columns: Vec<Column>,
    /// The columns that identify a row (a model's `key = [...]`).
    pub(crate) key_columns: Vec<String>,
    pub(crate) checks: Vec<ManifestCheck>,
    /// The names of its unit tests (`models/<name>.tests.toml`).
    pub(crate) unit_tests: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Column {
    pub(crate) name: String,
    /// The Arrow type, as Arrow writes it (`Int64`, `Utf8`, `Float64`, …).
    #[serde(rename = "type")]
    pub(crate) data_type: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ManifestCheck {
    pub(crate) name: String,
    pub(crate) kind: CheckKind,
    pub(crate) severity: Severity,
}

/// What one build did, stage by stage.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunResults {
    pub(crate) schema: RunResultsVersion,
    pub(crate) winebuild_version: String,
    /// The run's id, as `winebuild log` shows it.
    pub(crate) run_id: String,
    pub(crate) month: String,
    pub(crate) started_at: String,
    pub(crate) duration_ms: f64,
    pub(crate) status: BuildStatus,
    /// The process's exit code for this build: 0, 1 (a check failed) or 2 (an error).
    pub(crate) exit_code: i32,
    pub(crate) results: Vec<StageResult>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageResult {
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    pub(crate) status: Action,
    /// Why it ran, failed or was skipped; `unchanged` when reused.
    pub(crate) reason: String,
    /// When it started, from the start of the build.
    pub(crate) started_ms: f64,
    pub(crate) duration_ms: f64,
    pub(crate) rows: Option<u64>,
    pub(crate) key: Option<String>,
    /// The blake3 of its output object.
    pub(crate) output: Option<String>,
    /// Where its output was built: `cluster` for a model a Ballista cluster ran.
    #[serde(default)]
    pub(crate) engine: crate::cluster::Engine,
    pub(crate) error: Option<String>,
    pub(crate) warnings: Vec<String>,
    pub(crate) checks: Vec<CheckOutcome>,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckOutcome {
    pub(crate) name: String,
    pub(crate) kind: CheckKind,
    pub(crate) severity: Severity,
    pub(crate) status: CheckStatus,
    /// The alert when it failed; what was verified when it passed.
    pub(crate) message: String,
    pub(crate) actual: serde_json::Value,
    pub(crate) expected: serde_json::Value,
    pub(crate) failing: Option<u64>,
    /// Read from the check cache rather than run by this build.
    pub(crate) cached: bool,
}

/// The manifest of `project` as `report`'s build saw it.
pub(crate) fn manifest(project: &Project, report: &BuildReport) -> Manifest {
    let stages = report
        .stages
        .iter()
        .map(|outcome| {
            let name = outcome.stage.as_str();
            let model = project.models.get(name);
            let file = match outcome.kind {
                StageKind::Source => project.sources.get(name).map(|s| s.file.clone()),
                StageKind::Export => project.exports.get(name).map(|e| e.file().to_string()),
                StageKind::Model => None,
            };
            let inputs = match outcome.kind {
                StageKind::Source => Vec::new(),
                StageKind::Model => model.map(|m| m.inputs.clone()).unwrap_or_default(),
                StageKind::Export => project
                    .exports
                    .get(name)
                    .map(crate::project::ExportSpec::inputs)
                    .unwrap_or_default(),
            };
            ManifestStage {
                name: name.to_string(),
                kind: outcome.kind,
                path: project.defined_in(name),
                description: project.description(name).map(str::to_string),
                tags: project.tags(name).to_vec(),
                inputs,
                file,
                key: outcome.key.as_ref().map(ToString::to_string),
                columns: outcome
                    .columns
                    .iter()
                    .map(|c| Column {
                        name: c.name.clone(),
                        data_type: c.data_type.clone(),
                    })
                    .collect(),
                key_columns: model.map(|m| m.key_columns.clone()).unwrap_or_default(),
                checks: model
                    .map(|m| {
                        m.checks
                            .iter()
                            .map(|c| ManifestCheck {
                                name: c.name.clone(),
                                kind: c.kind(),
                                severity: c.severity,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                unit_tests: model
                    .map(|m| m.unit_tests.iter().map(|t| t.name.clone()).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    Manifest {
        schema: ManifestVersion::V1,
        winebuild_version: env!("CARGO_PKG_VERSION").to_string(),
        generated_at: report.started_at.clone(),
        project: project.name.clone(),
        month: report.month.to_string(),
        stages,
    }
}

/// The results of `report`'s build.
pub(crate) fn run_results(report: &BuildReport) -> RunResults {
    let results = report
        .stages
        .iter()
        .map(|s| StageResult {
            stage: s.stage.clone(),
            kind: s.kind,
            status: s.action,
            reason: s.reason.clone(),
            started_ms: s.started_ms,
            duration_ms: s.duration_ms,
            rows: s.rows,
            key: s.key.as_ref().map(ToString::to_string),
            output: s.object.as_ref().map(ToString::to_string),
            engine: s.engine,
            error: s.error.clone(),
            warnings: s.warnings.clone(),
            checks: s
                .checks
                .iter()
                .map(|c| CheckOutcome {
                    name: c.check.clone(),
                    kind: c.kind,
                    severity: c.severity,
                    status: c.status,
                    message: c.message.clone(),
                    actual: c.actual.clone(),
                    expected: c.expected.clone(),
                    failing: c.failing,
                    cached: c.cached,
                })
                .collect(),
        })
        .collect();
    RunResults {
        schema: RunResultsVersion::V1,
        winebuild_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: report.run_id.clone(),
        month: report.month.to_string(),
        started_at: report.started_at.clone(),
        duration_ms: report.duration_ms,
        status: report.status,
        exit_code: report.exit_status().code(),
        results,
    }
}

/// Writes both artifacts of a build; the paths written, relative to the root.
pub(crate) fn write(project: &Project, report: &BuildReport) -> Result<Vec<PathBuf>, String> {
    let dir = project.root.join(ARTIFACTS_DIR);
    let documents = [
        (
            Artifact::Manifest,
            serde_json::to_vec_pretty(&manifest(project, report)),
        ),
        (
            Artifact::RunResults,
            serde_json::to_vec_pretty(&run_results(report)),
        ),
    ];
    let mut written = Vec::new();
    for (artifact, json) in documents {
        let mut json = json.map_err(|e| e.to_string())?;
        json.push(b'\n');
        let path = dir.join(artifact.file());
        crate::files::write_atomic(&path, &json).map_err(|e| e.to_string())?;
        written.push(project.relative(&path));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed schemas are what the types generate: regenerate them with
    /// `winebuild schema manifest > src/artifacts/manifest.schema.json` (and `run-results`).
    #[test]
    fn committed_schemas_match_the_types() {
        for (artifact, committed) in [
            (Artifact::Manifest, include_str!("manifest.schema.json")),
            (
                Artifact::RunResults,
                include_str!("run_results.schema.json"),
            ),
        ] {
            let committed: serde_json::Value = serde_json::from_str(committed).unwrap();
            assert_eq!(
                committed,
                artifact.schema(),
                "src/artifacts/{}: regenerate it with `winebuild schema`",
                artifact.file().replace(".json", ".schema.json")
            );
        }
    }
}
