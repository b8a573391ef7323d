//! `winebuild cluster scheduler | executor | status`: a Ballista cluster served by this binary.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::ClusterCommand;
use crate::cli::printer::Printer;
use crate::cluster::serve::{self, ExecutorOptions, SchedulerOptions};
use crate::cluster::{ClusterUrl, ExecutorInfo};
use crate::project::Project;

/// How often an executor tells its scheduler it is alive: well within the scheduler's default
/// `--executor-timeout` of 30 s.
const HEARTBEAT: Duration = Duration::from_secs(3);

pub(crate) fn run(
    root: &Path,
    command: &ClusterCommand,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    match command {
        ClusterCommand::Scheduler {
            bind,
            executor_timeout,
        } => {
            let options = SchedulerOptions {
                bind: *bind,
                executor_timeout: Duration::from_secs(*executor_timeout),
            };
            serve::run_scheduler(&options, || {
                printer.log_line(&format!(
                    "winebuild cluster scheduler listening on df://{bind} (Ctrl-C stops it)"
                ));
            })?;
            Ok(ExitStatus::Success)
        }
        ClusterCommand::Executor {
            scheduler,
            bind,
            grpc_port,
            slots,
        } => {
            let scheduler = scheduler_url(scheduler, "--scheduler")?;
            let grpc_port = match grpc_port {
                Some(port) => *port,
                None => bind.port().checked_add(1).ok_or_else(|| Error::Cluster {
                    message: format!("--bind {bind}: no port follows it for --grpc-port"),
                    hint: "give --grpc-port PORT".into(),
                })?,
            };
            let slots = slots
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
            let options = ExecutorOptions {
                scheduler: scheduler.clone(),
                bind: *bind,
                grpc_port,
                slots,
                heartbeat: HEARTBEAT,
            };
            serve::run_executor(&options, || {
                printer.log_line(&format!(
                    "winebuild cluster executor on {bind} (tasks on port {grpc_port}, {slots} slots), registering with {scheduler} (Ctrl-C stops it)"
                ));
            })?;
            Ok(ExitStatus::Success)
        }
        ClusterCommand::Status { scheduler, .. } => {
            let url = match scheduler {
                Some(text) => scheduler_url(text, "--scheduler")?,
                None => project_cluster(root)?,
            };
            let executors =
                crate::cluster::status::executors(&url).map_err(|fault| Error::Cluster {
                    message: fault.to_string(),
                    hint: fault.hint(),
                })?;
            status(&url, &executors, printer);
            Ok(ExitStatus::Success)
        }
    }
}

/// A scheduler address from the command line: `df://host:port`, or `host:port`.
fn scheduler_url(text: &str, flag: &str) -> Result<ClusterUrl, Error> {
    let full = if text.contains("://") {
        text.to_string()
    } else {
        format!("df://{text}")
    };
    ClusterUrl::parse(&full).map_err(|problem| Error::Cluster {
        message: format!("{flag} `{text}` is not a scheduler address: {problem}"),
        hint: "for example df://127.0.0.1:50050".into(),
    })
}

/// The cluster the project here sends its models to.
fn project_cluster(root: &Path) -> Result<ClusterUrl, Error> {
    let project = Project::load(root)?;
    project.cluster.map(|c| c.url).ok_or_else(|| Error::Cluster {
        message: "this project sends no model to a cluster".into(),
        hint: "give --scheduler df://host:port, or set `cluster` under [engine] in winebuild.toml (or WINEBUILD_CLUSTER)".into(),
    })
}

fn status(url: &ClusterUrl, executors: &[ExecutorInfo], printer: &Printer) {
    if printer.json {
        printer.json(&serde_json::json!({
            "scheduler": url.to_string(),
            "executors": executors,
        }));
        return;
    }
    let slots: u32 = executors.iter().map(|e| e.slots).sum();
    let mut text = format!(
        "scheduler {url}: {} ({})\n",
        crate::text::plural(executors.len() as u64, "executor"),
        crate::text::plural(u64::from(slots), "slot")
    );
    for executor in executors {
        let seen = executor
            .heard_ms_ago
            .map(|ms| format!(", heard {} ago", crate::text::duration(ms as f64)))
            .unwrap_or_default();
        let _ = writeln!(
            text,
            "  {}  {}:{}  {}{seen}",
            executor.id,
            executor.host,
            executor.port,
            crate::text::plural(u64::from(executor.slots), "slot")
        );
    }
    printer.result(&text);
}
