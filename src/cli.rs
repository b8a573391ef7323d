//! The command line: clap arguments, one function per command, and how results and errors are
//! shown.
//!
//! Rules it keeps: results go to stdout, progress and logs to stderr; `--format json` prints one
//! JSON document on stdout (errors included) for scripts; an error prints `error:` then `hint:` and
//! exits 2; nothing here decides what a build does.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::archive::{self, ArchiveError, Archived};
use crate::build::{self, Action, BuildError, BuildEvent, BuildOptions, BuildReport, StageOutcome};
use crate::checks::{CheckResult, CheckStatus};
use crate::diff::{self, DiffError, DiffOptions};
use crate::notify;
use crate::project::{Project, ProjectError};
use crate::report::{self, ReportError};
use crate::runs::{self, RunsError};
use crate::sample::{self, SampleError, SampleOptions};
use crate::schedule::{Schedule, ScheduleError};
use crate::store::{Store, StoreError};

#[derive(Debug, Parser)]
#[command(
    name = "winebuild",
    version,
    about = "An incremental data build tool with a content-addressed cache",
    long_about = None
)]
pub struct Arguments {
    /// The project folder, holding winebuild.toml
    #[arg(short = 'C', long = "project", global = true, default_value = ".")]
    pub project: PathBuf,
    /// Output format
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Print only errors
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more: why reused stages were reused, every warning
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people (`table` is the same)
    #[value(alias = "table")]
    Text,
    /// One JSON document on stdout, for scripts
    Json,
    /// Markdown (`diff`; other commands print text)
    Markdown,
    /// Mermaid flowchart (`dag`)
    Mermaid,
    /// Graphviz DOT (`dag`)
    Dot,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build a month: run the stages whose inputs changed, reuse the rest, write the exports
    Build(BuildArgs),
    /// Show what the next build would run and why, running nothing
    Plan(BuildArgs),
    /// Run the checks of the month's current outputs (exit 1 when one fails)
    Test(TestArgs),
    /// Empty the store (.winebuild/); the run history is kept
    Clean,
    /// Remove stored objects that no month's current build nor any archive references
    Gc,
    /// Write a sample project: winebuild.toml, models/ and generated months of wine data
    Sample(SampleArgs),
    /// Print a stage's current output for a month, as csv (or JSON rows with --format json)
    Show(ShowArgs),
    /// Compare two archived months model by model, with a business summary first
    Diff(DiffArgs),
    /// List, show and verify the monthly archives (archive/<month>/r<N>/)
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Past builds (time, month, status, stages run and reused); `log <run>` shows one in full
    Log {
        /// A run: its number in `winebuild log`, `last`, or its id (a prefix is enough)
        run: Option<String>,
        /// Show at most this many runs, the latest ones
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write out/<month>/report.html: the DAG, a Gantt chart of the build, the checks and the diff
    Report {
        /// The month, YYYY-MM (default: the latest month folder)
        #[arg(long)]
        month: Option<String>,
    },
    /// Print the pipeline graph for documentation (`--format mermaid`, the default, or `dot`)
    Dag,
    /// Print (or --install) the monthly schedule: the 15th at 09:00, building the month just ended
    Schedule {
        /// A systemd service and timer instead of a crontab line
        #[arg(long)]
        systemd: bool,
        /// Install it: into your crontab, or into ~/.config/systemd/user
        #[arg(long)]
        install: bool,
    },
    /// Benchmark baseline: only parse workbooks with calamine (in parallel) and report the time
    #[command(hide = true)]
    ParseOnly { files: Vec<PathBuf> },
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The source or model to show
    pub stage: String,
    /// The month, YYYY-MM (default: the latest month folder)
    #[arg(long)]
    pub month: Option<String>,
    /// Print at most this many rows (all when absent)
    #[arg(long)]
    pub limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The month to build: YYYY-MM, or `previous` (the calendar month before today's); default:
    /// the latest month folder
    #[arg(long)]
    pub month: Option<String>,
    /// Stages to build: `name`, `name+` (and what depends on it), `+name` (and what it reads)
    #[arg(long, short = 's', num_args = 1..)]
    pub select: Vec<String>,
    /// Rerun the selected stages even when their outputs are stored
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// `FROM TO` months (YYYY-MM, or YYYY-MM@rN for a revision); one month: it and the one
    /// before; none: the two latest archived months
    #[arg(num_args = 0..=2)]
    pub months: Vec<String>,
    /// Compare the current build (of --month, default the latest) with this archived month
    #[arg(long, conflicts_with = "months")]
    pub against: Option<String>,
    /// With --against: the month whose current build is compared
    #[arg(long, requires = "against")]
    pub month: Option<String>,
    /// Only these models
    #[arg(long, num_args = 1..)]
    pub model: Vec<String>,
    /// Floats closer than this are equal
    #[arg(long, default_value_t = 1e-9)]
    pub tolerance: f64,
}

#[derive(Debug, Subcommand)]
pub enum ArchiveCommand {
    /// Every archived month and its revisions
    List,
    /// One month's archive: sources, stages, checks (latest revision, or --revision)
    Show {
        month: String,
        #[arg(long)]
        revision: Option<u32>,
    },
    /// Re-hash every archived file; exit 1 and name each file that changed
    Verify { month: Option<String> },
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The month to test, YYYY-MM (default: the latest month folder)
    #[arg(long)]
    pub month: Option<String>,
    /// Models whose checks run: `name`, `name+`, `+name` (default: all)
    #[arg(long, short = 's', num_args = 1..)]
    pub select: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// Folder to write the project to (created if missing)
    pub dir: PathBuf,
    /// Write only data/<month>/ folders, not winebuild.toml and models/
    #[arg(long)]
    pub data_only: bool,
    /// Multiply the number of products and web rows (100 gives ~150,000 web rows)
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Write only this month (one of the sample months)
    #[arg(long)]
    pub month: Option<String>,
}

/// Any error a command can end with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Project(#[from] ProjectError),
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
    Report(#[from] ReportError),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
}

impl Error {
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Project(e) => e.hint(),
            Error::Build(e) => e.hint(),
            Error::Store(e) => e.hint(),
            Error::Sample(e) => e.hint(),
            Error::Diff(e) => e.hint(),
            Error::Archive(e) => e.hint(),
            Error::Runs(e) => e.hint(),
            Error::Report(e) => e.hint(),
            Error::Schedule(e) => e.hint(),
        }
    }
}

