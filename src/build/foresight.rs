//! Models' queries planned ahead, on a worker that would otherwise wait.
//!
//! A cold build of a small month reads its largest workbook on one core for a third of the
//! build while the other core, done with the smaller ones, waits; then a chain of models runs
//! one after another, each spending more time planning its query than running it. A query's
//! logical plan needs only its inputs' schemas ([`crate::engine::prepare_model`]), and a
//! workbook's schema is known from its first rows: so while the workbook is still being read,
//! the chain's queries are planned on the idle worker, each from the schema the previous plan
//! gives, and as the chain runs, the next models are planned while the current one runs.
//!
//! Rules it keeps:
//! - planning ahead is the scheduler's spare work ([`super::scheduler::Stages::spare_work`]):
//!   it runs only on a worker with no stage to run, one query at a time, so a stage handed to
//!   that worker waits for one query's planning at most, and no thread is added (a thread of
//!   its own, even at the lowest priority, was measured taking the core of the thread reading
//!   the month's largest workbook for 4 ms: Linux woke it there);
//! - a stage never waits for it: a model whose plan is not ready (or was made for other
//!   schemas) plans its query itself, as it would without foresight. A plan made here is the
//!   one the stage would have made (same SQL, same schemas), so nothing in a build's results
//!   depends on which of the two made it;
//! - only a model with an input whose table is not there yet is planned here: one whose inputs
//!   are all there is about to be planned by the stage that runs it;
//! - a schema guessed from a workbook's first rows is only a guess: a plan is used only by a
//!   stage whose input tables have exactly the schemas it was made for, and the tables' real
//!   schemas replace guessed ones as soon as they are known;
//! - a failure here is never reported: the stage meets the same error when it plans itself.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use arrow::datatypes::SchemaRef;

use super::context::Context;
use crate::engine::{self, PreparedQuery, QueryLimits};
use crate::graph::{StageId, StageKind};
use crate::project::ModelDef;

/// One build's planning ahead: the models it may plan, and what it knows.
pub(crate) struct Foresight {
    models: Vec<Model>,
    stage_names: BTreeSet<String>,
    limits: QueryLimits,
    state: Mutex<State>,
}

/// A model that may be planned ahead: its stage, definition and inputs (stage, name).
struct Model {
    id: StageId,
    def: ModelDef,
    inputs: Vec<(StageId, String)>,
}

#[derive(Default)]
struct State {
    /// Each stage's output schema, as far as it is known.
    schemas: HashMap<StageId, (SchemaRef, Known)>,
    /// The input schemas each model was last planned (or is being planned) for.
    planned_for: HashMap<StageId, Vec<(String, SchemaRef)>>,
    /// Plans made ahead and not taken yet.
    plans: HashMap<StageId, PreparedQuery>,
}

/// A model to plan (its index in [`Foresight::models`]), its input schemas by name, and how
/// sure the least sure of them is.
type NextPlan = (usize, Vec<(String, SchemaRef)>, Known);

/// How a schema is known, from least to most sure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Known {
    /// Guessed from a workbook's first rows, or planned from such a guess.
    Guessed,
    /// Planned from schemas that are not guesses: the table will have it, once made.
    Planned,
    /// The table is there.
    Made,
}

