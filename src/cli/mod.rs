//! The command line: clap arguments ([`args`]), one file per command ([`commands`]), and one
//! printer for every line ([`printer`]).
//!
//! Rules it keeps: a command is arguments → a library call → rendering → an exit status; nothing
//! here decides what a build does; results go to stdout, progress and logs to stderr; `--format
//! json` prints one JSON document on stdout (errors included) for scripts; an error prints
//! `error:` then `hint:` and exits 2.

mod args;
mod commands;
mod printer;

use clap::Parser;

use crate::archive::ArchiveError;
use crate::build::{BuildError, ExitStatus};
use crate::diff::DiffError;
use crate::error::{Hint, IoError};
use crate::graph::GraphError;
use crate::project::{MonthError, ProjectError};
use crate::runs::RunsError;
use crate::sample::SampleError;
use crate::schedule::ScheduleError;
use crate::store::StoreError;
pub(crate) use args::Arguments;

use printer::Printer;

/// Any error a command can end with.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Month(#[from] MonthError),
    #[error(transparent)]
    Graph(#[from] GraphError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sample(#[from] SampleError),
    #[error(transparent)]
    Diff(#[from] DiffError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Runs(#[from] RunsError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    /// A file a command writes outside the store (the HTML report).
    #[error("{0}")]
    Write(IoError),
    /// A result that could not be turned into text or JSON.
    #[error("cannot print the output of `{stage}`: {message}")]
    Output { stage: String, message: String },
    /// Writing results to stdout failed (a closed pipe, a full disk).
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    /// A command about the remote store found none, or could not reach it.
    #[error("{message}")]
    Remote { message: String, hint: String },
    /// A cluster command could not reach its scheduler, or was given a bad address.
    #[error("{message}")]
    Cluster { message: String, hint: String },
    /// A scheduler or executor could not start, or stopped.
    #[error(transparent)]
    Serve(#[from] crate::cluster::serve::ServeError),
    /// A panic that nothing below caught: a bug.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Hint for Error {
    fn hint(&self) -> Option<String> {
        match self {
            Error::Project(e) => e.hint(),
            Error::Month(e) => e.hint(),
            Error::Graph(e) => e.hint(),
            Error::Build(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Sample(e) => e.hint(),
            Error::Diff(e) => e.hint(),
            Error::Archive(e) => e.hint(),
            Error::Runs(e) => e.hint(),
            Error::Schedule(e) => e.hint(),
            Error::Write(_) => Some("check the permissions and free space of that folder".into()),
            Error::Output { .. } | Error::Stdout(_) => None,
            Error::Remote { hint, .. } | Error::Cluster { hint, .. } => Some(hint.clone()),
            Error::Serve(e) => e.hint(),
            Error::Internal(_) => Some(
                "this is a bug in winebuild or a library it uses, not in your project; the store \
                 trusts nothing half-written. Rerun with RUST_BACKTRACE=1 and report what it prints"
                    .into(),
            ),
        }
    }
}

/// Parses the process arguments, runs the command and returns the exit code.
#[must_use]
pub fn main() -> i32 {
    let arguments = Arguments::parse();
    let printer = Printer::new(
        arguments.command.is_json(),
        arguments.quiet,
        arguments.verbose,
    );
    // A panic is caught where it happens and becomes an error naming the stage or file; the
    // default hook would print it a second time, as noise. RUST_BACKTRACE keeps it, for a bug.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        commands::run(&arguments, &printer)
    }));
    let ran =
        ran.unwrap_or_else(|panic| Err(Error::Internal(crate::error::panic_message(&*panic))));
    let status = match ran {
        Ok(status) => match printer.take_stdout_error() {
            None => status,
            Some(e) => {
                let error = Error::Stdout(e);
                printer.error(&error.to_string(), error.hint().as_deref());
                ExitStatus::Error
            }
        },
        Err(error) => {
            printer.error(&error.to_string(), error.hint().as_deref());
            ExitStatus::Error
        }
    };
    status.code()
}