/// Parses the process arguments, runs the command and returns the exit code.
pub fn main() -> i32 {
    let arguments = Arguments::parse();
    let format = arguments.format;
    match run(arguments) {
        Ok(code) => code,
        Err(error) => {
            print_error(format, &error.to_string(), error.hint().as_deref());
            2
        }
    }
}

fn print_error(format: Format, message: &str, hint: Option<&str>) {
    match format {
        Format::Json => {
            let value = serde_json::json!({"status": "error", "error": message, "hint": hint});
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        }
        _ => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {message}");
            if let Some(hint) = hint {
                let _ = writeln!(stderr, "hint: {hint}");
            }
        }
    }
}

/// Runs one command; returns its exit code, or an error (exit code 2).
pub fn run(arguments: Arguments) -> Result<i32, Error> {
    let ui = Ui {
        format: arguments.format,
        quiet: arguments.quiet,
        verbose: arguments.verbose,
    };
    match &arguments.command {
        Command::Build(args) => build_command(&arguments.project, args, &ui),
        Command::Plan(args) => plan_command(&arguments.project, args, &ui),
        Command::Test(args) => test_command(&arguments.project, args, &ui),
        Command::Clean => clean_command(&arguments.project, &ui),
        Command::Gc => gc_command(&arguments.project, &ui),
        Command::Sample(args) => sample_command(args, &ui),
        Command::Show(args) => show_command(&arguments.project, args, &ui),
        Command::Diff(args) => diff_command(&arguments.project, args, &ui),
        Command::Archive(command) => archive_command(&arguments.project, command, &ui),
        Command::Log { run, limit } => log_command(&arguments.project, run.as_deref(), *limit, &ui),
        Command::Report { month } => report_command(&arguments.project, month.as_deref(), &ui),
        Command::Dag => dag_command(&arguments.project, &ui),
        Command::Schedule { systemd, install } => {
            schedule_command(&arguments.project, *systemd, *install, &ui)
        }
        Command::ParseOnly { files } => parse_only_command(files),
    }
}