impl Foresight {
    /// Foresight for the models `ctx` runs here; none in a project with a cluster, whose
    /// models read stored objects.
    pub(crate) fn new(ctx: &Context<'_>) -> Foresight {
        let models = if ctx.project.cluster.is_some() {
            Vec::new()
        } else {
            (ctx.graph.ids())
                .filter(|&id| ctx.kind(id) == StageKind::Model && ctx.selected.contains(&id))
                .map(|id| Model {
                    id,
                    def: ctx.project.models[ctx.name(id)].clone(),
                    inputs: (ctx.graph.node(id).inputs.iter())
                        .map(|&input| (input, ctx.name(input).to_string()))
                        .collect(),
                })
                .collect()
        };
        Foresight {
            models,
            stage_names: ctx.stage_names.clone(),
            limits: ctx.project.query_limits,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `id`'s table is there, with this schema.
    pub(crate) fn made(&self, id: StageId, schema: &SchemaRef) {
        self.state().record(id, schema, Known::Made);
    }

    /// `id`'s query is planned, with this result schema; its table is on its way.
    pub(crate) fn planned(&self, id: StageId, schema: &SchemaRef) {
        self.state().record(id, schema, Known::Planned);
    }

    /// `id`'s table will most likely have this schema (a workbook's first rows say so).
    pub(crate) fn guessed(&self, id: StageId, schema: &SchemaRef) {
        self.state().record(id, schema, Known::Guessed);
    }

    /// The plan made ahead for `id`, if it was made for inputs of exactly these schemas.
    pub(crate) fn take(
        &self,
        id: StageId,
        schemas: &[(String, SchemaRef)],
    ) -> Option<PreparedQuery> {
        let mut state = self.state();
        if state.plans.get(&id)?.fits(schemas) {
            state.plans.remove(&id)
        } else {
            None
        }
    }

    /// Whether a model can be planned ahead now.
    pub(crate) fn has_work(&self) -> bool {
        !self.models.is_empty() && self.next_to_plan(&self.state()).is_some()
    }

    /// Plans the next model that can be planned ahead, if any.
    pub(crate) fn plan_next(&self) {
        let (model, inputs, known) = {
            let mut state = self.state();
            let Some((index, inputs, known)) = self.next_to_plan(&state) else {
                return;
            };
            let model = &self.models[index];
            // Claimed: another idle worker plans something else.
            state.planned_for.insert(model.id, inputs.clone());
            (model, inputs, known)
        };
        let prepared =
            engine::prepare_model(&model.def, &inputs, &self.stage_names, &self.limits).ok();
        let mut state = self.state();
        if let Some(prepared) = prepared {
            state.record(model.id, prepared.schema(), known);
            // Made for schemas that have changed since: of no use.
            if state.planned_for.get(&model.id) == Some(&inputs) {
                state.plans.insert(model.id, prepared);
            }
        }
    }

    /// The first model (in the graph's order) with an input whose table is not there yet, every
    /// input's schema known, and no plan for those schemas yet: its index, the schemas by input
    /// name, and how sure the least sure of them is.
    fn next_to_plan(&self, state: &State) -> Option<NextPlan> {
        self.models.iter().enumerate().find_map(|(index, model)| {
            let mut least = Known::Made;
            let mut inputs = Vec::with_capacity(model.inputs.len());
            for (input, name) in &model.inputs {
                let (schema, known) = state.schemas.get(input)?;
                least = least.min(*known);
                inputs.push((name.clone(), schema.clone()));
            }
            let planned = state.planned_for.get(&model.id) == Some(&inputs);
            (least < Known::Made && !planned).then_some((index, inputs, least))
        })
    }
}

impl State {
    /// Keeps `schema` as `id`'s unless what is known of it is surer; a newer guess replaces an
    /// older one.
    fn record(&mut self, id: StageId, schema: &SchemaRef, known: Known) {
        let surer = self.schemas.get(&id).is_some_and(|(_, before)| {
            *before > known || (*before == known && known > Known::Guessed)
        });
        if !surer {
            self.schemas.insert(id, (schema.clone(), known));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    const WEB: StageId = StageId(0);
    const CLEAN: StageId = StageId(1);
    const DEDUP: StageId = StageId(2);

    fn model(id: StageId, name: &str, input: (StageId, &str), sql: &str) -> Model {
        Model {
            id,
            def: ModelDef::in_test(name, &[input.1], sql, 1),
            inputs: vec![(input.0, input.1.to_string())],
        }
    }

    /// `web` → `web_clean` → `web_dedup`, as in the sample project.
    fn chain() -> Foresight {
        Foresight {
            models: vec![
                model(
                    CLEAN,
                    "web_clean",
                    (WEB, "web"),
                    "SELECT * FROM web WHERE sku IS NOT NULL",
                ),
                model(
                    DEDUP,
                    "web_dedup",
                    (CLEAN, "web_clean"),
                    "SELECT DISTINCT sku FROM web_clean",
                ),
            ],
            stage_names: ["web", "web_clean", "web_dedup"].map(String::from).into(),
            limits: QueryLimits::default(),
            state: Mutex::default(),
        }
    }

    fn schema(sku: DataType) -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("sku", sku, true),
            Field::new("total_sales", DataType::Int64, true),
        ]))
    }

    fn plan_all(foresight: &Foresight) -> usize {
        let mut planned = 0;
        while foresight.has_work() {
            foresight.plan_next();
            planned += 1;
        }
        planned
    }

    #[test]
    fn a_chain_is_planned_from_a_guess_and_each_plan_serves_the_tables_it_was_made_for() {
        let foresight = chain();
        assert!(!foresight.has_work(), "nothing is known yet");
        foresight.guessed(WEB, &schema(DataType::Utf8));
        assert_eq!(
            plan_all(&foresight),
            2,
            "web_clean, then web_dedup from its plan"
        );
        let web = [("web".to_string(), schema(DataType::Utf8))];
        let clean = foresight.take(CLEAN, &web).expect("planned ahead");
        assert_eq!(clean.schema(), &schema(DataType::Utf8));
        assert!(
            foresight.take(CLEAN, &web).is_none(),
            "a plan serves one run"
        );
        let dedup_input = [("web_clean".to_string(), clean.schema().clone())];
        assert!(foresight.take(DEDUP, &dedup_input).is_some());
    }

    #[test]
    fn a_wrong_guess_serves_no_stage_and_tables_already_there_are_left_to_their_stages() {
        let foresight = chain();
        foresight.guessed(WEB, &schema(DataType::Utf8));
        assert_eq!(plan_all(&foresight), 2);
        // The whole sheet says otherwise: the plans made on the guess fit no table.
        foresight.made(WEB, &schema(DataType::Int64));
        let web = [("web".to_string(), schema(DataType::Int64))];
        assert!(foresight.take(CLEAN, &web).is_none());
        // web_clean's input is there: its stage plans it. web_dedup waits for that plan.
        assert!(!foresight.has_work());
        // A guess never replaces what a table said.
        foresight.guessed(WEB, &schema(DataType::Utf8));
        assert!(!foresight.has_work());
        foresight.planned(CLEAN, &schema(DataType::Int64));
        assert_eq!(
            plan_all(&foresight),
            1,
            "web_dedup, from web_clean's real plan"
        );
        let input = [("web_clean".to_string(), schema(DataType::Int64))];
        assert!(foresight.take(DEDUP, &input).is_some());
    }
}
