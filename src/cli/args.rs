//! The command line's shape: clap types, one per command, each with the `--format` values that
//! command can print (so clap itself rejects `dag --format markdown`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "winebuild",
    version,
    about = "An incremental data build tool with a content-addressed cache",
    long_about = None
)]
pub(crate) struct Arguments {
    /// The project folder, holding winebuild.toml (default: this folder or the nearest parent
    /// that holds one)
    #[arg(short = 'C', long = "project", global = true)]
    pub(crate) project: Option<PathBuf>,
    /// Print only warnings and errors
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Print more: why reused stages were reused, every warning
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// Give up after this many seconds when another build holds the project's lock (default: wait)
    #[arg(long, global = true, value_name = "SECONDS")]
    pub(crate) lock_timeout: Option<u64>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Text for people, or one JSON document on stdout for scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum TextOrJson {
    /// For people
    #[default]
    #[value(alias = "table")]
    Text,
    /// One JSON document on stdout, for scripts
    Json,
}

/// `--format text|json`.
#[derive(Debug, Clone, Copy, Default, Args)]
pub(crate) struct FormatArg {
    /// Output format
    #[arg(long, value_enum, default_value_t = TextOrJson::Text)]
    pub(crate) format: TextOrJson,
}

impl FormatArg {
    pub(crate) fn is_json(self) -> bool {
        self.format == TextOrJson::Json
    }
}

/// How `diff` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DiffFormat {
    /// A table for a terminal
    #[value(alias = "text")]
    Table,
    /// One JSON document, for scripts
    Json,
    /// Markdown, for a pull request or an e-mail
    Markdown,
}

/// How `dag` prints the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DagFormat {
    /// A Mermaid flowchart
    Mermaid,
    /// Graphviz DOT
    Dot,
    /// Nodes and edges as JSON
    Json,
}