struct Ui {
    format: Format,
    quiet: bool,
    verbose: bool,
}

impl Ui {
    fn text(&self) -> bool {
        self.format != Format::Json
    }

    /// A progress or log line, on stderr.
    fn log(&self, line: &str) {
        if self.text() && !self.quiet {
            eprintln!("{line}");
        }
    }

    fn json(&self, value: &impl serde::Serialize) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("reports always serialize")
        );
    }
}

fn options(args: &BuildArgs) -> BuildOptions {
    BuildOptions {
        month: args.month.clone(),
        select: args.select.clone(),
        force: args.force,
    }
}

fn build_command(root: &Path, args: &BuildArgs, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let width = name_width(&project);
    let bar = progress_bar(ui);
    let report = build::build(
        &project,
        &options(args),
        || ui.log("waiting for another build of this project to finish (lock: .winebuild/lock)"),
        |event| match event {
            BuildEvent::Started { stages } => {
                if let Some(bar) = &bar {
                    bar.set_length(stages as u64);
                }
            }
            BuildEvent::StagesStarted(names) => {
                if let Some(bar) = &bar {
                    bar.set_message(names.join(", "));
                }
            }
            BuildEvent::LevelFinished(outcomes) => {
                let print = || {
                    for outcome in outcomes {
                        print_stage(ui, outcome, width);
                    }
                };
                match &bar {
                    Some(bar) => {
                        bar.suspend(print);
                        bar.inc(outcomes.len() as u64);
                    }
                    None => print(),
                }
            }
        },
    )?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let deliveries = if project.notify.is_empty() {
        Vec::new()
    } else {
        notify::notify(&project, &report)
    };
    if ui.text() {
        print_summary(ui, &report, &expect_file(&project, &report.month));
        for delivery in &deliveries {
            match &delivery.error {
                None => ui.log(&format!(
                    "notified {} (attempt {})",
                    delivery.target, delivery.attempts
                )),
                Some(error) => eprintln!(
                    "warning: notification to {} failed after {} attempt(s): {error}",
                    delivery.target, delivery.attempts
                ),
            }
        }
    } else {
        let mut value = serde_json::to_value(&report).expect("reports always serialize");
        if !deliveries.is_empty() {
            value["notifications"] =
                serde_json::to_value(&deliveries).expect("deliveries always serialize");
        }
        ui.json(&value);
    }
    Ok(report.exit_code())
}

