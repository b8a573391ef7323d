//! Serving a cluster from this binary: Ballista's own scheduler and executor, embedded.
//!
//! Rules it keeps: nothing of Ballista's is rewritten here, only configured: where each process
//! listens, how fast a lost executor is noticed, and where its object stores come from (the
//! process's environment, [`EnvStores`]); a process serves until it is stopped, and an error
//! starting it (a port in use, no scheduler to register with) ends it with exit code 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ballista_core::extension::{
    ballista_aggregate_functions, ballista_scalar_functions, ballista_window_functions,
};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use super::settings::ClusterUrl;
use super::stores::EnvStores;

/// Which of the two processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Scheduler,
    Executor,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Scheduler => "scheduler",
            Role::Executor => "executor",
        })
    }
}

/// Why a scheduler or an executor stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServeError {
    #[error("cannot start the {role}: {message}")]
    Start { role: Role, message: String },
    #[error("the {role} stopped: {message}")]
    Stopped { role: Role, message: String },
}

impl crate::error::Hint for ServeError {
    fn hint(&self) -> Option<String> {
        let (ServeError::Start { role, .. } | ServeError::Stopped { role, .. }) = self;
        Some(match role {
            Role::Executor => {
                "is the scheduler running at --scheduler, and are --bind and --grpc-port free?"
                    .into()
            }
            Role::Scheduler => {
                "is --bind free (another scheduler on that port)? pick another with --bind 127.0.0.1:PORT"
                    .into()
            }
        })
    }
}

/// How a scheduler is started.
#[derive(Debug, Clone)]
pub(crate) struct SchedulerOptions {
    pub(crate) bind: SocketAddr,
    /// An executor silent for this long is taken for dead, and its tasks are run elsewhere.
    pub(crate) executor_timeout: Duration,
}

/// How an executor is started.
#[derive(Debug, Clone)]
pub(crate) struct ExecutorOptions {
    pub(crate) scheduler: ClusterUrl,
    /// Where it serves Arrow Flight (results and shuffle data).
    pub(crate) bind: SocketAddr,
    /// Where the scheduler pushes tasks to it.
    pub(crate) grpc_port: u16,
    /// How many tasks it runs at once.
    pub(crate) slots: usize,
    /// How often it tells the scheduler it is alive.
    pub(crate) heartbeat: Duration,
}

/// The session every query's plan is completed in on the scheduler: Ballista's defaults, with
/// object stores from this process's environment.
fn scheduler_session(
    config: SessionConfig,
    stores: &Arc<EnvStores>,
) -> datafusion::common::Result<datafusion::execution::SessionState> {
    let runtime = RuntimeEnvBuilder::new()
        .with_object_store_registry(stores.clone())
        .build_arc()?;
    Ok(SessionStateBuilder::new()
        .with_default_features()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_optimizer_rules(ballista_core::optimizer::ballista_default_optimizer_rules())
        .with_scalar_functions(ballista_scalar_functions())
        .with_aggregate_functions(ballista_aggregate_functions())
        .with_window_functions(ballista_window_functions())
        .build())
}

fn runtime(role: Role) -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Ballista's own binaries give planning deep stacks for deep plans.
        .thread_stack_size(32 << 20)
        .build()
        .map_err(|e| ServeError::Start {
            role,
            message: e.to_string(),
        })
}

/// Runs a scheduler until the process is stopped. `ready` is called once it listens.
pub(crate) fn run_scheduler(
    options: &SchedulerOptions,
    ready: impl FnOnce(),
) -> Result<(), ServeError> {
    const ROLE: Role = Role::Scheduler;
    let runtime = runtime(ROLE)?;
    runtime.block_on(async {
        let stores = Arc::new(EnvStores::default());
        let timeout = options.executor_timeout.as_secs().max(1);
        let mut config = SchedulerConfig::default()
            .with_hostname(options.bind.ip().to_string())
            .with_port(options.bind.port())
            .with_no_executors_grace_period_seconds(timeout)
            .with_override_session_builder(Arc::new(move |config| {
                scheduler_session(config, &stores)
            }));
        config.bind_host = options.bind.ip().to_string();
        config.executor_timeout_seconds = timeout;
        config.expire_dead_executor_interval_seconds = timeout.div_ceil(4).max(1);
        let start = |e: ballista_core::error::BallistaError| ServeError::Start {
            role: ROLE,
            message: e.to_string(),
        };
        // Bound here, so a port in use is said before anything claims to listen.
        std::net::TcpListener::bind(options.bind).map_err(|e| ServeError::Start {
            role: ROLE,
            message: format!("{}: {e}", options.bind),
        })?;
        let cluster = BallistaCluster::new_from_config(&config)
            .await
            .map_err(start)?;
        ready();
        start_server(cluster, options.bind, Arc::new(config))
            .await
            .map_err(|e| ServeError::Stopped {
                role: ROLE,
                message: e.to_string(),
            })
    })
}

/// Runs an executor until the process is stopped. `ready` is called before it registers.
pub(crate) fn run_executor(
    options: &ExecutorOptions,
    ready: impl FnOnce(),
) -> Result<(), ServeError> {
    const ROLE: Role = Role::Executor;
    let runtime = runtime(ROLE)?;
    // Shuffle files and spills, removed with the process.
    let work_dir = tempfile::Builder::new()
        .prefix("winebuild-executor-")
        .tempdir()
        .map_err(|e| ServeError::Start {
            role: ROLE,
            message: format!("a work folder: {e}"),
        })?;
    let work_path: PathBuf = work_dir.path().to_path_buf();
    let stores = Arc::new(EnvStores::default());
    let producer_dir = work_path.clone();
    let config = ExecutorProcessConfig {
        bind_host: options.bind.ip().to_string(),
        external_host: Some(options.bind.ip().to_string()),
        port: options.bind.port(),
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler.host().to_string(),
        scheduler_port: options.scheduler.port(),
        scheduler_connect_timeout_seconds: 30,
        vcores: options.slots.max(1),
        work_dir: Some(work_path.display().to_string()),
        executor_heartbeat_interval_seconds: options.heartbeat.as_secs().max(1),
        override_runtime_producer: Some(Arc::new(move |_config: &SessionConfig| {
            RuntimeEnvBuilder::new()
                .with_temp_file_path(producer_dir.clone())
                .with_object_store_registry(stores.clone())
                .build_arc()
        })),
        ..ExecutorProcessConfig::default()
    };
    for port in [options.bind.port(), options.grpc_port] {
        let address = SocketAddr::new(options.bind.ip(), port);
        std::net::TcpListener::bind(address).map_err(|e| ServeError::Start {
            role: ROLE,
            message: format!("{address}: {e}"),
        })?;
    }
    ready();
    let served = runtime.block_on(start_executor_process(Arc::new(config)));
    drop(work_dir);
    served.map_err(|e| ServeError::Stopped {
        role: ROLE,
        message: e.to_string(),
    })
}
