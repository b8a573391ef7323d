//! dbt's node selection, read exactly as dbt reads it, over the stage graph.
//!
//! The grammar:
//! - the values of `--select` (and words separated by spaces inside one value) are a union;
//! - a comma inside a word intersects: `fusion+,+ca` is what is both downstream of `fusion` and
//!   upstream of `ca`;
//! - an atom is `[@][N]+?METHOD:VALUE[+[N]]`: `+x` adds what `x` reads, `x+` what reads `x`, a
//!   number bounds the depth (`2+x`, `x+1`), `@x` is `x`, what reads it and everything those read;
//! - methods: a bare word is a stage name; `tag:`, `source:`, `path:` (a model file or folder, or
//!   `winebuild.toml` for sources and exports), `state:modified` / `state:new` (against an archived
//!   build), `result:success|error|fail|warn|skipped` (the month's last build); `*` is a
//!   wildcard in names, tags, sources and paths.
//!
//! Rules it keeps: a name, tag, source or path that matches nothing is an error naming it, with a
//! suggestion (it can only be a typo); `state:` and `result:` may match nothing (nothing changed
//! is not a mistake); selection never invents stages; facts that cost something to find (keys
//! for `state:`, the run log for `result:`) are asked for only when an atom uses them.

use std::collections::{BTreeSet, VecDeque};
use std::fmt;

use super::{Graph, StageId, StageKind};
use crate::error::{Hint, did_you_mean};

/// `state:` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateMethod {
    /// The stage's key differs from the reference build's, or the stage is new.
    Modified,
    /// The reference build has no such stage.
    New,
}

/// `result:` values: how a stage ended in the month's last build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunResult {
    /// Built (ran, reused or fetched) and every error-severity check passed.
    Success,
    /// Could not be built: a SQL error, an unreadable file.
    Error,
    /// An error-severity check failed.
    Fail,
    /// A warn-severity check failed.
    Warn,
    Skipped,
}

impl RunResult {
    const ALL: [(&'static str, RunResult); 5] = [
        ("success", RunResult::Success),
        ("error", RunResult::Error),
        ("fail", RunResult::Fail),
        ("warn", RunResult::Warn),
        ("skipped", RunResult::Skipped),
    ];
}

/// What an atom selects before its graph operators.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Method {
    Name(String),
    Tag(String),
    Source(String),
    Path(String),
    State(StateMethod),
    Result(RunResult),
}

const METHODS: [&str; 5] = ["tag", "source", "path", "state", "result"];

/// How far a graph operator reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    All,
    At(usize),
}