/// A progress bar on stderr while stages run: only for people at a terminal, never in logs,
/// pipes or `--format json`.
fn progress_bar(ui: &Ui) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !ui.text() || ui.quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(0);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{bar:30}] {pos}/{len} stages  {elapsed}  {wide_msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn name_width(project: &Project) -> usize {
    project
        .stage_names()
        .map(|n| n.len())
        .max()
        .unwrap_or(8)
        .max(8)
}

fn print_stage(ui: &Ui, outcome: &StageOutcome, width: usize) {
    if !ui.text() || ui.quiet {
        return;
    }
    let rows = outcome
        .rows
        .map(|r| format!("{r} row{}", if r == 1 { "" } else { "s" }))
        .unwrap_or_default();
    let time = match outcome.action {
        Action::Ran => format_duration(outcome.duration_ms),
        _ => String::new(),
    };
    let reason = match outcome.action {
        Action::Reused if !ui.verbose && outcome.wrote.is_none() => "",
        // The whole error is printed after the summary; its first line is enough here.
        Action::Failed => outcome.reason.lines().next().unwrap_or_default(),
        _ => outcome.reason.as_str(),
    };
    let line = format!(
        "{:>7}  {:<width$}  {:>11}  {:>7}  {}",
        outcome.action.to_string(),
        outcome.stage,
        rows,
        time,
        reason
    );
    eprintln!("{}", line.trim_end());
    for check in &outcome.checks {
        if ui.verbose || matches!(check.status, CheckStatus::Fail | CheckStatus::Warn) {
            eprintln!("{}", check_line(check));
        }
        if check.status == CheckStatus::Warn {
            for example in &check.examples {
                eprintln!("{:>15}{example}", "");
            }
        }
    }
    let shown_warnings = if ui.verbose { usize::MAX } else { 5 };
    for warning in outcome.warnings.iter().take(shown_warnings) {
        eprintln!("warning: {}: {warning}", outcome.stage);
    }
    if outcome.warnings.len() > shown_warnings {
        eprintln!(
            "warning: {}: … and {} more (-v shows all)",
            outcome.stage,
            outcome.warnings.len() - shown_warnings
        );
    }
}

pub use crate::runs::format_duration;

/// One check, indented under its stage: `fail  test-nettoyage-erp  ERP: 824 lignes au lieu de 825`.
fn check_line(check: &CheckResult) -> String {
    format!(
        "{:>13}  {}  {}{}",
        check.status.to_string(),
        check.check,
        check.message,
        if check.cached { " (cached)" } else { "" }
    )
}

/// `checks: 20 passed, 1 failed, 2 warnings` (only the counts that are not zero, passed always).
fn checks_tally<'a>(checks: impl Iterator<Item = &'a CheckResult>) -> Option<String> {
    let mut counts = [0usize; 4];
    let mut any = false;
    for check in checks {
        any = true;
        counts[match check.status {
            CheckStatus::Pass => 0,
            CheckStatus::Fail => 1,
            CheckStatus::Warn => 2,
            CheckStatus::Skipped => 3,
        }] += 1;
    }
    if !any {
        return None;
    }
    let mut parts = vec![format!("{} passed", counts[0])];
    for (count, word) in counts[1..].iter().zip(["failed", "warning(s)", "skipped"]) {
        if *count > 0 {
            parts.push(format!("{count} {word}"));
        }
    }
    Some(format!("checks: {}", parts.join(", ")))
}

/// Each failed check with its alert and a few failing rows, as errors on stderr.
fn print_failed_checks<'a>(checks: impl Iterator<Item = &'a CheckResult>, month_expect: &str) {
    for check in checks.filter(|c| c.status == CheckStatus::Fail) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(
            stderr,
            "error: check `{}` of `{}` failed: {}",
            check.check, check.model, check.message
        );
        for example in &check.examples {
            let _ = writeln!(stderr, "  {example}");
        }
        if let Some(failing) = check.failing
            && failing as usize > check.examples.len()
            && !check.examples.is_empty()
        {
            let _ = writeln!(stderr, "  … {} in all", failing);
        }
        let _ = writeln!(
            stderr,
            "hint: {}",
            if check.pinned {
                format!("if the data is right and the figure really changed, update {month_expect}")
            } else {
                format!(
                    "`winebuild show {}` prints the output that failed",
                    check.model
                )
            }
        );
    }
}

