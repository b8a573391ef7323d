//! What a model's checks see of a build ([`CheckEnv`]): the outputs built so far, the one being
//! checked, the check cache: the month state's copies first, so a no-op build opens no file, then
//! the results kept with the stage's record, then the remote's.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::context::{CheckIndex, Context};
use super::decide::InputView;
use super::outcome::StageOutcome;
use crate::checks::{CheckEnv, CheckResult, Output};
use crate::store::{CheckKey, ObjectHash};
use crate::table::Table;

pub(super) struct BuildEnv<'c, 'p> {
    ctx: &'c Context<'p>,
    view: &'c dyn InputView,
    own: &'c StageOutcome,
    /// The results kept with the stage's record.
    recorded: &'c BTreeMap<CheckKey, serde_json::Value>,
    /// Every result used, by check key, for the month's state.
    seen: Mutex<CheckIndex>,
    /// The results the record lacks (computed, or fetched from the remote), for the record.
    fresh: Mutex<CheckIndex>,
}

/// What the checks of one stage used and found.
pub(super) struct Used {
    /// Every result used, by check key.
    pub(super) seen: CheckIndex,
    /// The results its record lacks.
    pub(super) fresh: CheckIndex,
}

impl<'c, 'p> BuildEnv<'c, 'p> {
    pub(crate) fn new(
        ctx: &'c Context<'p>,
        view: &'c dyn InputView,
        own: &'c StageOutcome,
        recorded: &'c BTreeMap<CheckKey, serde_json::Value>,
    ) -> Self {
        BuildEnv {
            ctx,
            view,
            own,
            recorded,
            seen: Mutex::new(BTreeMap::new()),
            fresh: Mutex::new(BTreeMap::new()),
        }
    }

    /// The results used, and those the record lacks.
    pub(crate) fn into_used(self) -> Used {
        let inner = |index: Mutex<CheckIndex>| {
            index
                .into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        Used {
            seen: inner(self.seen),
            fresh: inner(self.fresh),
        }
    }

    fn see(&self, key: &CheckKey, result: &CheckResult) {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), result.clone());
    }

    fn record(&self, key: &CheckKey, result: &CheckResult) {
        self.fresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key.clone(), result.clone());
    }
}

impl CheckEnv for BuildEnv<'_, '_> {
    fn output(&self, stage: &str) -> Option<Output> {
        let (outcome, object) = if stage == self.own.stage {
            (self.own, self.own.object.clone()?)
        } else {
            let built = self.view.input(self.ctx.graph.id(stage)?)?;
            (&built.outcome, built.object()?)
        };
        let columns = if outcome.columns.is_empty() {
            self.ctx
                .load_table(stage, &object)
                .ok()?
                .columns()
                .into_iter()
                .map(|c| c.name)
                .collect()
        } else {
            outcome.columns.iter().map(|c| c.name.clone()).collect()
        };
        Some(Output {
            object,
            rows: outcome.rows.unwrap_or(0),
            columns,
        })
    }

    fn table(&self, stage: &str, object: &ObjectHash) -> Result<Arc<Table>, String> {
        self.ctx
            .load_table(stage, object)
            .map_err(|e| e.to_string())
    }

    fn cached(&self, key: &CheckKey) -> Option<CheckResult> {
        let forced = self.ctx.force
            && self
                .ctx
                .graph
                .id(&self.own.stage)
                .is_some_and(|id| self.ctx.selected.contains(&id));
        if forced {
            return None;
        }
        // The month's state keeps the results of the current build: a no-op opens no file.
        let indexed = self
            .ctx
            .previous
            .get(&self.own.stage)
            .and_then(|entry| entry.checks.get(key))
            .or_else(|| self.recorded.get(key))
            .and_then(|value| serde_json::from_value(value.clone()).ok());
        let result = if let Some(result) = indexed {
            result
        } else {
            // The remote may hold results for an output another machine built; one this build
            // just made is new to it, and asking would only add a round trip per check.
            if self.own.action != super::Action::Fetched {
                return None;
            }
            let body = self.ctx.store.fetch_check_result(key)?;
            let result = serde_json::from_slice(&body).ok()?;
            self.record(key, &result);
            result
        };
        self.see(key, &result);
        Some(result)
    }

    fn query_limits(&self) -> crate::engine::QueryLimits {
        self.ctx.project.query_limits
    }

    fn remember(&self, key: &CheckKey, result: &CheckResult) {
        self.see(key, result);
        self.record(key, result);
        self.ctx.store.share_check_result(key, result);
    }
}