impl Depth {
    fn allows(self, depth: usize) -> bool {
        match self {
            Depth::All => true,
            Depth::At(max) => depth <= max,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Atom {
    text: String,
    /// `@x`.
    at: bool,
    parents: Option<Depth>,
    children: Option<Depth>,
    method: Method,
}

/// A parsed `--select` or `--exclude`: a union of intersections of atoms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Selector {
    terms: Vec<Vec<Atom>>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SelectError {
    #[error("`{atom}`: {problem}")]
    Syntax {
        atom: String,
        problem: String,
        hint: String,
    },
    #[error("`{atom}` matches no {what}")]
    NoMatch {
        atom: String,
        what: &'static str,
        suggestion: String,
    },
    /// A fact the atom needs cannot be had (no archived build to compare with, no last run).
    #[error("`{atom}`: {problem}")]
    Unavailable {
        atom: String,
        problem: String,
        hint: String,
    },
}

impl Hint for SelectError {
    fn hint(&self) -> Option<String> {
        match self {
            SelectError::Syntax { hint, .. } | SelectError::Unavailable { hint, .. } => {
                Some(hint.clone())
            }
            SelectError::NoMatch { suggestion, .. } => Some(suggestion.clone()),
        }
    }
}

/// What selection needs to know beyond the graph. The costly facts are asked for at most once
/// per method, and only when an atom uses them.
pub(crate) trait Facts {
    /// The stage's tags (model header `tags`, or `tags` of a source or export).
    fn tags(&self, id: StageId) -> Vec<String>;
    /// The file the stage is defined in, relative to the project root, with `/` separators.
    fn path(&self, id: StageId) -> String;
    /// The stages `state:<method>` selects.
    fn state(&self, method: StateMethod) -> Result<BTreeSet<StageId>, String>;
    /// The stages that ended so in the month's last build.
    fn results(&self, result: RunResult) -> Result<BTreeSet<StageId>, String>;
}

impl Selector {
    /// Parses the values of one `--select` or `--exclude` flag. No value (or only spaces) is an
    /// empty selector: [`Selector::is_empty`].
    pub(crate) fn parse(values: &[String]) -> Result<Selector, SelectError> {
        let mut terms = Vec::new();
        for word in values.iter().flat_map(|v| v.split_whitespace()) {
            if word.split(',').any(str::is_empty) {
                return Err(syntax(
                    word,
                    "an empty selector (two commas in a row, or a comma at an end)",
                    GRAMMAR_HINT,
                ));
            }
            let atoms = word
                .split(',')
                .map(parse_atom)
                .collect::<Result<Vec<_>, _>>()?;
            terms.push(atoms);
        }
        Ok(Selector { terms })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Whether an atom asks about a month's builds (`state:`, `result:`).
    pub(crate) fn needs_month(&self) -> bool {
        self.terms
            .iter()
            .flatten()
            .any(|atom| matches!(atom.method, Method::State(_) | Method::Result(_)))
    }

    /// The stages selected: the union of each term's intersection; every stage when empty.
    pub(crate) fn resolve(
        &self,
        graph: &Graph,
        facts: &dyn Facts,
    ) -> Result<BTreeSet<StageId>, SelectError> {
        let mut selected = BTreeSet::new();
        if self.terms.is_empty() {
            return Ok(graph.ids().collect());
        }
        for term in &self.terms {
            let mut intersection: Option<BTreeSet<StageId>> = None;
            for atom in term {
                let matched = atom.resolve(graph, facts)?;
                intersection = Some(match intersection {
                    None => matched,
                    Some(so_far) => so_far.intersection(&matched).copied().collect(),
                });
            }
            selected.extend(intersection.unwrap_or_default());
        }
        Ok(selected)
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<String> = self
            .terms
            .iter()
            .map(|term| {
                term.iter()
                    .map(|atom| atom.text.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        f.write_str(&words.join(" "))
    }
}

fn syntax(atom: &str, problem: impl Into<String>, hint: impl Into<String>) -> SelectError {
    SelectError::Syntax {
        atom: atom.to_string(),
        problem: problem.into(),
        hint: hint.into(),
    }
}

const GRAMMAR_HINT: &str = "a selector is `name`, `+name`, `name+`, `2+name`, `name+1`, `@name`, or `tag:`, `source:`, `path:`, `state:modified`, `result:fail` with the same operators";

fn parse_atom(text: &str) -> Result<Atom, SelectError> {
    let mut rest = text;
    let at = rest.starts_with('@');
    if at {
        rest = &rest[1..];
    }
    let (parents, after) = leading_operator(rest);
    rest = after;
    let (children, before) = trailing_operator(rest);
    rest = before;
    if at && (parents.is_some() || children.is_some()) {
        return Err(syntax(
            text,
            "`@` cannot be combined with `+`",
            "`@name` already takes what reads name and everything those read",
        ));
    }
    if rest.is_empty() || rest.contains(['+', '@']) {
        return Err(syntax(text, "not a selector", GRAMMAR_HINT));
    }
    Ok(Atom {
        text: text.to_string(),
        at,
        parents,
        children,
        method: parse_method(text, rest)?,
    })
}

/// `+x` or `N+x`: the depth, and what follows the operator.
fn leading_operator(text: &str) -> (Option<Depth>, &str) {
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    match text[digits..].strip_prefix('+') {
        Some(rest) if digits == 0 => (Some(Depth::All), rest),
        Some(rest) => (text[..digits].parse().ok().map(Depth::At), rest),
        None => (None, text),
    }
}

/// `x+` or `x+N`: the depth, and what comes before the operator.
fn trailing_operator(text: &str) -> (Option<Depth>, &str) {
    let without_digits = text.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = &text[without_digits.len()..];
    match without_digits.strip_suffix('+') {
        Some(rest) if digits.is_empty() => (Some(Depth::All), rest),
        Some(rest) => (digits.parse().ok().map(Depth::At), rest),
        None => (None, text),
    }
}

fn parse_method(atom: &str, text: &str) -> Result<Method, SelectError> {
    let Some((method, value)) = text.split_once(':') else {
        return Ok(Method::Name(text.to_string()));
    };
    if value.is_empty() {
        return Err(syntax(
            atom,
            format!("`{method}:` needs a value"),
            GRAMMAR_HINT,
        ));
    }
    match method {
        "tag" => Ok(Method::Tag(value.to_string())),
        "source" => Ok(Method::Source(value.to_string())),
        "path" => Ok(Method::Path(value.trim_end_matches('/').to_string())),
        "state" => match value {
            "modified" => Ok(Method::State(StateMethod::Modified)),
            "new" => Ok(Method::State(StateMethod::New)),
            _ => Err(syntax(
                atom,
                "not a state",
                "`state:modified` (key differs from the archived build) or `state:new`",
            )),
        },
        "result" => RunResult::ALL
            .iter()
            .find(|(word, _)| *word == value)
            .map(|(_, result)| Method::Result(*result))
            .ok_or_else(|| {
                syntax(
                    atom,
                    "not a result",
                    "results are `success`, `error`, `fail`, `warn` and `skipped`",
                )
            }),
        other => Err(syntax(
            atom,
            format!("`{other}:` is not a selection method"),
            did_you_mean(
                &format!("{other}:"),
                METHODS.map(|m| format!("{m}:")).iter(),
                "methods are `tag:`, `source:`, `path:`, `state:` and `result:`",
            ),
        )),
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

impl Atom {
    fn resolve(&self, graph: &Graph, facts: &dyn Facts) -> Result<BTreeSet<StageId>, SelectError> {
        let seeds = self.seeds(graph, facts)?;
        let mut selected = seeds.clone();
        if self.at {
            let mut down = seeds.clone();
            for &id in &seeds {
                down.extend(graph.within(id, Direction::Down, Depth::All));
            }
            for &id in &down {
                selected.extend(graph.within(id, Direction::Up, Depth::All));
            }
            selected.extend(down);
        }
        for &id in &seeds {
            if let Some(depth) = self.parents {
                selected.extend(graph.within(id, Direction::Up, depth));
            }
            if let Some(depth) = self.children {
                selected.extend(graph.within(id, Direction::Down, depth));
            }
        }
        Ok(selected)
    }

    /// The stages the method matches, before `+` and `@`.
    fn seeds(&self, graph: &Graph, facts: &dyn Facts) -> Result<BTreeSet<StageId>, SelectError> {
        let matching = |keep: &dyn Fn(StageId) -> bool| -> BTreeSet<StageId> {
            graph.ids().filter(|&id| keep(id)).collect()
        };
        let unavailable = |problem: String, hint: &str| SelectError::Unavailable {
            atom: self.text.clone(),
            problem,
            hint: hint.to_string(),
        };
        let found = match &self.method {
            Method::Name(pattern) => matching(&|id| wildcard_match(pattern, graph.name(id))),
            Method::Tag(pattern) => {
                matching(&|id| facts.tags(id).iter().any(|t| wildcard_match(pattern, t)))
            }
            Method::Source(pattern) => matching(&|id| {
                graph.node(id).kind == StageKind::Source && wildcard_match(pattern, graph.name(id))
            }),
            Method::Path(pattern) => matching(&|id| path_matches(pattern, &facts.path(id))),
            Method::State(method) => {
                return facts.state(*method).map_err(|problem| {
                    unavailable(
                        problem,
                        "build and archive the month once, or compare with another build: --state 2026-09 or --state 2026-09@r1",
                    )
                });
            }
            Method::Result(result) => {
                return facts.results(*result).map_err(|problem| {
                    unavailable(
                        problem,
                        "`result:` reads the month's last build: build it first",
                    )
                });
            }
        };
        if found.is_empty() {
            return Err(self.no_match(graph, facts));
        }
        Ok(found)
    }

    fn no_match(&self, graph: &Graph, facts: &dyn Facts) -> SelectError {
        let names: Vec<String> = graph.ids().map(|id| graph.name(id).to_string()).collect();
        let (what, value, candidates, otherwise): (_, _, Vec<String>, _) = match &self.method {
            Method::Name(name) => ("stage", name, names, "`winebuild plan` lists every stage"),
            Method::Tag(tag) => {
                let tags: BTreeSet<String> = graph.ids().flat_map(|id| facts.tags(id)).collect();
                let otherwise = if tags.is_empty() {
                    "no stage has tags: add `tags = [\"finance\"]` to a model's header, or to a source or export in winebuild.toml"
                } else {
                    "tags are declared in model headers and in winebuild.toml"
                };
                ("tag", tag, tags.into_iter().collect(), otherwise)
            }
            Method::Source(source) => (
                "source",
                source,
                graph
                    .ids()
                    .filter(|&id| graph.node(id).kind == StageKind::Source)
                    .map(|id| graph.name(id).to_string())
                    .collect(),
                "sources are declared in winebuild.toml's [sources]",
            ),
            Method::Path(path) => (
                "file",
                path,
                graph.ids().map(|id| facts.path(id)).collect(),
                "paths are relative to the project: `path:models/ca.sql`, `path:models`, `path:winebuild.toml`",
            ),
            Method::State(_) | Method::Result(_) => unreachable!("may match nothing"),
        };
        let mut suggestion = did_you_mean(value, candidates.iter(), otherwise);
        if let Method::Name(name) = &self.method
            && let Some(method) = METHODS.iter().find(|m| name.starts_with(&format!("{m}s")))
        {
            suggestion = format!("did you mean `{method}:`?");
        }
        SelectError::NoMatch {
            atom: self.text.clone(),
            what,
            suggestion,
        }
    }
}

/// A path selector matches a file, a folder holding it, or a wildcard pattern.
fn path_matches(pattern: &str, path: &str) -> bool {
    wildcard_match(pattern, path)
        || path
            .strip_prefix(pattern)
            .is_some_and(|rest| rest.starts_with('/'))
        || pattern == "."
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// What a stage reads.
    Up,
    /// What reads a stage.
    Down,
}

impl Graph {
    /// The stages within `depth` steps of `id` in one direction, `id` excluded.
    pub(crate) fn within(
        &self,
        id: StageId,
        direction: Direction,
        depth: Depth,
    ) -> BTreeSet<StageId> {
        let dependents = match direction {
            Direction::Down => Some(self.dependents()),
            Direction::Up => None,
        };
        let next = |at: StageId| -> Vec<StageId> {
            match &dependents {
                Some(dependents) => dependents[at.index()].clone(),
                None => self.node(at).inputs.clone(),
            }
        };
        let mut found = BTreeSet::new();
        let mut frontier = VecDeque::from([(id, 0usize)]);
        while let Some((at, steps)) = frontier.pop_front() {
            if !depth.allows(steps + 1) {
                continue;
            }
            for other in next(at) {
                if found.insert(other) {
                    frontier.push_back((other, steps + 1));
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests;