/// `r2` or `2`: a revision number, as revisions print.
fn parse_revision(text: &str) -> Result<u32, String> {
    text.strip_prefix('r')
        .unwrap_or(text)
        .parse()
        .map_err(|_| format!("`{text}` is not a revision; write it as r2 (or 2)"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Build a month: run the stages whose inputs changed, reuse the rest, write the exports
    #[command(
        after_help = "Examples:\n  winebuild build                      the latest month folder\n  winebuild build 2026-10              one month (or --month 2026-10)\n  winebuild build --month previous     the month before today's, as a schedule does\n  winebuild build --select fusion+     fusion and what depends on it\n  winebuild build --check              rerun everything apart from the cache: same bytes?\n  winebuild build --format json        one JSON report on stdout, for scripts"
    )]
    Build(BuildArgs),
    /// Show what the next build would run and why, running nothing
    #[command(
        after_help = "Examples:\n  winebuild plan\n  winebuild plan 2026-09 --select +ca  ca and what it reads"
    )]
    Plan(BuildArgs),
    /// Run the models' unit tests, then the checks of the month's current outputs (exit 1 when one
    /// fails)
    #[command(
        after_help = "Examples:\n  winebuild test\n  winebuild test 2026-09 --select fusion\n  winebuild test --unit               only the unit tests: no month needed\n  winebuild test --data               only the data checks"
    )]
    Test(TestArgs),
    /// Empty the store (.winebuild/); the run history is kept
    #[command(
        after_help = "Examples:\n  winebuild clean                      the next build runs every stage"
    )]
    Clean(FormatArg),
    /// Remove stored objects that no month's current build nor any archive references
    #[command(
        after_help = "Examples:\n  winebuild gc\n  winebuild gc --remote                the shared store too"
    )]
    Gc(GcArgs),
    /// The shared store on object storage: whether it answers, what it holds, and uploading
    /// what this machine built
    #[command(
        subcommand,
        after_help = "Examples:\n  winebuild remote status\n  winebuild remote push\n  winebuild remote push --month 2026-09"
    )]
    Remote(RemoteCommand),
    /// A Ballista cluster for months that outgrow one machine: its scheduler and executors run
    /// from this binary; `status` lists the executors
    #[command(
        subcommand,
        after_help = "Examples:\n  winebuild cluster scheduler --bind 0.0.0.0:50050\n  winebuild cluster executor --scheduler df://scheduler-host:50050 --bind 0.0.0.0:50051\n  winebuild cluster status\n\nA build sends models to it with `cluster = \"df://host:50050\"` under [engine] in winebuild.toml,\nor WINEBUILD_CLUSTER; executors read inputs from the shared store ([remote]) with their own\nAWS_* (or GOOGLE_*, AZURE_*) variables."
    )]
    Cluster(ClusterCommand),
    /// Write a sample project: winebuild.toml, models/ and generated months of wine data
    #[command(
        after_help = "Examples:\n  winebuild sample /tmp/cave            a project with three sample months\n  winebuild sample . --data-only       only the data/ folders\n  winebuild sample /tmp/big --scale 100 --month 2026-09"
    )]
    Sample(SampleArgs),
    /// Print a stage's current output for a month, as csv (or JSON rows with --format json)
    #[command(
        after_help = "Examples:\n  winebuild show ca_total\n  winebuild show ca --month 2026-09 --limit 5\n  winebuild show premium --format json"
    )]
    Show(ShowArgs),
    /// Compare two archived months model by model, with a business summary first
    #[command(
        after_help = "Examples:\n  winebuild diff                       the two latest archived months\n  winebuild diff 2026-10               2026-10 and the archived month before it\n  winebuild diff 2026-08 2026-10@r1    any two, or a given revision\n  winebuild diff --against 2026-09     the current build against an archived month\n  winebuild diff --model ca,premium --format markdown"
    )]
    Diff(DiffArgs),
    /// List, show and verify the monthly archives (archive/<month>/r<N>/)
    #[command(
        after_help = "Examples:\n  winebuild archive list\n  winebuild archive show 2026-09 --revision r1\n  winebuild archive verify"
    )]
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// Past builds (time, month, status, stages run and reused); `log <run>` shows one in full
    #[command(after_help = "Examples:\n  winebuild log\n  winebuild log last\n  winebuild log 3")]
    Log(LogArgs),
    /// Write out/<month>/report.html: the DAG, a Gantt chart of the build, the checks and the diff
    #[command(after_help = "Examples:\n  winebuild report\n  winebuild report 2026-09")]
    Report(ReportArgs),
    /// Print the pipeline graph for documentation (`--format mermaid`, the default, or `dot`)
    #[command(
        after_help = "Examples:\n  winebuild dag\n  winebuild dag --format dot | dot -Tsvg > pipeline.svg"
    )]
    Dag(DagArgs),
    /// Print (or --install) the monthly schedule: the 15th at 09:00, building the month just ended
    #[command(
        after_help = "Examples:\n  winebuild schedule\n  winebuild schedule --install\n  winebuild schedule --systemd --install"
    )]
    Schedule(ScheduleArgs),
    /// Print a completion script for your shell: bash, zsh, fish, elvish or powershell
    #[command(
        after_help = "Examples:\n  winebuild completions bash > ~/.local/share/bash-completion/completions/winebuild\n  winebuild completions zsh > ~/.zfunc/_winebuild\n  winebuild completions fish > ~/.config/fish/completions/winebuild.fish"
    )]
    Completions {
        /// The shell
        shell: clap_complete::Shell,
    },
    /// Print the JSON Schema of a build's artifact: manifest or run-results (.winebuild/artifacts/)
    #[command(
        after_help = "Examples:\n  winebuild schema manifest\n  winebuild schema run-results > run_results.schema.json"
    )]
    Schema {
        /// The artifact
        artifact: crate::artifacts::Artifact,
    },
}

/// `--month M` or a month given as the first word after the command.
macro_rules! month_of {
    ($($args:ty),*) => {$(
        impl $args {
            pub(crate) fn month(&self) -> Option<String> {
                self.month.clone().or_else(|| self.month_given.clone())
            }
        }
    )*};
}

month_of!(BuildArgs, TestArgs, ReportArgs);

