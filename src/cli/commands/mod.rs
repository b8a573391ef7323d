//! One file per command: arguments → a library call → rendering → an exit status.

mod archive;
mod build;
mod cluster;
mod dag;
mod diff;
mod log;
mod plan;
mod remote;
mod report;
mod sample;
mod schedule;
mod show;
mod store;
mod test;

use super::Error;
use super::args::{Arguments, Command};
use super::printer::Printer;
use crate::build::ExitStatus;
use crate::project::Project;

/// Runs one command; returns its exit status, or an error (exit status 2).
pub(crate) fn run(arguments: &Arguments, printer: &Printer) -> Result<ExitStatus, Error> {
    let root = project_root(arguments.project.as_deref());
    let project = || Project::load(&root);
    match &arguments.command {
        Command::Build(args) => match project() {
            Ok(project) => build::run(&project, args, lock_timeout(arguments), printer),
            Err(error) => {
                build::notify_unloaded(&root, args, &error, printer);
                Err(error.into())
            }
        },
        Command::Plan(args) => plan::run(&project()?, args, printer),
        Command::Test(args) => test::run(&project()?, args, printer),
        Command::Clean(_) => store::clean(&project()?, lock_timeout(arguments), printer),
        Command::Gc(args) => store::gc(&project()?, args, lock_timeout(arguments), printer),
        Command::Remote(command) => {
            remote::run(&project()?, command, lock_timeout(arguments), printer)
        }
        Command::Cluster(command) => cluster::run(&root, command, printer),
        Command::Sample(args) => sample::run(args, printer),
        Command::Show(args) => show::run(&project()?, args, printer),
        Command::Diff(args) => {
            let project = project()?;
            remote::fetch_archive(&project, lock_timeout(arguments), printer)?;
            diff::run(&project, args, printer)
        }
        Command::Archive(command) => {
            let project = project()?;
            remote::fetch_archive(&project, lock_timeout(arguments), printer)?;
            archive::run(&project, command, printer)
        }
        Command::Log(args) => log::run(&project()?, args, printer),
        Command::Report(args) => {
            let project = project()?;
            remote::fetch_archive(&project, lock_timeout(arguments), printer)?;
            report::run(&project, args, printer)
        }
        Command::Dag(args) => dag::run(&project()?, args, printer),
        Command::Schedule(args) => schedule::run(&project()?, args, printer),
        Command::Schema { artifact } => {
            let schema = serde_json::to_string_pretty(&artifact.schema()).unwrap_or_default();
            printer.result(&(schema + "\n"));
            Ok(ExitStatus::Success)
        }
        Command::Completions { shell } => {
            let mut command = <Arguments as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "winebuild", &mut script);
            printer.result(&String::from_utf8_lossy(&script));
            Ok(ExitStatus::Success)
        }
    }
}

/// `-C DIR`, or, as cargo finds its manifest, the nearest folder from here up that holds a
/// `winebuild.toml` (this folder when none does, so the error names it).
fn project_root(given: Option<&std::path::Path>) -> std::path::PathBuf {
    use crate::project::PROJECT_FILE;
    if let Some(given) = given {
        return given.to_path_buf();
    }
    let here = std::path::PathBuf::from(".");
    if here.join(PROJECT_FILE).is_file() {
        return here;
    }
    let Ok(start) = std::env::current_dir() else {
        return here;
    };
    start
        .ancestors()
        .find(|dir| dir.join(PROJECT_FILE).is_file())
        .map_or(here, std::path::Path::to_path_buf)
}

fn lock_timeout(arguments: &Arguments) -> Option<std::time::Duration> {
    arguments.lock_timeout.map(std::time::Duration::from_secs)
}

/// What a command says while it waits for another build: who holds the lock, when known.
fn waiting(printer: &Printer, holder: Option<&crate::store::lock::Holder>) {
    let who = holder.map(|h| format!(" ({h})")).unwrap_or_default();
    printer.log_line(&format!(
        "waiting for another build of this project to finish{who}; lock: .winebuild/lock"
    ));
}

/// A warning that a stage's current output is out of date, and how to rebuild it.
fn stale_words(stale: &crate::build::Stale, month: crate::month::Month) -> String {
    format!(
        "`{}` is out of date for {month} ({}): this is its output from the last build; \
         `winebuild build {month}` rebuilds it",
        stale.stage, stale.reason
    )
}

/// The month's `expect.toml`, as a path relative to the project, for hints.
fn expect_file(project: &Project, month: crate::month::Month) -> String {
    project
        .input_file(month, crate::checks::EXPECT_FILE)
        .shown(&project.root)
}

/// What a command did with the remote store: its fault (once) and refused records as warnings,
/// and the traffic when something crossed the network (always with `-v`).
pub(crate) fn print_remote(printer: &Printer, remote: &crate::remote::RemoteReport) {
    if let Some(fault) = &remote.fault {
        let hint = remote.hint.as_deref().unwrap_or_default();
        printer.warning_with_hint(fault, hint);
    }
    for warning in &remote.warnings {
        printer.warning(warning);
    }
    let traffic = remote.traffic;
    if traffic.fetched + traffic.uploaded > 0 || printer.verbose {
        printer.log_line(&crate::render::build::remote_line(remote));
    }
}
