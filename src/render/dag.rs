//! The pipeline graph for documentation: a Mermaid flowchart, or Graphviz's DOT.

use std::fmt::Write as _;

use crate::graph::{Graph, StageKind};

/// The graph as a Mermaid flowchart: sources as cylinders, exports as parallelograms.
pub(crate) fn mermaid(graph: &Graph) -> String {
    let mut out = String::from("flowchart LR\n");
    for id in graph.in_order() {
        let node = graph.node(id);
        let shape = match node.kind {
            StageKind::Source => format!("[({})]", node.name),
            StageKind::Model => format!("[{}]", node.name),
            StageKind::Export => format!("[/{}/]", node.name),
        };
        let _ = writeln!(out, "    {}{shape}", node.name);
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(out, "    {from} --> {to}");
    }
    out
}

/// The graph in Graphviz's DOT language.
pub(crate) fn dot(graph: &Graph) -> String {
    let mut out =
        String::from("digraph winebuild {\n    rankdir=LR;\n    node [fontname=\"Helvetica\"];\n");
    for id in graph.in_order() {
        let node = graph.node(id);
        let shape = match node.kind {
            StageKind::Source => "cylinder",
            StageKind::Model => "box",
            StageKind::Export => "note",
        };
        let _ = writeln!(out, "    \"{}\" [shape={shape}];", node.name);
    }
    for (from, to) in graph.edges() {
        let _ = writeln!(out, "    \"{from}\" -> \"{to}\";");
    }
    out.push_str("}\n");
    out
}
