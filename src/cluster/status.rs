//! What a scheduler says of its cluster: the executors registered with it, from the REST API it
//! serves on its own port; and the one check a build makes before sending it a model.
//!
//! Rules it keeps: every request is bounded (a few seconds), so an unreachable scheduler costs a
//! build seconds, never a hang; a fault is typed ([`ClusterFault`]), and its words are rendered
//! from the type.

use std::time::Duration;

use serde::Deserialize;

use super::settings::ClusterUrl;

/// How long a scheduler has to answer.
const TIMEOUT: Duration = Duration::from_secs(5);

/// One executor, as the scheduler knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct ExecutorInfo {
    pub(crate) id: String,
    pub(crate) host: String,
    /// Its Arrow Flight port.
    pub(crate) port: u16,
    /// How many tasks it runs at once.
    pub(crate) slots: u32,
    /// How long ago its last heartbeat came, in milliseconds.
    pub(crate) heard_ms_ago: Option<u64>,
}

/// Why a cluster cannot take a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClusterFault {
    #[error("the cluster scheduler {url} is unreachable: {message}")]
    Unreachable { url: ClusterUrl, message: String },
    #[error("the cluster scheduler {url} has no executor")]
    NoExecutor { url: ClusterUrl },
    #[error("{url} did not answer as a winebuild scheduler: {message}")]
    NotAScheduler { url: ClusterUrl, message: String },
    #[error("the shared store is unavailable, and executors read inputs from it: {message}")]
    StoreUnavailable { message: String },
}

impl ClusterFault {
    pub(crate) fn hint(&self) -> String {
        match self {
            ClusterFault::Unreachable { url, .. } => format!(
                "start one with `winebuild cluster scheduler --bind {}:{}`, or check WINEBUILD_CLUSTER and `cluster` under [engine]; `fallback = \"local\"` under [engine] runs models here when it is down",
                url.host(),
                url.port()
            ),
            ClusterFault::NoExecutor { url } => format!(
                "start one with `winebuild cluster executor --scheduler {url}`; `winebuild cluster status` lists them"
            ),
            ClusterFault::NotAScheduler { .. } => {
                "check the port: WINEBUILD_CLUSTER or `cluster` under [engine] names the scheduler's --bind address".into()
            }
            ClusterFault::StoreUnavailable { .. } => {
                "the warning about the shared store says why; `winebuild remote status` checks it".into()
            }
        }
    }
}

#[derive(Deserialize)]
struct RawExecutor {
    id: String,
    host: String,
    port: u16,
    /// The time of its last heartbeat, in milliseconds since 1970.
    #[serde(default)]
    last_seen: Option<u64>,
    specification: RawSpecification,
}

#[derive(Deserialize)]
struct RawSpecification {
    #[serde(default)]
    vcores: u32,
}

/// The executors registered with the scheduler at `url`, in id order.
pub(crate) fn executors(url: &ClusterUrl) -> Result<Vec<ExecutorInfo>, ClusterFault> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(true)
        .build()
        .into();
    let address = format!("{}/api/executors", url.http());
    let mut response = agent.get(&address).call().map_err(|e| match e {
        ureq::Error::StatusCode(code) => ClusterFault::NotAScheduler {
            url: url.clone(),
            message: format!("GET /api/executors answered {code}"),
        },
        other => ClusterFault::Unreachable {
            url: url.clone(),
            message: other.to_string(),
        },
    })?;
    let raw: Vec<RawExecutor> =
        response
            .body_mut()
            .read_json()
            .map_err(|e| ClusterFault::NotAScheduler {
                url: url.clone(),
                message: e.to_string(),
            })?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut executors: Vec<ExecutorInfo> = raw
        .into_iter()
        .map(|e| ExecutorInfo {
            id: e.id,
            host: e.host,
            port: e.port,
            slots: e.specification.vcores,
            heard_ms_ago: e.last_seen.map(|at| now_ms.saturating_sub(at)),
        })
        .collect();
    executors.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(executors)
}

/// Whether the cluster at `url` can take a model now: its scheduler answers and has an executor.
pub(crate) fn ready(url: &ClusterUrl) -> Result<(), ClusterFault> {
    if executors(url)?.is_empty() {
        return Err(ClusterFault::NoExecutor { url: url.clone() });
    }
    Ok(())
}
