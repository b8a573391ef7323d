//! What a model's checks see of a build ([`CheckEnv`]): the outputs built so far, the one being
//! checked, the check cache (the month state's copies first, so a no-op build opens no file).

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
    /// Every result used, by check key, for the month's state.
    seen: Mutex<CheckIndex>,
}

impl<'c, 'p> BuildEnv<'c, 'p> {
    pub(crate) fn new(
        ctx: &'c Context<'p>,
        view: &'c dyn InputView,
        own: &'c StageOutcome,
    ) -> Self {
        BuildEnv {
            ctx,
            view,
            own,
            seen: Mutex::new(BTreeMap::new()),
        }
    }

    /// The results used, by check key.
    pub(crate) fn into_seen(self) -> CheckIndex {
        self.seen
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn see(&self, key: &CheckKey, result: &CheckResult) {
        self.seen
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
            .and_then(|value| serde_json::from_value(value.clone()).ok());
        // The remote may hold results for an output another machine built; one this build just
        // made is new to it, and asking would only add a round trip per check.
        let fetched = self.own.action == super::Action::Fetched;
        let result = indexed
            .or_else(|| self.ctx.store.check_result(key))
            .or_else(|| {
                let body = fetched.then(|| self.ctx.store.fetch_check_result(key))??;
                serde_json::from_slice(&body).ok()
            })?;
        self.see(key, &result);
        Some(result)
    }

    fn query_limits(&self) -> crate::engine::QueryLimits {
        self.ctx.project.query_limits
    }

    fn remember(&self, key: &CheckKey, result: &CheckResult) {
        self.see(key, result);
        // A result that cannot be cached is computed again next time; never worth failing for.
        let _ = self.ctx.store.put_check_result(key, result);
        self.ctx.store.share_check_result(key, result);
    }
}