fn print_summary(ui: &Ui, report: &BuildReport, expect: &str) {
    ui.log(&format!(
        "{}: {} ran, {} reused{}{} in {}",
        report.month,
        report.count(Action::Ran),
        report.count(Action::Reused),
        match report.count(Action::Failed) {
            0 => String::new(),
            n => format!(", {n} failed"),
        },
        match report.count(Action::Skipped) {
            0 => String::new(),
            n => format!(", {n} skipped"),
        },
        format_duration(report.duration_ms)
    ));
    if !ui.quiet {
        for stage in &report.stages {
            if let Some(wrote) = &stage.wrote {
                println!("wrote {wrote}");
            }
        }
        match &report.archived {
            Some(Archived::Created { path, .. }) => println!("archived {path}"),
            Some(Archived::Unchanged { path, .. }) if ui.verbose => ui.log(&format!(
                "{path} already holds this build: nothing archived"
            )),
            _ => {}
        }
    }
    if let Some(tally) = checks_tally(report.checks()) {
        ui.log(&tally);
    }
    print_failed_checks(report.checks(), expect);
    for stage in report.stages.iter().filter(|s| s.error.is_some()) {
        print_error(
            Format::Text,
            stage.error.as_deref().unwrap_or("failed"),
            stage.hint.as_deref(),
        );
    }
}

fn plan_command(root: &Path, args: &BuildArgs, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let width = name_width(&project);
    let plan = build::plan(&project, &options(args))?;
    if !ui.text() {
        ui.json(&plan);
        return Ok(0);
    }
    println!("plan for {}:", plan.month);
    for stage in &plan.stages {
        let line = format!(
            "{:>7}  {:<width$}  {}",
            stage.action.to_string(),
            stage.stage,
            if stage.action == build::PlanAction::Reuse && !ui.verbose {
                ""
            } else {
                &stage.reason
            }
        );
        println!("{}", line.trim_end());
    }
    let count = |a| plan.stages.iter().filter(|s| s.action == a).count();
    println!(
        "{} to run, {} maybe, {} to reuse, {} blocked",
        count(build::PlanAction::Run),
        count(build::PlanAction::Maybe),
        count(build::PlanAction::Reuse),
        count(build::PlanAction::Blocked)
    );
    Ok(0)
}

/// The month's `expect.toml`, as a path relative to the project.
fn expect_file(project: &Project, month: &str) -> String {
    let path = project.month_dir(month).join(crate::checks::EXPECT_FILE);
    build::relative(&project.root, &path).display().to_string()
}

fn test_command(root: &Path, args: &TestArgs, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let options = BuildOptions {
        month: args.month.clone(),
        select: args.select.clone(),
        force: false,
    };
    let report = build::test(&project, &options)?;
    if !ui.text() {
        ui.json(&report);
        return Ok(report.exit_code());
    }
    let width = report
        .checks
        .iter()
        .map(|c| c.check.len())
        .max()
        .unwrap_or(0);
    let model_width = name_width(&project);
    if !ui.quiet {
        for check in &report.checks {
            let line = format!(
                "{:>7}  {:<model_width$}  {:<width$}  {}{}",
                check.status.to_string(),
                check.model,
                check.check,
                check.message,
                if check.cached && ui.verbose {
                    " (cached)"
                } else {
                    ""
                }
            );
            println!("{}", line.trim_end());
            if check.status == CheckStatus::Warn {
                for example in &check.examples {
                    println!("{:>9}{example}", "");
                }
            }
        }
    }
    if let Some(tally) = checks_tally(report.checks.iter()) {
        ui.log(&format!("{}: {tally}", report.month));
    }
    print_failed_checks(report.checks.iter(), &expect_file(&project, &report.month));
    Ok(report.exit_code())
}

fn diff_command(root: &Path, args: &DiffArgs, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let options = DiffOptions {
        months: args.months.clone(),
        against: args.against.clone(),
        current_month: args.month.clone(),
        models: args.model.clone(),
        tolerance: args.tolerance,
    };
    let report = diff::diff(&project, &options)?;
    match ui.format {
        Format::Json => ui.json(&report),
        Format::Markdown => print!("{}", diff::render_markdown(&report)),
        _ => print!("{}", diff::render_table(&report)),
    }
    Ok(0)
}

