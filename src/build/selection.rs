//! What `--select`, `--exclude` and `--state` pick for one build, plan or test: the facts dbt's
//! grammar ([`crate::graph::Selector`]) asks of a project and its month.
//!
//! Rules it keeps:
//! - `state:modified` compares keys, as the store does: a stage is modified when the reference
//!   build lacks it, when something it reads is modified, or when its key computed over the
//!   reference's inputs differs from the reference's key (so an edited SQL, setting or source
//!   file, or a new winebuild version, counts; a reworded description does not). Downstream of a
//!   modified stage is modified, because its key will differ unless the rebuilt output is
//!   byte-identical, which cannot be known before it runs;
//! - the reference is `--state M` / `M@rN`, else the month's latest archived revision;
//! - `result:` reads the month's last recorded build; stages it did not record match nothing.

use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet};

use super::context::Context;
use super::{Action, BuildError, BuildOptions};
use crate::archive::{self, Manifest};
use crate::checks::CheckStatus;
use crate::graph::{
    Facts, Graph, RunResult, SelectError, Selector, StageId, StageKind, StateMethod,
};
use crate::month::Month;
use crate::project::{ModelDef, Project};
use crate::store::ObjectHash;
use crate::store::Store;

/// The parsed `--select` and `--exclude`.
struct Selectors {
    select: Selector,
    exclude: Selector,
}

fn flag(flag: &'static str) -> impl Fn(SelectError) -> BuildError {
    move |source| BuildError::Select { flag, source }
}

impl Selectors {
    fn parse(options: &BuildOptions) -> Result<Selectors, BuildError> {
        Ok(Selectors {
            select: Selector::parse(&options.select).map_err(flag("--select"))?,
            exclude: Selector::parse(&options.exclude).map_err(flag("--exclude"))?,
        })
    }

    fn resolve(&self, graph: &Graph, facts: &dyn Facts) -> Result<BTreeSet<StageId>, BuildError> {
        let mut selected = self
            .select
            .resolve(graph, facts)
            .map_err(flag("--select"))?;
        if !self.exclude.is_empty() {
            for id in self
                .exclude
                .resolve(graph, facts)
                .map_err(flag("--exclude"))?
            {
                selected.remove(&id);
            }
        }
        Ok(selected)
    }
}

/// Resolves the build's `--select` and `--exclude` over the context's graph.
pub(super) fn selected(
    ctx: &Context<'_>,
    options: &BuildOptions,
) -> Result<BTreeSet<StageId>, BuildError> {
    let selectors = Selectors::parse(options)?;
    if selectors.select.is_empty() && selectors.exclude.is_empty() {
        return Ok(ctx.graph.ids().collect());
    }
    let facts = BuildFacts {
        ctx,
        state: options.state.as_deref(),
        reference: OnceCell::new(),
        results: OnceCell::new(),
    };
    selectors.resolve(&ctx.graph, &facts)
}

/// The models `--select` and `--exclude` take, for what needs no month (unit tests); a selector
/// that asks about a month's builds (`state:`, `result:`) reads the month as a build would.
pub(crate) fn selected_models<'p>(
    project: &'p Project,
    options: &BuildOptions,
) -> Result<Vec<&'p ModelDef>, BuildError> {
    let selectors = Selectors::parse(options)?;
    let names: BTreeSet<String> =
        if selectors.select.needs_month() || selectors.exclude.needs_month() {
            let store = Store::open_read_only(&project.root);
            let ctx = Context::new(project, options, &store)?;
            ctx.selected
                .iter()
                .map(|&id| ctx.name(id).to_string())
                .collect()
        } else {
            let graph = Graph::new(project)?;
            let facts = ProjectFacts {
                project,
                graph: &graph,
            };
            selectors
                .resolve(&graph, &facts)?
                .into_iter()
                .map(|id| graph.name(id).to_string())
                .collect()
        };
    Ok(project
        .models
        .values()
        .filter(|model| names.contains(&model.name))
        .collect())
}

/// What a project alone tells selection.
struct ProjectFacts<'p> {
    project: &'p Project,
    graph: &'p Graph,
}

impl Facts for ProjectFacts<'_> {
    fn tags(&self, id: StageId) -> Vec<String> {
        self.project.tags(self.graph.name(id)).to_vec()
    }

    fn path(&self, id: StageId) -> String {
        self.project.defined_in(self.graph.name(id))
    }

    // Selectors that need a month are resolved in a build's context instead.
    fn state(&self, _: StateMethod) -> Result<BTreeSet<StageId>, String> {
        Err("`state:` needs a month".into())
    }

    fn results(&self, _: RunResult) -> Result<BTreeSet<StageId>, String> {
        Err("`result:` needs a month".into())
    }
}

struct BuildFacts<'c, 'p> {
    ctx: &'c Context<'p>,
    /// `--state`: the build `state:` compares with.
    state: Option<&'c str>,
    reference: OnceCell<Result<Manifest, String>>,
    /// How each stage ended in the month's last build, read once.
    results: OnceCell<Result<BTreeMap<String, RunResult>, String>>,
}

