//! Where a model's query runs: here, or on the cluster the project names (`[engine]`).
//!
//! Rules it keeps:
//! - with a cluster, every model goes to it, except one whose header says `engine = "local"`
//!   and one whose inputs hold fewer rows than `cluster_min_rows` (`engine = "cluster"` sends a
//!   model whatever its size);
//! - the cluster is asked once per build whether it can take work (its scheduler answers and
//!   has an executor); when it cannot, the models that needed it fail naming it, or run here
//!   with a warning when `fallback = "local"`;
//! - a model's inputs are on the shared store before the cluster is asked to read them;
//! - the engine never enters a key: both give the same bytes ([`crate::engine::cluster`]).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use super::StageError;
use super::context::Context;
use super::decide::InputView;
use crate::cluster::{ClusterFault, ClusterSettings, Engine, Fallback};
use crate::engine::{self, cluster::ClusterInput};
use crate::graph::StageId;
use crate::project::{EngineChoice, ModelDef};
use crate::store::ObjectHash;
use crate::table::Table;

/// What one build knows of its cluster: whether it can take work, asked once.
#[derive(Default)]
pub(crate) struct ClusterCheck {
    ready: OnceLock<Result<(), ClusterFault>>,
    /// Whether a stage has said that models run here instead: said once per build.
    fell_back: AtomicBool,
}

/// A model's result, where it ran, and what this run should say about it.
pub(super) struct Ran {
    pub(super) table: Table,
    pub(super) engine: Engine,
    pub(super) notes: Vec<String>,
}

/// Whether `model`, whose inputs hold `input_rows` rows, goes to the cluster `settings`.
fn goes_to_cluster(settings: &ClusterSettings, model: &ModelDef, input_rows: u64) -> bool {
    match model.engine {
        EngineChoice::Local => false,
        EngineChoice::Cluster => true,
        EngineChoice::Auto => input_rows >= settings.min_rows,
    }
}

impl Context<'_> {
    /// Runs `model`'s query where it belongs.
    pub(super) fn run_model_query(
        &self,
        id: StageId,
        model: &ModelDef,
        view: &dyn InputView,
    ) -> Result<Ran, StageError> {
        let mut notes = Vec::new();
        if let Some(settings) = &self.project.cluster
            && goes_to_cluster(settings, model, self.input_rows(id, view))
        {
            let objects = self.input_objects(id, view)?;
            match self.cluster_inputs(settings, objects) {
                Ok(inputs) => {
                    let table = engine::cluster::run_model_on_cluster(
                        model,
                        &inputs,
                        &self.stage_names,
                        &settings.url,
                        &self.project.query_limits,
                    )?;
                    return Ok(Ran {
                        table,
                        engine: Engine::Cluster,
                        notes,
                    });
                }
                Err(fault) if settings.fallback == Fallback::Local => {
                    if !self.cluster.fell_back.swap(true, Ordering::Relaxed) {
                        notes.push(format!(
                            "{fault}: models run here instead ([engine] fallback = \"local\")"
                        ));
                    }
                }
                Err(fault) => return Err(StageError::Cluster(fault)),
            }
        }
        let inputs = self.input_tables(id, view)?;
        let schemas = engine::schemas_of(&inputs);
        let prepared = match self.foresight().take(id, &schemas) {
            Some(prepared) => prepared,
            None => engine::prepare_model(
                model,
                &schemas,
                &self.stage_names,
                &self.project.query_limits,
            )?,
        };
        self.foresight().planned(id, prepared.schema());
        let table = engine::run_prepared(model, prepared, &inputs, &self.project.query_limits)?;
        self.foresight().made(id, &table.schema);
        Ok(Ran {
            table,
            engine: Engine::Local,
            notes,
        })
    }

    /// How many rows `id`'s inputs hold, as their outcomes say.
    fn input_rows(&self, id: StageId, view: &dyn InputView) -> u64 {
        self.graph
            .node(id)
            .inputs
            .iter()
            .filter_map(|&input| view.input(input)?.outcome.rows)
            .sum()
    }

    /// Each input as the cluster reads it: its object on the shared store (put there now if it
    /// is not yet) and its schema. Fails when the cluster cannot take work.
    fn cluster_inputs(
        &self,
        settings: &ClusterSettings,
        objects: Vec<(String, ObjectHash)>,
    ) -> Result<Vec<ClusterInput>, ClusterFault> {
        self.cluster
            .ready
            .get_or_init(|| crate::cluster::status::ready(&settings.url))
            .clone()?;
        let unavailable = |message: String| ClusterFault::StoreUnavailable { message };
        objects
            .into_iter()
            .map(|(name, object)| {
                let url = self
                    .store
                    .object_on_remote(&object)
                    .map_err(|e| unavailable(e.to_string()))?;
                let schema = Table::parquet_schema(&self.store.object_path(&object))
                    .map_err(|e| unavailable(format!("the stored output of `{name}`: {e}")))?;
                Ok(ClusterInput { name, url, schema })
            })
            .collect()
    }
}