fn archive_command(root: &Path, command: &ArchiveCommand, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    match command {
        ArchiveCommand::List => {
            let months = archive::months(&project);
            let mut listed = Vec::new();
            for month in &months {
                for revision in archive::revisions(&project, month) {
                    listed.push(archive::read_manifest(&project, month, revision)?);
                }
            }
            if !ui.text() {
                let rows: Vec<serde_json::Value> = listed
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "month": m.month, "revision": m.revision, "built_at": m.built_at,
                            "winebuild_version": m.winebuild_version, "files": m.files.len(),
                            "bytes": m.files.values().map(|f| f.bytes).sum::<u64>(),
                        })
                    })
                    .collect();
                ui.json(&rows);
                return Ok(0);
            }
            if listed.is_empty() {
                ui.log("the archive is empty: a successful `winebuild build` archives its month");
            }
            for m in &listed {
                println!(
                    "{}  r{}  built {}  {} files, {}",
                    m.month,
                    m.revision,
                    m.built_at,
                    m.files.len(),
                    format_bytes(m.files.values().map(|f| f.bytes).sum())
                );
            }
            Ok(0)
        }
        ArchiveCommand::Show { month, revision } => {
            let manifest = archive::manifest(&project, month, *revision)?;
            if !ui.text() {
                ui.json(&manifest);
                return Ok(0);
            }
            let revisions = archive::revisions(&project, month);
            println!(
                "{} r{} (revisions: {}), built {} by winebuild {}",
                manifest.month,
                manifest.revision,
                revisions
                    .iter()
                    .map(|r| format!("r{r}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                manifest.built_at,
                manifest.winebuild_version
            );
            println!("sources:");
            for s in &manifest.sources {
                println!(
                    "  {:<14} {:<14} {:>10}  {}",
                    s.source,
                    s.file,
                    format_bytes(s.bytes),
                    &s.blake3[..12]
                );
            }
            println!("stages:");
            for s in &manifest.stages {
                let line = format!(
                    "  {:<7} {:<16} {:>7} row{}  {}",
                    s.kind.to_string(),
                    s.stage,
                    s.rows,
                    if s.rows == 1 { "" } else { "s" },
                    s.file.as_deref().unwrap_or("")
                );
                println!("{}", line.trim_end());
            }
            let passed = manifest
                .checks
                .iter()
                .filter(|c| c.status == CheckStatus::Pass)
                .count();
            println!("checks: {passed} of {} passed", manifest.checks.len());
            for c in manifest
                .checks
                .iter()
                .filter(|c| c.status != CheckStatus::Pass)
            {
                println!("  {:<7} {}  {}", c.status.to_string(), c.check, c.message);
            }
            Ok(0)
        }
        ArchiveCommand::Verify { month } => {
            let report = archive::verify(&project, month.as_deref())?;
            let code = if report.problems.is_empty() { 0 } else { 1 };
            if !ui.text() {
                ui.json(&report);
                return Ok(code);
            }
            for p in &report.problems {
                eprintln!(
                    "error: archive/{}/r{}/{}: {}",
                    p.month, p.revision, p.file, p.problem
                );
            }
            if !report.problems.is_empty() {
                eprintln!(
                    "hint: rebuild the month to archive a fresh revision; the damaged one stays as evidence"
                );
            }
            ui.log(&format!(
                "verified {} file(s) in {} revision(s): {}",
                report.files,
                report.revisions,
                if report.problems.is_empty() {
                    "all intact".to_string()
                } else {
                    format!("{} problem(s)", report.problems.len())
                }
            ));
            Ok(code)
        }
    }
}