impl BuildFacts<'_, '_> {
    /// What the project alone tells: tags and paths.
    fn project_facts(&self) -> ProjectFacts<'_> {
        ProjectFacts {
            project: self.ctx.project,
            graph: &self.ctx.graph,
        }
    }

    /// The archived build `state:` compares with, read once.
    fn reference(&self) -> Result<&Manifest, String> {
        self.reference
            .get_or_init(|| self.read_reference())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn read_reference(&self) -> Result<Manifest, String> {
        let project = self.ctx.project;
        let (month, revision) = match self.state {
            Some(given) => archive::parse_revision_ref(given).ok_or_else(|| {
                format!("--state `{given}` is not a month (YYYY-MM) or a revision (YYYY-MM@rN)")
            })?,
            None => (self.ctx.month, None),
        };
        archive::manifest(project, month, revision).map_err(|e| match e {
            archive::ArchiveError::NoMonth { .. } => format!(
                "{month} has no archived build to compare with{}",
                if self.state.is_none() {
                    " (state: compares with the month's latest archived build)"
                } else {
                    ""
                }
            ),
            other => other.to_string(),
        })
    }

    /// Stages whose key differs from the reference's, in graph order (see the module's rules).
    fn modified(&self, reference: &Manifest) -> BTreeSet<StageId> {
        let ctx = self.ctx;
        let mut modified = BTreeSet::new();
        for id in ctx.graph.in_order() {
            let name = ctx.name(id);
            let Some(was) = reference.stage(name) else {
                modified.insert(id);
                continue;
            };
            let node = ctx.graph.node(id);
            if node.inputs.iter().any(|input| modified.contains(input)) {
                modified.insert(id);
                continue;
            }
            let key = self
                .inputs_as_in(reference, id)
                .map(|inputs| ctx.key_over(id, inputs));
            if key.is_none_or(|key| key != was.key) {
                modified.insert(id);
            }
        }
        modified
    }

    /// The stage's inputs as the reference build had them (a source: its file as it is now).
    fn inputs_as_in(
        &self,
        reference: &Manifest,
        id: StageId,
    ) -> Option<BTreeMap<String, ObjectHash>> {
        let ctx = self.ctx;
        let node = ctx.graph.node(id);
        if node.kind == StageKind::Source {
            return ctx.source_input(id).ok();
        }
        node.inputs
            .iter()
            .map(|&input| {
                let name = ctx.name(input);
                Some((name.to_string(), reference.stage(name)?.output.clone()))
            })
            .collect()
    }

    /// How each stage ended in the month's last recorded build, read once.
    fn last_results(&self) -> Result<&BTreeMap<String, RunResult>, String> {
        self.results
            .get_or_init(|| self.read_last_results())
            .as_ref()
            .map_err(Clone::clone)
    }

    fn read_last_results(&self) -> Result<BTreeMap<String, RunResult>, String> {
        let month: Month = self.ctx.month;
        let (runs, _) = crate::runs::read_runs(self.ctx.project).map_err(|e| e.to_string())?;
        let last = runs
            .iter()
            .rev()
            .find(|run| run.month == month)
            .ok_or_else(|| format!("no build of {month} is recorded"))?;
        Ok(last
            .stages
            .iter()
            .map(|stage| (stage.stage.clone(), result_of(stage)))
            .collect())
    }
}

fn result_of(stage: &super::StageOutcome) -> RunResult {
    let any = |status: CheckStatus| stage.checks.iter().any(|c| c.status == status);
    match stage.action {
        Action::Skipped => RunResult::Skipped,
        Action::Failed if stage.error.is_some() => RunResult::Error,
        _ if any(CheckStatus::Fail) => RunResult::Fail,
        Action::Failed => RunResult::Error,
        _ if any(CheckStatus::Warn) => RunResult::Warn,
        Action::Ran | Action::Reused | Action::Fetched => RunResult::Success,
    }
}

impl Facts for BuildFacts<'_, '_> {
    fn tags(&self, id: StageId) -> Vec<String> {
        self.project_facts().tags(id)
    }

    fn path(&self, id: StageId) -> String {
        self.project_facts().path(id)
    }

    fn state(&self, method: StateMethod) -> Result<BTreeSet<StageId>, String> {
        let reference = self.reference()?;
        Ok(match method {
            StateMethod::Modified => self.modified(reference),
            StateMethod::New => self
                .ctx
                .graph
                .ids()
                .filter(|&id| reference.stage(self.ctx.name(id)).is_none())
                .collect(),
        })
    }

    fn results(&self, result: RunResult) -> Result<BTreeSet<StageId>, String> {
        let results = self.last_results()?;
        Ok(self
            .ctx
            .graph
            .ids()
            .filter(|&id| results.get(self.ctx.name(id)) == Some(&result))
            .collect())
    }
}
