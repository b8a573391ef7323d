//! Reading a month's current outputs without building: `show` (one stage's output) and `test`
//! (the checks of the selected models, from the check cache when nothing changed).
//!
//! Rules they keep: they build nothing; `show` opens the store read-only; `test` writes only
//! check results to the cache, as a build would.

use std::sync::OnceLock;

use serde::Serialize;

use super::check_env::BuildEnv;
use super::context::Context;
use super::outcome::{Action, BuildStatus, ExitStatus};
use super::{BuildError, BuildOptions, Built};
use crate::checks::{self, CheckResult};
use crate::error::did_you_mean;
use crate::graph::StageId;
use crate::month::{Month, MonthChoice};
use crate::project::Project;
use crate::store::Store;
use crate::table::Table;

/// The output of `stage` from the last build of `month` (default: the latest month), and the
/// month.
pub(crate) fn current_output(
    project: &Project,
    month: Option<&str>,
    stage: &str,
) -> Result<(Month, Table), BuildError> {
    let choice = MonthChoice::parse(month).map_err(|e| BuildError::Month(e.into()))?;
    let month = project.resolve_month(choice)?;
    if let Some(export) = project.exports.get(stage) {
        let file = project.out_dir(month).join(export.file());
        return Err(BuildError::ShowExport {
            stage: stage.to_string(),
            file: project.relative(&file).display().to_string(),
        });
    }
    if !project.sources.contains_key(stage) && !project.models.contains_key(stage) {
        return Err(BuildError::UnknownStage {
            stage: stage.to_string(),
            suggestion: did_you_mean(
                stage,
                project.sources.keys().chain(project.models.keys()),
                "`winebuild plan` lists every stage",
            ),
        });
    }
    let store = Store::open_read_only(&project.root);
    let entry = store
        .month_state(month)
        .remove(stage)
        .ok_or_else(|| BuildError::NotBuilt {
            stage: stage.to_string(),
            month,
        })?;
    let output_error = |message: String| BuildError::Output {
        stage: stage.to_string(),
        message,
    };
    let bytes = store
        .read_object(&entry.object)
        .map_err(|e| output_error(e.to_string()))?;
    let table = Table::from_parquet(bytes).map_err(|e| output_error(e.to_string()))?;
    Ok((month, table))
}

/// The result of `winebuild test`: every check of the selected models on the month's current
/// outputs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestReport {
    pub(crate) month: Month,
    pub(crate) status: BuildStatus,
    pub(crate) checks: Vec<CheckResult>,
    /// Checked models whose output is out of date: the next build would change it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) stale: Vec<Stale>,
}

/// A stage whose current output is not what a build would give now, and why.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stale {
    pub(crate) stage: String,
    pub(crate) reason: String,
}

/// The stages of the month whose current output a build would not keep as it is: each one the
/// plan would run, or would run if what it reads changes.
pub(crate) fn stale_stages(
    project: &Project,
    options: &BuildOptions,
) -> Result<Vec<Stale>, BuildError> {
    let plan = super::plan(
        project,
        &BuildOptions {
            select: Vec::new(),
            force: false,
            ..options.clone()
        },
    )?;
    Ok(plan
        .stages
        .into_iter()
        .filter(|s| s.action != super::PlanAction::Reuse)
        .map(|s| Stale {
            stage: s.stage,
            reason: s.reason,
        })
        .collect())
}

impl TestReport {
    pub(crate) fn exit_status(&self) -> ExitStatus {
        ExitStatus::of(false, self.checks.iter())
    }
}

/// Runs the checks of the selected models on the outputs of the month's last build, reading
/// results from the check cache when their inputs did not change. Builds nothing.
pub(crate) fn test(project: &Project, options: &BuildOptions) -> Result<TestReport, BuildError> {
    let stale = stale_stages(project, options)?;
    let store = Store::open(&project.root)?;
    let ctx = Context::new(project, options, &store)?;
    let current = current_outputs(&ctx);
    let view = SlotView(&current);
    let mut checked = Vec::new();
    let mut built_any = false;
    for id in ctx.graph.in_order() {
        let Some(model) = project.models.get(ctx.name(id)) else {
            continue;
        };
        if !ctx.selected.contains(&id) || model.checks.is_empty() {
            continue;
        }
        let Some(own) = current[id.index()].get() else {
            let month = ctx.month.to_string();
            checked.extend(
                model
                    .checks
                    .iter()
                    .map(|check| checks::not_built(check, &model.name, &month)),
            );
            continue;
        };
        built_any = true;
        // Results are kept with the output's record, as a build keeps them.
        let record = ctx
            .previous
            .get(&model.name)
            .and_then(|entry| store.stage_record(&entry.key));
        let recorded = record
            .as_ref()
            .map(|r| r.checks.clone())
            .unwrap_or_default();
        let env = BuildEnv::new(&ctx, &view, &own.outcome, &recorded);
        checked.extend(checks::run_checks(project, model, &ctx.expectations, &env)?);
        let fresh = env.into_used().fresh;
        if let Some(mut record) = record
            && !fresh.is_empty()
        {
            record.checks.extend(super::check_index_json(&fresh));
            // A result that cannot be kept is computed again next time; never worth failing for.
            let _ = store.put_stage_record(&record);
        }
    }
    if !built_any && let Some(first) = checked.first() {
        return Err(BuildError::NotBuilt {
            stage: first.model.clone(),
            month: ctx.month,
        });
    }
    store.save_statcache()?;
    let status = ExitStatus::of(false, checked.iter()).build_status();
    let stale = stale
        .into_iter()
        .filter(|s| checked.iter().any(|c| c.model == s.stage))
        .collect();
    Ok(TestReport {
        month: ctx.month,
        status,
        checks: checked,
        stale,
    })
}

/// Each stage's current output, from the month state, as outcomes the checks can read.
fn current_outputs(ctx: &Context<'_>) -> Vec<OnceLock<Built>> {
    let current: Vec<OnceLock<Built>> = (0..ctx.graph.len()).map(|_| OnceLock::new()).collect();
    for (name, entry) in &ctx.previous {
        let Some(id) = ctx.graph.id(name) else {
            continue;
        };
        let mut outcome = ctx.outcome(id, Action::Reused, "current output".into());
        outcome.object = Some(entry.object.clone());
        outcome.rows = Some(entry.rows);
        outcome.columns = match &entry.record {
            Some(record) => record.columns.clone(),
            None => ctx
                .store
                .stage_record(&entry.key)
                .map(|record| record.columns)
                .unwrap_or_default(),
        };
        let _ = current[id.index()].set(Built::bare(outcome));
    }
    current
}

/// A view over the month's current outputs.
struct SlotView<'a>(&'a [OnceLock<Built>]);

impl super::decide::InputView for SlotView<'_> {
    fn input(&self, id: StageId) -> Option<&Built> {
        self.0.get(id.index())?.get()
    }
}
