//! `winebuild report`: one self-contained HTML page per month with the DAG coloured by status,
//! a Gantt chart of the last build, the checks, and the summary of the diff against the previous
//! archived month.
//!
//! Rules it keeps: the page needs no network (inline SVG, CSS and script, no fonts or libraries
//! fetched); it is drawn from the run record and the graph, so it shows what the build did, not
//! what a new one would do; every user-supplied string is HTML-escaped; the script only adds
//! highlighting, and records any error it meets in `data-console-errors` so a test can see it.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use crate::build::StageOutcome;
use crate::diff::DiffReport;
use crate::graph::{Graph, StageKind};
use crate::project::Project;
use crate::runs::RunRecord;
use crate::text::duration;

const NODE_WIDTH: f64 = 150.0;
const NODE_HEIGHT: f64 = 40.0;
const COLUMN: f64 = 200.0;
const ROW: f64 = 56.0;
const MARGIN: f64 = 20.0;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub(crate) fn render(
    project: &Project,
    graph: &Graph,
    run: &RunRecord,
    diff: Option<&Result<DiffReport, String>>,
) -> String {
    let month = run.month.to_string();
    let status = run.status.to_string();
    let stages: BTreeMap<&str, &StageOutcome> =
        run.stages.iter().map(|s| (s.stage.as_str(), s)).collect();
    let mut page = String::new();
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{project} — {month}</title>
<style>{STYLE}</style>
</head>
<body data-console-errors="0">
<header>
<h1>{project} — {month}</h1>
<p class="status status-{status}">build {status} · run {run_id} · started {started} · {duration}</p>
</header>
"#,
        project = escape(&project.name),
        month = escape(&month),
        status = escape(&status),
        run_id = escape(&run.run_id),
        started = escape(&run.started_at),
        duration = duration(run.duration_ms),
    );
    page.push_str("<section><h2>Pipeline</h2>\n");
    page.push_str(&dag_svg(graph, &stages));
    page.push_str(LEGEND);
    page.push_str("</section>\n<section><h2>Timeline</h2>\n");
    page.push_str(&gantt_svg(&stages, run.duration_ms));
    page.push_str("</section>\n<section><h2>Checks</h2>\n");
    page.push_str(&checks_table(run));
    page.push_str("</section>\n");
    match diff {
        Some(Ok(diff)) => page.push_str(&diff_section(diff)),
        Some(Err(error)) => {
            let _ = writeln!(
                page,
                "<section id=\"diff\"><h2>Compared with the previous month</h2><p class=\"error\">{}</p></section>",
                escape(error)
            );
        }
        None => {}
    }
    let _ = write!(page, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    page
}

fn action_of(stages: &BTreeMap<&str, &StageOutcome>, name: &str) -> String {
    stages
        .get(name)
        .map_or_else(|| "absent".into(), |s| s.action.to_string())
}

