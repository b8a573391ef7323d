//! The stage graph: sources, models and exports as a DAG, its order, and dbt's selection
//! grammar over it (`select`).
//!
//! Rules it keeps:
//! - a cycle is an error that spells the whole cycle (`a → b → a`);
//! - [`Graph::levels`] is deterministic: stages of one level are sorted by name, so printed output
//!   and run records do not depend on hash order or thread timing;
//! - selection never invents stages: an unknown name is an error with a suggestion ([`select`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Hint;
use crate::project::Project;

mod select;

pub(crate) use select::{Facts, RunResult, SelectError, Selector, StateMethod};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StageKind {
    Source,
    Model,
    Export,
}

impl std::fmt::Display for StageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StageKind::Source => "source",
            StageKind::Model => "model",
            StageKind::Export => "export",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum GraphError {
    #[error("models form a cycle: {}", cycle.join(" → "))]
    Cycle { cycle: Vec<String> },
}

impl Hint for GraphError {
    fn hint(&self) -> Option<String> {
        match self {
            GraphError::Cycle { .. } => {
                Some("remove one of these inputs so that no model depends on itself".into())
            }
        }
    }
}

/// A stage's place in the graph: an index into [`Graph::nodes`], valid for that graph only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct StageId(pub(crate) usize);

impl StageId {
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) kind: StageKind,
    /// The stages this one reads, in declaration order.
    pub(crate) inputs: Vec<StageId>,
}

#[derive(Debug, Clone)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    index: BTreeMap<String, StageId>,
}

impl Graph {
    /// Builds the graph of a validated project (inputs are known to exist).
    pub(crate) fn new(project: &Project) -> Result<Graph, GraphError> {
        let mut named: Vec<(String, StageKind, Vec<String>)> = Vec::new();
        for name in project.sources.keys() {
            named.push((name.clone(), StageKind::Source, Vec::new()));
        }
        for (name, model) in &project.models {
            named.push((name.clone(), StageKind::Model, model.inputs.clone()));
        }
        for (name, export) in &project.exports {
            named.push((name.clone(), StageKind::Export, export.inputs()));
        }
        let index: BTreeMap<String, StageId> = named
            .iter()
            .enumerate()
            .map(|(i, (name, _, _))| (name.clone(), StageId(i)))
            .collect();
        let nodes = named
            .into_iter()
            .map(|(name, kind, inputs)| Node {
                name,
                kind,
                inputs: inputs
                    .iter()
                    .filter_map(|i| index.get(i).copied())
                    .collect(),
            })
            .collect();
        let graph = Graph { nodes, index };
        graph.check_acyclic()?;
        Ok(graph)
    }

    pub(crate) fn id(&self, name: &str) -> Option<StageId> {
        self.index.get(name).copied()
    }

    pub(crate) fn node(&self, id: StageId) -> &Node {
        &self.nodes[id.0]
    }

    /// Every stage, in index order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = StageId> + use<> {
        (0..self.nodes.len()).map(StageId)
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn name(&self, id: StageId) -> &str {
        &self.nodes[id.0].name
    }

    fn check_acyclic(&self) -> Result<(), GraphError> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            OnPath,
            Done,
        }
        fn visit(
            graph: &Graph,
            id: StageId,
            marks: &mut [Mark],
            path: &mut Vec<StageId>,
        ) -> Result<(), GraphError> {
            match marks[id.0] {
                Mark::Done => return Ok(()),
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == id).unwrap_or(0);
                    let mut cycle: Vec<String> = path[start..]
                        .iter()
                        .map(|&p| graph.name(p).to_string())
                        .collect();
                    cycle.push(graph.name(id).to_string());
                    return Err(GraphError::Cycle { cycle });
                }
                Mark::New => {}
            }
            marks[id.0] = Mark::OnPath;
            path.push(id);
            for &input in &graph.node(id).inputs {
                visit(graph, input, marks, path)?;
            }
            path.pop();
            marks[id.0] = Mark::Done;
            Ok(())
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for id in self.ids() {
            visit(self, id, &mut marks, &mut Vec::new())?;
        }
        Ok(())
    }

    /// Stages grouped so that every stage comes after all its inputs; each level sorted by name.
    pub(crate) fn levels(&self) -> Vec<Vec<StageId>> {
        fn depth_of(graph: &Graph, id: StageId, depth: &mut [Option<usize>]) -> usize {
            if let Some(d) = depth[id.0] {
                return d;
            }
            let d = graph
                .node(id)
                .inputs
                .iter()
                .map(|&i| depth_of(graph, i, depth) + 1)
                .max()
                .unwrap_or(0);
            depth[id.0] = Some(d);
            d
        }
        let mut depth = vec![None; self.nodes.len()];
        let depths: Vec<usize> = self
            .ids()
            .map(|id| depth_of(self, id, &mut depth))
            .collect();
        let levels_count = depths.iter().max().map_or(0, |max| max + 1);
        let mut levels = vec![Vec::new(); levels_count];
        for (id, d) in self.ids().zip(depths) {
            levels[d].push(id);
        }
        for level in &mut levels {
            level.sort_by(|a, b| self.name(*a).cmp(self.name(*b)));
        }
        levels
    }

    /// Every stage in level order: each after all its inputs, deterministically.
    pub(crate) fn in_order(&self) -> Vec<StageId> {
        self.levels().into_iter().flatten().collect()
    }

    /// The stages that read each stage, by index.
    pub(crate) fn dependents(&self) -> Vec<Vec<StageId>> {
        let mut dependents = vec![Vec::new(); self.nodes.len()];
        for id in self.ids() {
            for &input in &self.node(id).inputs {
                dependents[input.0].push(id);
            }
        }
        dependents
    }

    /// Every `input → stage` edge, in level order, then by input name.
    pub(crate) fn edges(&self) -> Vec<(&str, &str)> {
        let mut edges = Vec::new();
        for id in self.in_order() {
            let node = self.node(id);
            let mut inputs: Vec<&str> = node.inputs.iter().map(|&i| self.name(i)).collect();
            inputs.sort_unstable();
            for input in inputs {
                edges.push((input, node.name.as_str()));
            }
        }
        edges
    }
}
