//! `winebuild dag`: the pipeline graph as Mermaid, DOT or JSON.

use crate::build::ExitStatus;
use crate::cli::Error;
use crate::cli::args::{DagArgs, DagFormat};
use crate::cli::printer::Printer;
use crate::graph::Graph;
use crate::project::Project;
use crate::render;

pub(crate) fn run(
    project: &Project,
    args: &DagArgs,
    printer: &Printer,
) -> Result<ExitStatus, Error> {
    let graph = Graph::new(project)?;
    match args.format {
        DagFormat::Mermaid => printer.result(&render::dag::mermaid(&graph)),
        DagFormat::Dot => printer.result(&render::dag::dot(&graph)),
        DagFormat::Json => {
            let nodes: Vec<serde_json::Value> = graph
                .ids()
                .map(|id| {
                    let node = graph.node(id);
                    serde_json::json!({"stage": node.name, "kind": node.kind})
                })
                .collect();
            let edges: Vec<[&str; 2]> = graph.edges().into_iter().map(|(a, b)| [a, b]).collect();
            printer.json(&serde_json::json!({"nodes": nodes, "edges": edges}));
        }
    }
    Ok(ExitStatus::Success)
}