fn dag_svg(graph: &Graph, stages: &BTreeMap<&str, &StageOutcome>) -> String {
    let levels = graph.levels();
    let mut position: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
    let tallest = levels.iter().map(Vec::len).max().unwrap_or(1) as f64;
    for (level, ids) in levels.iter().enumerate() {
        // Centre each column vertically so edges stay short.
        let offset = (tallest - ids.len() as f64) * ROW / 2.0;
        for (row, &id) in ids.iter().enumerate() {
            let x = MARGIN + level as f64 * COLUMN;
            let y = MARGIN + offset + row as f64 * ROW;
            position.insert(graph.node(id).name.as_str(), (x, y));
        }
    }
    let width = MARGIN * 2.0 + (levels.len().max(1) - 1) as f64 * COLUMN + NODE_WIDTH;
    let height = MARGIN * 2.0 + (tallest - 1.0) * ROW + NODE_HEIGHT;
    let mut svg = format!(
        r##"<svg id="dag" role="img" aria-label="pipeline graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8f98"/></marker></defs>
"##
    );
    for (from, to) in graph.edges() {
        let (x1, y1) = position[from];
        let (x2, y2) = position[to];
        let (x1, y1, x2, y2) = (
            x1 + NODE_WIDTH,
            y1 + NODE_HEIGHT / 2.0,
            x2,
            y2 + NODE_HEIGHT / 2.0,
        );
        let _ = writeln!(
            svg,
            r#"<path class="edge" data-from="{from}" data-to="{to}" d="M {x1} {y1} C {c1} {y1}, {c2} {y2}, {x2} {y2}" marker-end="url(#arrow)"/>"#,
            c1 = x1 + 30.0,
            c2 = x2 - 30.0,
        );
    }
    for id in levels.iter().flatten() {
        let node = graph.node(*id);
        let name = node.name.as_str();
        let (x, y) = position[name];
        let action = action_of(stages, name);
        let stage = stages.get(name);
        let rows = stage
            .and_then(|s| s.rows)
            .map(|r| format!("{r} rows"))
            .unwrap_or_default();
        let reason = stage.map_or("not in this build", |s| s.reason.as_str());
        let on_cluster = stage.is_some_and(|s| s.engine == crate::cluster::Engine::Cluster);
        let _ = write!(
            svg,
            r#"<g class="node {kind} status-{action}{engine_class}" data-stage="{name}" transform="translate({x} {y})"><title>{name} ({kind}): {action}, {rows} — {reason}{engine}</title><rect width="{NODE_WIDTH}" height="{NODE_HEIGHT}" rx="{rx}"/><text x="8" y="16">{name}</text><text class="sub" x="8" y="31">{kind} · {action}{engine_sub}</text>"#,
            kind = node.kind,
            engine = stage.map_or("", |s| super::build::engine_tag(s.engine)),
            engine_class = if on_cluster { " engine-cluster" } else { "" },
            engine_sub = if on_cluster { " · cluster" } else { "" },
            rx = if node.kind == StageKind::Source {
                14
            } else {
                4
            },
            reason = escape(reason),
        );
        let checks = stage.map(|s| s.checks.as_slice()).unwrap_or_default();
        for (i, check) in checks.iter().enumerate() {
            let _ = write!(
                svg,
                r#"<circle class="check check-{status}" cx="{cx}" cy="{cy}" r="4"><title>{name}: {status} — {message}</title></circle>"#,
                status = check.status,
                cx = NODE_WIDTH - 8.0 - (i % 8) as f64 * 10.0,
                cy = 9.0 + (i / 8) as f64 * 10.0,
                name = escape(&check.check),
                message = escape(&check.message),
            );
        }
        svg.push_str("</g>\n");
    }
    svg.push_str("</svg>\n");
    svg
}