fn log_command(root: &Path, run: Option<&str>, limit: usize, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let (all, unreadable) = runs::read_runs(&project)?;
    if unreadable > 0 {
        eprintln!("warning: {unreadable} line(s) of the run log could not be read and are skipped");
    }
    if let Some(selector) = run {
        let run = runs::find_run(&all, selector)?;
        if !ui.text() {
            ui.json(run);
            return Ok(0);
        }
        print_run(run);
        return Ok(0);
    }
    let lines: Vec<runs::RunLine> = all
        .iter()
        .enumerate()
        .map(|(i, run)| runs::summarize(i + 1, run))
        .collect();
    let shown = &lines[lines.len().saturating_sub(limit)..];
    if !ui.text() {
        ui.json(&shown);
        return Ok(0);
    }
    if shown.is_empty() {
        ui.log("no build recorded yet");
    }
    for line in shown {
        println!(
            "{:>4}  {}  {}  {:<13}  {:>2} ran  {:>2} reused{}{}  {:>8}",
            line.number,
            line.started_at,
            line.month,
            line.status,
            line.ran,
            line.reused,
            if line.failed > 0 {
                format!("  {} failed", line.failed)
            } else {
                String::new()
            },
            if line.failed_checks > 0 {
                format!("  {} check(s) failed", line.failed_checks)
            } else {
                String::new()
            },
            format_duration(line.duration_ms)
        );
    }
    Ok(0)
}

/// One run in full: each stage, why it ran, its timing and its checks.
fn print_run(run: &serde_json::Value) {
    let text = |v: &serde_json::Value, f: &str| v[f].as_str().unwrap_or_default().to_string();
    println!(
        "run {}  month {}  {}  started {}  took {}",
        text(run, "run_id"),
        text(run, "month"),
        text(run, "status"),
        text(run, "started_at"),
        format_duration(run["duration_ms"].as_f64().unwrap_or(0.0))
    );
    for stage in runs::stages(run) {
        let rows = stage["rows"]
            .as_u64()
            .map(|r| format!("{r} row{}", if r == 1 { "" } else { "s" }))
            .unwrap_or_default();
        let line = format!(
            "{:>7}  {:<16}  {:>11}  at {:>7}  {:>7}  {}",
            text(stage, "action"),
            text(stage, "stage"),
            rows,
            format_duration(stage["started_ms"].as_f64().unwrap_or(0.0)),
            format_duration(stage["duration_ms"].as_f64().unwrap_or(0.0)),
            text(stage, "reason")
        );
        println!("{}", line.trim_end());
        for check in stage["checks"].as_array().into_iter().flatten() {
            println!(
                "{:>13}  {}  {}",
                text(check, "status"),
                text(check, "check"),
                text(check, "message")
            );
        }
    }
    if let Some(path) = run["archived"]["path"].as_str() {
        println!("archive: {path} ({})", text(&run["archived"], "archive"));
    }
}

fn report_command(root: &Path, month: Option<&str>, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let month = build::resolve_month(&project, month)?;
    let path = report::write_report(&project, &month)?;
    if ui.text() {
        if !ui.quiet {
            println!("wrote {}", path.display());
        }
    } else {
        ui.json(&serde_json::json!({"status": "ok", "wrote": path}));
    }
    Ok(0)
}

fn dag_command(root: &Path, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let graph = crate::graph::Graph::new(&project).map_err(BuildError::from)?;
    match ui.format {
        Format::Dot => print!("{}", graph.to_dot()),
        Format::Json => {
            let nodes: Vec<serde_json::Value> = graph
                .nodes
                .iter()
                .map(|n| serde_json::json!({"stage": n.name, "kind": n.kind}))
                .collect();
            let edges: Vec<[&str; 2]> = graph.edges().into_iter().map(|(a, b)| [a, b]).collect();
            ui.json(&serde_json::json!({"nodes": nodes, "edges": edges}));
        }
        _ => print!("{}", graph.to_mermaid()),
    }
    Ok(0)
}

fn schedule_command(root: &Path, systemd: bool, install: bool, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let schedule = Schedule::new(&project)?;
    match (systemd, install) {
        (false, false) => println!("{}", schedule.cron_line()),
        (true, false) => {
            println!("# {}.service\n{}", schedule.unit_name(), schedule.service());
            println!("# {}.timer\n{}", schedule.unit_name(), schedule.timer());
        }
        (false, true) => {
            schedule.install_cron()?;
            ui.log(&format!(
                "installed in your crontab: {}",
                schedule.cron_line()
            ));
        }
        (true, true) => {
            for path in schedule.install_systemd()? {
                println!("wrote {}", path.display());
            }
            ui.log(&format!(
                "enable it with: systemctl --user daemon-reload && systemctl --user enable --now {}.timer",
                schedule.unit_name()
            ));
        }
    }
    Ok(0)
}

