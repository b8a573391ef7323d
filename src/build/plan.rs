//! `plan`: what the next build would do, stage by stage, and why — the build's own decisions,
//! made on a store opened read-only.
//!
//! Rules it keeps: nothing is created, written or deleted (the store is opened read-only, so a
//! corrupt object is reported as the reason a stage would run, not removed); a stage downstream
//! of one that would run is `maybe`: whether it runs depends on an output not computed yet.

use serde::Serialize;

use super::context::Context;
use super::decide::{InputState, Inputs};
use super::{Action, BuildError, BuildOptions};
use crate::graph::{StageId, StageKind};
use crate::month::Month;
use crate::project::Project;
use crate::store::{ObjectHash, Store};
use crate::text::quoted_list;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PlanAction {
    /// Would run.
    Run,
    /// Would run only if an upstream stage that runs produces a different output.
    Maybe,
    /// Would be reused from the store.
    Reuse,
    /// Cannot run (missing file, upstream blocked, not selected).
    Blocked,
}

impl std::fmt::Display for PlanAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PlanAction::Run => "run",
            PlanAction::Maybe => "maybe",
            PlanAction::Reuse => "reuse",
            PlanAction::Blocked => "blocked",
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlannedStage {
    pub(crate) stage: String,
    pub(crate) kind: StageKind,
    pub(crate) action: PlanAction,
    pub(crate) reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct PlanReport {
    pub(crate) month: Month,
    pub(crate) stages: Vec<PlannedStage>,
}

/// What the next build would do, stage by stage, and why. Runs nothing and writes nothing.
pub(crate) fn plan(project: &Project, options: &BuildOptions) -> Result<PlanReport, BuildError> {
    let store = Store::open_read_only(&project.root);
    let ctx = Context::new(project, options, &store)?;
    let mut planned: Vec<Option<(PlanAction, Option<ObjectHash>)>> = vec![None; ctx.graph.len()];
    let mut stages = Vec::new();
    for id in ctx.graph.in_order() {
        let (action, reason, object) = {
            let state_of = |input: StageId| match &planned[input.index()] {
                Some((PlanAction::Reuse, Some(object))) => InputState::Usable(object.clone()),
                Some((PlanAction::Run | PlanAction::Maybe, _)) => InputState::WouldRun,
                Some(_) => InputState::Unusable(Action::Skipped),
                None => InputState::Missing,
            };
            ctx.plan_stage(id, &state_of)
        };
        stages.push(PlannedStage {
            stage: ctx.name(id).to_string(),
            kind: ctx.kind(id),
            action,
            reason,
        });
        planned[id.index()] = Some((action, object));
    }
    Ok(PlanReport {
        month: ctx.month,
        stages,
    })
}

impl Context<'_> {
    fn plan_stage(
        &self,
        id: StageId,
        state_of: &dyn Fn(StageId) -> InputState,
    ) -> (PlanAction, String, Option<ObjectHash>) {
        let forced = self.force && self.selected.contains(&id);
        let inputs = match self.resolve_inputs(id, state_of) {
            Inputs::Ready(inputs) => inputs,
            Inputs::Unreadable(error) => return (PlanAction::Blocked, error.to_string(), None),
            Inputs::Blocked(why) => return (PlanAction::Blocked, why.to_string(), None),
            Inputs::Pending(_) if forced => return (PlanAction::Run, "--force".into(), None),
            Inputs::Pending(upstream) if !self.selected.contains(&id) => {
                // Still `maybe` for what reads it: an identical output leaves it current.
                let reason = format!(
                    "not selected: left out of date if the output of {} changes",
                    quoted_list(&upstream)
                );
                return (PlanAction::Maybe, reason, None);
            }
            Inputs::Pending(upstream) => {
                let reason = format!("runs if the output of {} changes", quoted_list(&upstream));
                return (PlanAction::Maybe, reason, None);
            }
            // A plan's inputs are never drafts: nothing runs.
            Inputs::Drafted => {
                let reason = "runs if the output of an input changes".to_string();
                return (PlanAction::Maybe, reason, None);
            }
        };
        let decision = self.decide(id, inputs);
        match decision.hit {
            Some(record) => (PlanAction::Reuse, "unchanged".into(), Some(record.object)),
            None if !self.selected.contains(&id) => (
                PlanAction::Blocked,
                format!("not selected, and out of date ({})", decision.reason),
                None,
            ),
            None => (PlanAction::Run, decision.reason.to_string(), None),
        }
    }
}