impl Command {
    /// True when the command prints one JSON document (errors included) instead of text.
    pub(crate) fn is_json(&self) -> bool {
        match self {
            Command::Build(a) | Command::Plan(a) => a.output.is_json(),
            Command::Test(a) => a.output.is_json(),
            Command::Clean(f) => f.is_json(),
            Command::Gc(a) => a.output.is_json(),
            Command::Remote(a) => a.output().is_json(),
            Command::Cluster(ClusterCommand::Status { output, .. }) => output.is_json(),
            Command::Sample(a) => a.output.is_json(),
            Command::Show(a) => a.output.is_json(),
            Command::Diff(a) => a.format == DiffFormat::Json,
            Command::Archive(a) => a.output().is_json(),
            Command::Log(a) => a.output.is_json(),
            Command::Report(a) => a.output.is_json(),
            Command::Dag(a) => a.format == DagFormat::Json,
            Command::Cluster(_)
            | Command::Schedule(_)
            | Command::Completions { .. }
            | Command::Schema { .. } => false,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct BuildArgs {
    /// The month to build: YYYY-MM, or `previous` (the calendar month before today's); default:
    /// the latest month folder
    #[arg(long)]
    pub(crate) month: Option<String>,
    /// The month, as with --month: `winebuild build 2026-10`
    #[arg(value_name = "MONTH", conflicts_with = "month")]
    pub(crate) month_given: Option<String>,
    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Rerun the selected stages even when their outputs are stored
    #[arg(long)]
    pub(crate) force: bool,
    /// Check the month's build is reproducible: rerun the selected stages in memory and compare
    /// their bytes with the stored outputs (exit 1 naming each that differs); changes nothing
    #[arg(long, conflicts_with = "force")]
    pub(crate) check: bool,
    #[command(flatten)]
    pub(crate) output: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct TestArgs {
    /// The month to test, YYYY-MM (default: the latest month folder)
    #[arg(long)]
    pub(crate) month: Option<String>,
    /// The month, as with --month: `winebuild test 2026-10`
    #[arg(value_name = "MONTH", conflicts_with = "month")]
    pub(crate) month_given: Option<String>,

    #[command(flatten)]
    pub(crate) selection: SelectionArgs,
    /// Run only the models' unit tests (models/<name>.tests.toml): no month data is read
    #[arg(long, conflicts_with = "data")]
    pub(crate) unit: bool,
    /// Run only the data checks on the month's outputs
    #[arg(long)]
    pub(crate) data: bool,
    #[command(flatten)]
    pub(crate) output: FormatArg,
}

/// dbt's node selection: `--select`, `--exclude`, `--state`.
#[derive(Debug, Args)]
pub(crate) struct SelectionArgs {
    /// Stages to take, in dbt's grammar: `name`, `+name` (and what it reads), `name+` (and what
    /// reads it), `2+name`, `name+1`, `@name`, `tag:T`, `source:S`, `path:P`, `state:modified`,
    /// `result:fail`; spaces (or several values) are a union, a comma intersects (default: all)
    #[arg(long, short = 's', num_args = 1.., value_name = "SELECTOR")]
    pub(crate) select: Vec<String>,
    /// Stages to leave out, in the same grammar
    #[arg(long, num_args = 1.., value_name = "SELECTOR")]
    pub(crate) exclude: Vec<String>,
    /// The archived build `state:` selectors compare with: YYYY-MM or YYYY-MM@rN (default: the
    /// month's latest archived revision)
    #[arg(long, value_name = "MONTH[@rN]")]
    pub(crate) state: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The source or model to show
    pub(crate) stage: String,
    /// The month, YYYY-MM (default: the latest month folder)
    #[arg(long)]
    pub(crate) month: Option<String>,
    /// Print at most this many rows (all when absent)
    #[arg(long)]
    pub(crate) limit: Option<usize>,
    #[command(flatten)]
    pub(crate) output: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// `FROM TO` months (YYYY-MM, or YYYY-MM@rN for a revision); one month: it and the one
    /// before; none: the two latest archived months
    #[arg(num_args = 0..=2)]
    pub(crate) months: Vec<String>,
    /// Compare the current build (of --month, default the latest) with this archived month
    #[arg(long, conflicts_with = "months")]
    pub(crate) against: Option<String>,
    /// With --against: the month whose current build is compared
    #[arg(long, requires = "against")]
    pub(crate) month: Option<String>,
    /// Only these models (several, or a comma-separated list: `--model ca,fusion`)
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub(crate) model: Vec<String>,
    /// Floats closer than this are equal
    #[arg(long, default_value_t = 1e-9)]
    pub(crate) tolerance: f64,
    /// Output format
    #[arg(long, value_enum, default_value_t = DiffFormat::Table)]
    pub(crate) format: DiffFormat,
}

#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Also remove what the shared store holds that no month state nor archive there
    /// references (objects younger than an hour are kept: a build may be about to name them)
    #[arg(long)]
    pub(crate) remote: bool,
    /// With --remote: keep unreferenced objects younger than this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub(crate) grace: u64,
    #[command(flatten)]
    pub(crate) output: FormatArg,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RemoteCommand {
    /// Whether the remote answers, and what it holds: objects, records, months, archives
    Status(FormatArg),
    /// Upload what this machine's store and archive hold that the remote lacks
    Push {
        /// Only this month's current build and its archive, YYYY-MM (default: everything)
        #[arg(long)]
        month: Option<String>,
        #[command(flatten)]
        output: FormatArg,
    },
}

impl RemoteCommand {
    pub(crate) fn output(&self) -> FormatArg {
        match self {
            RemoteCommand::Status(output) | RemoteCommand::Push { output, .. } => *output,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClusterCommand {
    /// Run Ballista's scheduler here until stopped (Ctrl-C)
    Scheduler {
        /// Where it listens (gRPC for executors and builds, and its REST API)
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "ADDR")]
        bind: std::net::SocketAddr,
        /// An executor silent this long is taken for dead and its tasks run elsewhere
        #[arg(long, default_value_t = 30, value_name = "SECONDS")]
        executor_timeout: u64,
    },
    /// Run a Ballista executor here until stopped (Ctrl-C)
    Executor {
        /// The scheduler to register with: df://host:port (or host:port)
        #[arg(long, value_name = "ADDR")]
        scheduler: String,
        /// Where it serves results and shuffle data (Arrow Flight)
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "ADDR")]
        bind: std::net::SocketAddr,
        /// Where the scheduler sends it tasks (default: the --bind port + 1)
        #[arg(long, value_name = "PORT")]
        grpc_port: Option<u16>,
        /// How many tasks it runs at once (default: this machine's cores)
        #[arg(long, value_name = "N")]
        slots: Option<usize>,
    },
    /// List the executors registered with the scheduler
    Status {
        /// The scheduler: df://host:port (default: the project's [engine] cluster or
        /// `WINEBUILD_CLUSTER`)
        #[arg(long, value_name = "ADDR")]
        scheduler: Option<String>,
        #[command(flatten)]
        output: FormatArg,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ArchiveCommand {
    /// Every archived month and its revisions
    List(FormatArg),
    /// One month's archive: sources, stages, checks (latest revision, or --revision)
    Show {
        /// The archived month, YYYY-MM
        month: String,
        /// The revision to show: `r2` or `2` (default: the latest)
        #[arg(long, value_parser = parse_revision)]
        revision: Option<u32>,
        #[command(flatten)]
        output: FormatArg,
    },
    /// Re-hash every archived file; exit 1 and name each file that changed
    Verify {
        /// Only this month, YYYY-MM (default: every archived month)
        month: Option<String>,
        #[command(flatten)]
        output: FormatArg,
    },
}

impl ArchiveCommand {
    pub(crate) fn output(&self) -> FormatArg {
        match self {
            ArchiveCommand::List(output)
            | ArchiveCommand::Show { output, .. }
            | ArchiveCommand::Verify { output, .. } => *output,
        }
    }
}

#[derive(Debug, Args)]
pub(crate) struct LogArgs {
    /// A run: its number in `winebuild log`, `last`, or its id (a prefix is enough)
    pub(crate) run: Option<String>,
    /// Show at most this many runs, the latest ones
    #[arg(long, default_value_t = 20)]
    pub(crate) limit: usize,
    #[command(flatten)]
    pub(crate) output: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The month, YYYY-MM (default: the latest month folder)
    #[arg(long)]
    pub(crate) month: Option<String>,
    /// The month, as with --month: `winebuild report 2026-10`
    #[arg(value_name = "MONTH", conflicts_with = "month")]
    pub(crate) month_given: Option<String>,

    #[command(flatten)]
    pub(crate) output: FormatArg,
}

#[derive(Debug, Args)]
pub(crate) struct DagArgs {
    /// Output format
    #[arg(long, value_enum, default_value_t = DagFormat::Mermaid)]
    pub(crate) format: DagFormat,
}

#[derive(Debug, Args)]
pub(crate) struct ScheduleArgs {
    /// A systemd service and timer instead of a crontab line
    #[arg(long)]
    pub(crate) systemd: bool,
    /// Install it: into your crontab, or into ~/.config/systemd/user
    #[arg(long)]
    pub(crate) install: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SampleArgs {
    /// Folder to write the project to (created if missing)
    pub(crate) dir: PathBuf,
    /// Write only data/<month>/ folders, not winebuild.toml and models/
    #[arg(long)]
    pub(crate) data_only: bool,
    /// Multiply the number of products and web rows (100 gives ~150,000 web rows)
    #[arg(long, default_value_t = 1)]
    pub(crate) scale: u32,
    /// Write only this month (one of the sample months)
    #[arg(long)]
    pub(crate) month: Option<String>,
    /// Write over the folder's files (without it, only an empty folder, or new month folders
    /// with --data-only)
    #[arg(long)]
    pub(crate) force: bool,
    #[command(flatten)]
    pub(crate) output: FormatArg,
}