fn clean_command(root: &Path, ui: &Ui) -> Result<i32, Error> {
    Project::load(root)?;
    let mut store = Store::open(root)?;
    let _lock = store.lock(|| ui.log("waiting for the running build to finish"))?;
    let freed = store.clean()?;
    if ui.text() {
        ui.log(&format!("removed the store ({})", format_bytes(freed)));
    } else {
        ui.json(&serde_json::json!({"status": "ok", "freed_bytes": freed}));
    }
    Ok(0)
}

fn gc_command(root: &Path, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let mut store = Store::open(root)?;
    let _lock = store.lock(|| ui.log("waiting for the running build to finish"))?;
    let (removed, freed) = store.gc(&archive::pinned_objects(&project))?;
    if ui.text() {
        ui.log(&format!(
            "removed {removed} unreferenced object(s), {} freed",
            format_bytes(freed)
        ));
    } else {
        ui.json(&serde_json::json!({"status": "ok", "removed": removed, "freed_bytes": freed}));
    }
    Ok(0)
}

fn format_bytes(bytes: u64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)),
    }
}

fn sample_command(args: &SampleArgs, ui: &Ui) -> Result<i32, Error> {
    let options = SampleOptions {
        scale: args.scale,
        data_only: args.data_only,
        month: args.month.clone(),
    };
    let written = sample::write_sample(&args.dir, &options)?;
    if ui.text() {
        for path in &written {
            ui.log(&format!("wrote {}", path.display()));
        }
    } else {
        ui.json(&serde_json::json!({"status": "ok", "written": written}));
    }
    Ok(0)
}

fn show_command(root: &Path, args: &ShowArgs, ui: &Ui) -> Result<i32, Error> {
    let project = Project::load(root)?;
    let table = build::current_output(&project, args.month.as_deref(), &args.stage)?;
    let mut batch = table.concat().map_err(|e| BuildError::Output {
        stage: args.stage.clone(),
        message: e.to_string(),
    })?;
    if let Some(limit) = args.limit {
        batch = batch.slice(0, limit.min(batch.num_rows()));
    }
    if ui.text() {
        let csv = crate::export::render_csv(&batch).map_err(|e| BuildError::Output {
            stage: args.stage.clone(),
            message: e.to_string(),
        })?;
        std::io::stdout()
            .write_all(&csv)
            .map_err(|e| StoreError::io(std::path::Path::new("<stdout>"), e))?;
    } else {
        let mut writer = arrow::json::ArrayWriter::new(Vec::new());
        let written = writer.write(&batch).and_then(|_| writer.finish());
        written.map_err(|e| BuildError::Output {
            stage: args.stage.clone(),
            message: e.to_string(),
        })?;
        let rows: serde_json::Value =
            serde_json::from_slice(&writer.into_inner()).unwrap_or_default();
        ui.json(&rows);
    }
    Ok(0)
}

/// Reads every cell of each workbook's first sheet with calamine and nothing else: the floor a
/// cold build is measured against (`just bench`).
fn parse_only_command(files: &[PathBuf]) -> Result<i32, Error> {
    use calamine::Reader;
    use rayon::prelude::*;
    let started = std::time::Instant::now();
    let cells: Vec<usize> = files
        .par_iter()
        .map(|file| {
            let mut workbook = calamine::open_workbook_auto(file).ok()?;
            let sheet = workbook.sheet_names().first()?.clone();
            let range = workbook.worksheet_range(&sheet).ok()?;
            Some(range.used_cells().count())
        })
        .map(|count| count.unwrap_or(0))
        .collect();
    println!(
        "parsed {} cells in {}",
        cells.iter().sum::<usize>(),
        format_duration(started.elapsed().as_secs_f64() * 1000.0)
    );
    Ok(0)
}
