//! The month state after a build: what the next build reuses without opening a record, and what
//! `plan`, `show`, `test` and `diff --against` read as the month's current outputs.
//!
//! Rules it keeps: a stage that produced an output (checks passed or not) becomes the month's
//! current one, so `test` and `show` see what failed; a stage that failed to produce one keeps
//! its last good entry, which `plan` compares against; stages no longer in the project are
//! dropped.

use super::context::Context;
use super::{Built, check_index_json};
use std::collections::BTreeMap;

use crate::store::{MonthEntry, MonthState, StageRecord};

/// The previous state, minus stages that no longer exist, updated with every stage that has an
/// output in this build.
pub(super) fn next(ctx: &Context<'_>, built: &[Built]) -> MonthState {
    let mut state = ctx.previous.clone();
    state.retain(|name, _| ctx.graph.id(name).is_some());
    for stage in built {
        let Some(kept) = &stage.state else {
            continue;
        };
        state.insert(
            stage.outcome.stage.clone(),
            MonthEntry {
                key: kept.record.key.clone(),
                fingerprint: kept.fingerprint.clone(),
                object: kept.record.object.clone(),
                rows: kept.record.rows,
                // Its check results are the entry's own `checks`, not twice.
                record: Some(StageRecord {
                    checks: BTreeMap::new(),
                    ..kept.record.clone()
                }),
                checks: check_index_json(&kept.checks),
            },
        );
    }
    state
}
