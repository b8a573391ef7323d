//! The cluster: Apache DataFusion Ballista, for a month that outgrows one machine.
//!
//! winebuild writes no distributed engine of its own. This module configures Ballista's:
//! - [`settings`]: `[engine]` and `WINEBUILD_CLUSTER`, which send models to a scheduler;
//! - [`serve`]: `winebuild cluster scheduler` and `winebuild cluster executor`, Ballista's own
//!   scheduler and executor embedded in this binary, so one binary is the whole deployment;
//! - [`stores`]: the object stores those processes read a model's inputs from, configured from
//!   their environment, as the store's own client is;
//! - [`status`]: the executors a scheduler knows, and whether it can take a model.
//!
//! Running one model's query there is the engine's business ([`crate::engine`]); choosing which
//! models go there is the build's ([`crate::build`]).

pub(crate) mod serve;
pub(crate) mod settings;
pub(crate) mod status;
pub(crate) mod stores;

pub(crate) use settings::{ClusterSettings, ClusterSettingsError, ClusterUrl, EngineDef, Fallback};
pub(crate) use status::{ClusterFault, ExecutorInfo};

/// Where a stage's work ran. Sources and exports always run here; a model runs on the cluster
/// when the project has one and the model goes there.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Engine {
    #[default]
    Local,
    Cluster,
}

impl Engine {
    #[expect(
        clippy::trivially_copy_pass_by_ref,
        reason = "serde's skip_serializing_if passes a reference"
    )]
    pub(crate) fn is_local(&self) -> bool {
        *self == Engine::Local
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Engine::Local => "local",
            Engine::Cluster => "cluster",
        })
    }
}