fn gantt_svg(stages: &BTreeMap<&str, &StageOutcome>, total_ms: f64) -> String {
    let mut bars: Vec<&StageOutcome> = stages.values().copied().collect();
    bars.sort_by(|a, b| {
        a.started_ms
            .total_cmp(&b.started_ms)
            .then_with(|| a.stage.cmp(&b.stage))
    });
    let end = bars
        .iter()
        .map(|b| b.started_ms + b.duration_ms)
        .fold(total_ms, f64::max)
        .max(1.0);
    let (label, chart, bar) = (170.0, 760.0, 18.0);
    let width = label + chart + 80.0;
    let height = 40.0 + bars.len() as f64 * (bar + 6.0);
    let scale = |ms: f64| label + ms / end * chart;
    let mut svg = format!(
        r#"<svg id="gantt" role="img" aria-label="build timeline" viewBox="0 0 {width} {height}" width="{width}" height="{height}">
"#
    );
    for tick in 0..=4 {
        let ms = end * f64::from(tick) / 4.0;
        let x = scale(ms);
        let _ = writeln!(
            svg,
            r#"<line class="tick" x1="{x}" y1="22" x2="{x}" y2="{height}"/><text class="axis" x="{x}" y="14" text-anchor="middle">{}</text>"#,
            duration(ms)
        );
    }
    for (i, stage) in bars.iter().enumerate() {
        let y = 28.0 + i as f64 * (bar + 6.0);
        let start = stage.started_ms;
        let took = stage.duration_ms;
        let name = escape(&stage.stage);
        let action = stage.action;
        let _ = writeln!(
            svg,
            r#"<g class="bar status-{action}" data-stage="{name}"><title>{name}: {action}{engine}, starts at {start_text}, takes {duration_text}</title><text class="label" x="{lx}" y="{ty}" text-anchor="end">{name}</text><rect x="{x}" y="{y}" width="{w}" height="{bar}" rx="3"/><text class="axis" x="{tx}" y="{ty}">{duration_text}</text></g>"#,
            engine = super::build::engine_tag(stage.engine),
            start_text = duration(start),
            duration_text = duration(took),
            lx = label - 8.0,
            ty = y + 13.0,
            x = scale(start),
            w = (took / end * chart).max(2.0),
            tx = scale(start) + (took / end * chart).max(2.0) + 6.0,
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn checks_table(run: &RunRecord) -> String {
    let checks: Vec<_> = run.checks().collect();
    if checks.is_empty() {
        return "<p>No check ran in this build.</p>\n".into();
    }
    let mut table = String::from(
        "<table id=\"checks\"><thead><tr><th>model</th><th>check</th><th>status</th><th>actual</th><th>expected</th><th>message</th></tr></thead><tbody>\n",
    );
    for check in checks {
        let value = |value: &Value| match value {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let examples: Vec<String> = check.examples.iter().map(|e| escape(e)).collect();
        let _ = writeln!(
            table,
            "<tr class=\"check-{status}\"><td>{model}</td><td>{name}</td><td>{status}</td><td>{actual}</td><td>{expected}</td><td>{message}{examples}</td></tr>",
            status = check.status,
            model = escape(&check.model),
            name = escape(&check.check),
            actual = escape(&value(&check.actual)),
            expected = escape(&value(&check.expected)),
            message = escape(&check.message),
            examples = if examples.is_empty() {
                String::new()
            } else {
                format!(
                    "<ul class=\"examples\"><li>{}</li></ul>",
                    examples.join("</li><li>")
                )
            },
        );
    }
    table.push_str("</tbody></table>\n");
    table
}

fn diff_section(diff: &DiffReport) -> String {
    let mut html = format!(
        "<section id=\"diff\"><h2>Compared with {}</h2>\n",
        escape(&diff.from)
    );
    let summary = &diff.summary;
    if let Some(total) = &summary.total {
        let _ = writeln!(
            html,
            "<p class=\"total\"><strong>{}</strong>: {}</p>",
            escape(&total.label),
            escape(&total.figures())
        );
    }
    for list in &summary.lists {
        let _ = writeln!(
            html,
            "<h3>{}: {} in, {} out</h3><ul>",
            escape(&list.label),
            list.entering.len(),
            list.leaving.len()
        );
        for name in &list.entering {
            let _ = writeln!(html, "<li class=\"in\">+ {}</li>", escape(name));
        }
        for name in &list.leaving {
            let _ = writeln!(html, "<li class=\"out\">− {}</li>", escape(name));
        }
        html.push_str("</ul>\n");
    }
    html.push_str("<table><thead><tr><th>model</th><th>rows before</th><th>rows after</th><th>added</th><th>removed</th><th>changed</th></tr></thead><tbody>\n");
    for model in &diff.models {
        let rows = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&model.model),
            rows(model.rows_before),
            rows(model.rows_after),
            model.added,
            model.removed,
            model.changed
        );
    }
    html.push_str("</tbody></table></section>\n");
    html
}

const LEGEND: &str = r#"<p class="legend"><span class="key status-ran">ran</span><span class="key status-reused">reused</span><span class="key status-fetched">fetched</span><span class="key status-failed">failed</span><span class="key status-skipped">skipped</span> · check dots: <span class="dot check-pass"></span>pass <span class="dot check-warn"></span>warn <span class="dot check-fail"></span>fail <span class="dot check-skipped"></span>skipped</p>
"#;

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1f2328; }
h1 { margin-bottom: 4px; } h2 { margin-top: 28px; border-bottom: 1px solid #d0d7de; }
.status { color: #57606a; } .status-success { color: #1a7f37; } .status-failed, .status-checks_failed { color: #cf222e; }
svg { display: block; max-width: 100%; height: auto; }
.edge { fill: none; stroke: #8a8f98; stroke-width: 1.4; }
.edge.lit { stroke: #0969da; stroke-width: 2.4; }
.node rect { stroke: #57606a; stroke-width: 1; }
.node text { font-size: 12px; fill: #fff; font-weight: 600; } .node text.sub { font-weight: 400; font-size: 10px; }
.node.export rect { stroke-dasharray: 4 2; }
.node.dim { opacity: 0.3; }
.status-ran rect, .key.status-ran { fill: #1a7f37; background: #1a7f37; }
.status-reused rect, .key.status-reused { fill: #0969da; background: #0969da; }
.status-fetched rect, .key.status-fetched { fill: #8250df; background: #8250df; }
.status-failed rect, .key.status-failed { fill: #cf222e; background: #cf222e; }
.status-skipped rect, .status-absent rect, .key.status-skipped { fill: #8c959f; background: #8c959f; }
.check { stroke: #fff; stroke-width: 1; }
circle.check-pass, .dot.check-pass { fill: #2da44e; background: #2da44e; }
circle.check-warn, .dot.check-warn { fill: #d4a72c; background: #d4a72c; }
circle.check-fail, .dot.check-fail { fill: #ff8182; background: #ff8182; }
circle.check-skipped, .dot.check-skipped { fill: #d0d7de; background: #d0d7de; }
.error { color: #cf222e; }
.legend .key { color: #fff; padding: 1px 6px; border-radius: 3px; margin-right: 6px; font-size: 12px; }
.legend .dot { display: inline-block; width: 9px; height: 9px; border-radius: 50%; margin: 0 3px 0 8px; }
.tick { stroke: #d0d7de; } .axis { font-size: 11px; fill: #57606a; } .label { font-size: 12px; fill: #1f2328; }
.bar.lit rect { stroke: #1f2328; stroke-width: 2; }
table { border-collapse: collapse; font-size: 13px; } th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
tr.check-fail td { background: #ffebe9; } tr.check-warn td { background: #fff8c5; }
.examples { margin: 4px 0 0; padding-left: 18px; color: #57606a; font-size: 12px; }
li.in { color: #1a7f37; } li.out { color: #cf222e; }
"#;

const SCRIPT: &str = r"
(function () {
  var body = document.body;
  function countError() { body.dataset.consoleErrors = String(Number(body.dataset.consoleErrors || 0) + 1); }
  window.addEventListener('error', countError);
  var originalError = console.error;
  console.error = function () { countError(); return originalError.apply(console, arguments); };
  var edges = Array.prototype.slice.call(document.querySelectorAll('#dag .edge'));
  var nodes = Array.prototype.slice.call(document.querySelectorAll('#dag .node'));
  function related(name) {
    var found = {}; found[name] = true;
    [['data-to', 'data-from'], ['data-from', 'data-to']].forEach(function (dir) {
      var frontier = [name];
      while (frontier.length) {
        var current = frontier.pop();
        edges.forEach(function (e) {
          if (e.getAttribute(dir[0]) === current && !found[e.getAttribute(dir[1])]) {
            found[e.getAttribute(dir[1])] = true; frontier.push(e.getAttribute(dir[1]));
          }
        });
      }
    });
    return found;
  }
  function highlight(name) {
    var keep = name ? related(name) : null;
    nodes.forEach(function (n) { n.classList.toggle('dim', !!keep && !keep[n.dataset.stage]); });
    edges.forEach(function (e) {
      e.classList.toggle('lit', !!keep && keep[e.getAttribute('data-from')] && keep[e.getAttribute('data-to')]);
    });
    document.querySelectorAll('#gantt .bar').forEach(function (b) { b.classList.toggle('lit', b.dataset.stage === name); });
  }
  nodes.forEach(function (n) {
    n.addEventListener('mouseenter', function () { highlight(n.dataset.stage); });
    n.addEventListener('mouseleave', function () { highlight(null); });
  });
  document.querySelectorAll('#gantt .bar').forEach(function (b) {
    b.addEventListener('mouseenter', function () { highlight(b.dataset.stage); });
    b.addEventListener('mouseleave', function () { highlight(null); });
  });
  body.dataset.rendered = 'yes';
})();
";
