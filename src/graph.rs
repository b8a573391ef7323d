//! The stage graph: sources, models and exports as a DAG, its order and dbt-style selection.
//!
//! Rules it keeps:
//! - a cycle is an error that spells the whole cycle (`a → b → a`);
//! - [`Graph::levels`] is deterministic: stages of one level are sorted by name, so printed output
//!   and run records do not depend on hash order or thread timing;
//! - selection never invents stages: an unknown name is an error with a suggestion.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::project::{Project, closest};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageKind {
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
pub enum GraphError {
    #[error("models form a cycle: {}", cycle.join(" → "))]
    Cycle { cycle: Vec<String> },
    #[error("`--select {selector}`: no stage is named `{name}`")]
    UnknownSelection {
        selector: String,
        name: String,
        suggestion: Option<String>,
    },
}

impl GraphError {
    pub fn hint(&self) -> Option<String> {
        match self {
            GraphError::Cycle { .. } => {
                Some("remove one of these inputs so that no model depends on itself".into())
            }
            GraphError::UnknownSelection { suggestion, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "`winebuild plan` lists every stage".into(),
            }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub kind: StageKind,
    /// Indices of the stages this one reads, in declaration order.
    pub inputs: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: Vec<Node>,
    index: BTreeMap<String, usize>,
}

impl Graph {
    /// Builds the graph of a validated project (inputs are known to exist).
    pub fn new(project: &Project) -> Result<Graph, GraphError> {
        let mut named: Vec<(String, StageKind, Vec<String>)> = Vec::new();
        for name in project.sources.keys() {
            named.push((name.clone(), StageKind::Source, Vec::new()));
        }
        for (name, model) in &project.models {
            named.push((
                name.clone(),
                StageKind::Model,
                model.settings.inputs.clone(),
            ));
        }
        for (name, export) in &project.exports {
            named.push((name.clone(), StageKind::Export, export.inputs()));
        }
        let index: BTreeMap<String, usize> = named
            .iter()
            .enumerate()
            .map(|(i, (name, _, _))| (name.clone(), i))
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

    pub fn id(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    pub fn node(&self, id: usize) -> &Node {
        &self.nodes[id]
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
            id: usize,
            marks: &mut [Mark],
            path: &mut Vec<usize>,
        ) -> Result<(), GraphError> {
            match marks[id] {
                Mark::Done => return Ok(()),
                Mark::OnPath => {
                    let start = path.iter().position(|&p| p == id).unwrap_or(0);
                    let mut cycle: Vec<String> = path[start..]
                        .iter()
                        .map(|&p| graph.nodes[p].name.clone())
                        .collect();
                    cycle.push(graph.nodes[id].name.clone());
                    return Err(GraphError::Cycle { cycle });
                }
                Mark::New => {}
            }
            marks[id] = Mark::OnPath;
            path.push(id);
            for &input in &graph.nodes[id].inputs {
                visit(graph, input, marks, path)?;
            }
            path.pop();
            marks[id] = Mark::Done;
            Ok(())
        }
        let mut marks = vec![Mark::New; self.nodes.len()];
        for id in 0..self.nodes.len() {
            visit(self, id, &mut marks, &mut Vec::new())?;
        }
        Ok(())
    }

    /// Stages grouped so that every stage comes after all its inputs; each level sorted by name.
    pub fn levels(&self) -> Vec<Vec<usize>> {
        let mut depth = vec![0usize; self.nodes.len()];
        let mut done = vec![false; self.nodes.len()];
        fn depth_of(graph: &Graph, id: usize, depth: &mut [usize], done: &mut [bool]) -> usize {
            if !done[id] {
                let d = graph.nodes[id]
                    .inputs
                    .clone()
                    .into_iter()
                    .map(|i| depth_of(graph, i, depth, done) + 1)
                    .max()
                    .unwrap_or(0);
                depth[id] = d;
                done[id] = true;
            }
            depth[id]
        }
        for id in 0..self.nodes.len() {
            depth_of(self, id, &mut depth, &mut done);
        }
        let max = depth.iter().copied().max().unwrap_or(0);
        let mut levels = vec![Vec::new(); if self.nodes.is_empty() { 0 } else { max + 1 }];
        for (id, d) in depth.iter().enumerate() {
            levels[*d].push(id);
        }
        for level in &mut levels {
            level.sort_by(|a, b| self.nodes[*a].name.cmp(&self.nodes[*b].name));
        }
        levels
    }

    /// Every stage that reads `id`, directly or not.
    pub fn descendants(&self, id: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![id];
        while let Some(current) = frontier.pop() {
            for (other, node) in self.nodes.iter().enumerate() {
                if node.inputs.contains(&current) && found.insert(other) {
                    frontier.push(other);
                }
            }
        }
        found
    }

    /// Every stage `id` reads, directly or not.
    pub fn ancestors(&self, id: usize) -> BTreeSet<usize> {
        let mut found = BTreeSet::new();
        let mut frontier = vec![id];
        while let Some(current) = frontier.pop() {
            for &input in &self.nodes[current].inputs {
                if found.insert(input) {
                    frontier.push(input);
                }
            }
        }
        found
    }

    /// Resolves dbt-style selectors: `name`, `name+` (and its dependents), `+name` (and what it
    /// reads), `+name+`. Selectors may be separated by commas or spaces. No selector selects all.
    pub fn select(&self, selectors: &[String]) -> Result<BTreeSet<usize>, GraphError> {
        let parts: Vec<&str> = selectors
            .iter()
            .flat_map(|s| s.split([',', ' ']))
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            return Ok((0..self.nodes.len()).collect());
        }
        let mut selected = BTreeSet::new();
        for selector in parts {
            let upstream = selector.starts_with('+');
            let downstream = selector.ends_with('+') && selector.len() > 1;
            let name = selector.trim_start_matches('+').trim_end_matches('+');
            let id = self.id(name).ok_or_else(|| GraphError::UnknownSelection {
                selector: selector.to_string(),
                name: name.to_string(),
                suggestion: closest(name, self.index.keys()),
            })?;
            selected.insert(id);
            if upstream {
                selected.extend(self.ancestors(id));
            }
            if downstream {
                selected.extend(self.descendants(id));
            }
        }
        Ok(selected)
    }
}

impl Graph {
    /// The graph as a Mermaid flowchart: sources as cylinders, exports as parallelograms.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for id in self.levels().into_iter().flatten() {
            let node = &self.nodes[id];
            let shape = match node.kind {
                StageKind::Source => format!("[({})]", node.name),
                StageKind::Model => format!("[{}]", node.name),
                StageKind::Export => format!("[/{}/]", node.name),
            };
            out.push_str(&format!("    {}{shape}\n", node.name));
        }
        for (from, to) in self.edges() {
            out.push_str(&format!("    {from} --> {to}\n"));
        }
        out
    }

    /// The graph in Graphviz's DOT language.
    pub fn to_dot(&self) -> String {
        let mut out = String::from(
            "digraph winebuild {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n",
        );
        for id in self.levels().into_iter().flatten() {
            let node = &self.nodes[id];
            let shape = match node.kind {
                StageKind::Source => "cylinder",
                StageKind::Model => "box",
                StageKind::Export => "note",
            };
            out.push_str(&format!("    \"{}\" [shape={shape}];\n", node.name));
        }
        for (from, to) in self.edges() {
            out.push_str(&format!("    \"{from}\" -> \"{to}\";\n"));
        }
        out.push_str("}\n");
        out
    }

    /// Every `input → stage` edge, in level order, then by input name.
    pub fn edges(&self) -> Vec<(&str, &str)> {
        let mut edges = Vec::new();
        for id in self.levels().into_iter().flatten() {
            let node = &self.nodes[id];
            let mut inputs: Vec<&str> = node
                .inputs
                .iter()
                .map(|&i| self.nodes[i].name.as_str())
                .collect();
            inputs.sort();
            for input in inputs {
                edges.push((input, node.name.as_str()));
            }
        }
        edges
    }
}
