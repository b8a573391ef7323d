//! What a build reports: each stage's [`StageOutcome`] and the whole [`BuildReport`].
//!
//! A report is also the run record: the same type is printed with `--format json`, appended to
//! `runs.jsonl`, and read back by `log` and `report` ([`crate::runs`]), so what is written and
//! what is read can never drift apart. Every field added later has a serde default, so records
//! written by earlier versions still read. Rules it keeps: what the user sees is here; the build's
//! own bookkeeping (fingerprints, records for the month state) is not ([`super::Built`]); logic
//! never reads the words of a reason, only the typed [`SkipReason`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::archive::Archived;
use crate::checks::{CheckResult, CheckStatus};
use crate::graph::StageKind;
use crate::month::Month;
use crate::store::{ObjectHash, StageKey};
use crate::table::ColumnInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Action {
    Ran,
    Reused,
    /// Reused from the remote store: another machine built it.
    Fetched,
    Failed,
    Skipped,
}

impl Action {
    /// Whether dependents can be built on a stage that ended so.
    pub(crate) fn is_usable(self) -> bool {
        matches!(self, Action::Ran | Action::Reused | Action::Fetched)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Ran => "ran",
            Action::Reused => "reused",
            Action::Fetched => "fetched",
            Action::Failed => "failed",
            Action::Skipped => "skipped",
        })
    }
}

/// Why a stage was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SkipReason {
    /// Outside `--select` and out of date: left alone, as dbt leaves it.
    NotSelected,
    /// An input failed or was skipped.
    Upstream { stage: String, action: Action },
    /// An input has no outcome at all in this build.
    UpstreamMissing { stage: String },
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotSelected => f.write_str("not selected, and out of date"),
            SkipReason::Upstream { stage, action } => write!(f, "upstream `{stage}` {action}"),
            SkipReason::UpstreamMissing { stage } => write!(f, "upstream `{stage}` was not built"),
        }
    }
}

/// What happened to one stage in one build.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StageOutcome {
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    pub(crate) action: Action,
    /// Why it ran, or why it failed or was skipped; `unchanged` when reused.
    pub(crate) reason: String,
    /// Why it was skipped, for the build's logic (the words are in `reason`).
    #[serde(skip)]
    pub(crate) skipped: Option<SkipReason>,
    #[serde(default)]
    pub(crate) key: Option<StageKey>,
    #[serde(default)]
    pub(crate) object: Option<ObjectHash>,
    #[serde(default)]
    pub(crate) rows: Option<u64>,
    /// When the stage started, from the start of the build.
    #[serde(default)]
    pub(crate) started_ms: f64,
    #[serde(default)]
    pub(crate) duration_ms: f64,
    #[serde(default)]
    pub(crate) warnings: Vec<String>,
    /// Where its output was built: `cluster` for a model a cluster ran, else `local`.
    #[serde(default)]
    pub(crate) engine: crate::cluster::Engine,
    /// The output's columns and their Arrow types (sources and models).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) columns: Vec<ColumnInfo>,
    /// For an export that ran or was restored: the file written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) wrote: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
    /// The model's checks, run or read from the check cache.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) checks: Vec<CheckResult>,
}

impl StageOutcome {
    /// An outcome with nothing but its stage, action and reason.
    pub(crate) fn new(
        stage: &str,
        kind: StageKind,
        action: Action,
        reason: String,
    ) -> StageOutcome {
        StageOutcome {
            stage: stage.to_string(),
            kind,
            action,
            reason,
            skipped: None,
            key: None,
            object: None,
            rows: None,
            started_ms: 0.0,
            duration_ms: 0.0,
            warnings: Vec::new(),
            engine: crate::cluster::Engine::Local,
            columns: Vec::new(),
            wrote: None,
            error: None,
            hint: None,
            checks: Vec::new(),
        }
    }
}

/// How a build (or a `test`) ended, as its record says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BuildStatus {
    Success,
    ChecksFailed,
    Failed,
}

impl fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildStatus::Success => "success",
            BuildStatus::ChecksFailed => "checks_failed",
            BuildStatus::Failed => "failed",
        })
    }
}

/// The exit status of a command: 0 ok, 1 a check (or a verification) found a problem, 2 an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    Success,
    Problems,
    Error,
}

impl ExitStatus {
    pub(crate) fn code(self) -> i32 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Problems => 1,
            ExitStatus::Error => 2,
        }
    }

    /// The graver of two statuses.
    pub(crate) fn worst(self, other: ExitStatus) -> ExitStatus {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }

    /// `Error` when something could not run, `Problems` when an error-severity check failed.
    pub(crate) fn of<'a>(
        errors: bool,
        mut checks: impl Iterator<Item = &'a CheckResult>,
    ) -> ExitStatus {
        if errors {
            ExitStatus::Error
        } else if checks.any(|c| c.status == CheckStatus::Fail) {
            ExitStatus::Problems
        } else {
            ExitStatus::Success
        }
    }

    pub(crate) fn build_status(self) -> BuildStatus {
        match self {
            ExitStatus::Success => BuildStatus::Success,
            ExitStatus::Problems => BuildStatus::ChecksFailed,
            ExitStatus::Error => BuildStatus::Failed,
        }
    }
}

/// The result of a build, and its run record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BuildReport {
    pub(crate) run_id: String,
    pub(crate) month: Month,
    pub(crate) started_at: String,
    pub(crate) status: BuildStatus,
    pub(crate) duration_ms: f64,
    pub(crate) stages: Vec<StageOutcome>,
    /// The archive revision this build created or matched; none for a failed or partial build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) archived: Option<Archived>,
    /// Reports removed from the output folder because this build did not produce them (each
    /// with why), so no stale report looks current.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) removed: Vec<String>,
    /// What the build fetched from and shared with the remote store, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) remote: Option<crate::remote::RemoteReport>,
}

impl BuildReport {
    pub(crate) fn count(&self, action: Action) -> usize {
        self.stages.iter().filter(|s| s.action == action).count()
    }

    /// Stages that could not run (an error, not a failed check).
    pub(crate) fn errors(&self) -> usize {
        self.stages.iter().filter(|s| s.error.is_some()).count()
    }

    /// Every check result of the build, in stage order.
    pub(crate) fn checks(&self) -> impl Iterator<Item = &CheckResult> {
        self.stages.iter().flat_map(|s| s.checks.iter())
    }

    pub(crate) fn exit_status(&self) -> ExitStatus {
        ExitStatus::of(self.errors() > 0, self.checks())
    }
}
