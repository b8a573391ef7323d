//! One model's query on a Ballista cluster, over its inputs' Parquet objects on the shared store.
//!
//! Rules it keeps (those of a local run, and these):
//! - the session is configured as a local one is (one partition, the same optimizer passes, the
//!   same SQL options), and each input is registered with the schema of its stored object, so
//!   the plan is the local plan and the rows come back in the same order with the same values:
//!   the stored output is byte-identical to a local build's, whichever engine ran it;
//! - inputs are Parquet tables over the store's object URLs, read by the executors themselves;
//!   nothing but the query and the result crosses this machine's network;
//! - a failure on the cluster is an error naming the model and the scheduler; nothing of the
//!   stage is kept, since the result is stored only once it is whole.

use std::collections::BTreeSet;

use arrow::datatypes::SchemaRef;
use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::{ParquetReadOptions, SessionConfig};

use super::located::{check_table_references, sql_error};
use super::query::{Failure, Io, QueryLimits, collect, within_limits};
use super::{EngineError, stopped};
use crate::cluster::ClusterUrl;
use crate::project::ModelDef;
use crate::table::Table;

/// One input of a model run on the cluster: its name in the query, the URL of its stored
/// object, and the object's schema.
#[derive(Debug, Clone)]
pub(crate) struct ClusterInput {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) schema: SchemaRef,
}

/// A client session on the scheduler at `url`, configured as a local session is
/// ([`super::query::session`]).
async fn session(url: &ClusterUrl) -> Result<SessionContext, datafusion::error::DataFusionError> {
    let mut config = SessionConfig::new_with_ballista()
        .with_target_partitions(1)
        .with_information_schema(false);
    let options = config.options_mut();
    options.sql_parser.collect_spans = true;
    options.optimizer.max_passes = 1;
    // Strings stay Utf8, as the stored objects and a local run have them.
    options.execution.parquet.schema_force_view_types = false;
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    SessionContext::remote_with_state(&url.to_string(), state).await
}

/// Runs `model`'s query on the cluster at `url` over `inputs`, within `limits` (the time limit,
/// and the memory the result may take here; the executors' memory is theirs to bound).
pub(crate) fn run_model_on_cluster(
    model: &ModelDef,
    inputs: &[ClusterInput],
    stage_names: &BTreeSet<String>,
    url: &ClusterUrl,
    limits: &QueryLimits,
) -> Result<Table, EngineError> {
    let ran = within_limits(limits, Io::Network, async {
        let ctx = session(url).await.map_err(Failure::DataFusion)?;
        let names: Vec<&str> = inputs.iter().map(|input| input.name.as_str()).collect();
        check_table_references(&ctx, model, &names, stage_names)
            .map_err(|e| Failure::Refused(Box::new(e)))?;
        for input in inputs {
            let options = ParquetReadOptions::default()
                .file_extension("")
                .schema(&input.schema);
            ctx.register_parquet(input.name.as_str(), input.url.as_str(), options)
                .await
                .map_err(Failure::DataFusion)?;
        }
        collect(&ctx, &model.sql, limits, None).await
    });
    ran.map_err(|failure| match failure {
        Failure::DataFusion(error) if is_planning_error(&error) => sql_error(model, &error),
        Failure::DataFusion(error) => EngineError::Cluster {
            model: model.name.clone(),
            url: url.to_string(),
            message: error.strip_backtrace(),
        },
        other => stopped(format!("model `{}`", model.name), other),
    })
}

/// Whether DataFusion refused the query itself (the same error a local run gives), rather than
/// the cluster failing to run it.
fn is_planning_error(error: &datafusion::error::DataFusionError) -> bool {
    use datafusion::error::DataFusionError as E;
    matches!(
        error.find_root(),
        E::SQL(..) | E::Plan(_) | E::SchemaError(..) | E::NotImplemented(_)
    )
}
