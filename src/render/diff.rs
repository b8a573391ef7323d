//! `winebuild diff` for people: a table for a terminal, Markdown for a pull request or an
//! e-mail. Both say the same things in the same order; figures are worded once
//! ([`TotalChange::figures`]).

use crate::diff::{ComparedAs, DiffReport, ModelDiff, ModelStatus, Summary, TotalChange};
use crate::text::{french_money, plural, round6};
use std::fmt::Write as _;

/// A figure for people: French money when `money`, else as short as exact.
fn figure(value: f64, money: bool) -> String {
    if money {
        format!("{} €", french_money(value))
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{}", round6(value))
    }
}

fn signed(value: f64, money: bool) -> String {
    if value > 0.0 {
        format!("+{}", figure(value, money))
    } else {
        figure(value, money)
    }
}

fn optional(value: Option<f64>, money: bool) -> String {
    value.map_or("—".into(), |v| figure(v, money))
}

impl ModelDiff {
    pub(crate) fn rows_text(&self) -> String {
        match (self.rows_before, self.rows_after) {
            (Some(b), Some(a)) if b == a => plural(a, "row"),
            (Some(b), Some(a)) => format!("{b} → {a} rows"),
            (Some(b), None) => plural(b, "row"),
            (None, Some(a)) => plural(a, "row"),
            (None, None) => String::new(),
        }
    }

    pub(crate) fn headline(&self) -> String {
        let matched = if self.compared_as == ComparedAs::Multiset {
            "as a multiset of rows".to_string()
        } else {
            format!("by {}", self.key.join(", "))
        };
        match self.status {
            ModelStatus::Unchanged => format!("unchanged, {}", self.rows_text()),
            ModelStatus::Added => format!("new model, {}", self.rows_text()),
            ModelStatus::Removed => format!("model gone, it had {}", self.rows_text()),
            ModelStatus::Changed => format!(
                "{}; {} added, {} removed, {} changed ({matched})",
                self.rows_text(),
                self.added,
                self.removed,
                self.changed
            ),
        }
    }

    pub(crate) fn schema_lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for c in &self.columns_added {
            if self.status == ModelStatus::Changed {
                lines.push(format!("+ column {} ({})", c.name, c.data_type));
            }
        }
        for c in &self.columns_removed {
            if self.status == ModelStatus::Changed {
                lines.push(format!("- column {} ({})", c.name, c.data_type));
            }
        }
        for r in &self.columns_retyped {
            lines.push(format!("~ column {}: {} → {}", r.column, r.before, r.after));
        }
        lines
    }

    pub(crate) fn sums_text(&self) -> Option<String> {
        let moved: Vec<String> = self
            .sums
            .iter()
            .filter(|s| s.before != s.after)
            .map(|s| {
                format!(
                    "{} {} → {}",
                    s.column,
                    optional(s.before, false),
                    optional(s.after, false)
                )
            })
            .collect();
        (!moved.is_empty()).then(|| moved.join("; "))
    }
}

impl TotalChange {
    /// `70 568,60 € → 108 816,90 € (+38 248,30 €, +54.2 %)`, as every format shows it.
    pub(crate) fn figures(&self) -> String {
        let mut text = format!(
            "{} → {}",
            optional(self.before, self.money),
            optional(self.after, self.money)
        );
        if let Some(change) = self.change {
            let _ = write!(text, " ({}", signed(change, self.money));
            if let Some(percent) = self.percent {
                let _ = write!(text, ", {percent:+.1} %");
            }
            text.push(')');
        }
        text
    }
}

/// The report as text for a terminal.
pub(crate) fn table(report: &DiffReport) -> String {
    let mut out = format!("{} → {}\n", report.from, report.to);
    let summary = &report.summary;
    if let Some(total) = &summary.total {
        let _ = write!(out, "\n{}: {}\n", total.label, total.figures());
    }
    for list in &summary.lists {
        let _ = writeln!(
            out,
            "{}: {} in, {} out",
            list.label,
            list.entering.len(),
            list.leaving.len()
        );
        for name in &list.entering {
            let _ = writeln!(out, "  + {name}");
        }
        for name in &list.leaving {
            let _ = writeln!(out, "  - {name}");
        }
    }
    if let Some(movers) = &summary.movers
        && !movers.rows.is_empty()
    {
        let _ = writeln!(out, "{}:", movers.label);
        for m in &movers.rows {
            let _ = writeln!(
                out,
                "  {}: {} → {} ({})",
                m.name,
                figure(m.before, movers.money),
                figure(m.after, movers.money),
                signed(m.change, movers.money)
            );
        }
    }
    out.push_str("\nmodels:\n");
    let width = report
        .models
        .iter()
        .map(|m| m.model.len())
        .max()
        .unwrap_or(0);
    for model in &report.models {
        let _ = writeln!(out, "  {:<width$}  {}", model.model, model.headline());
        let indent = " ".repeat(width + 4);
        for line in model.details() {
            let _ = writeln!(out, "{indent}{line}");
        }
    }
    out
}

impl ModelDiff {
    /// What changed, line by line, below the headline: schema, changed values with examples,
    /// rows added (`+`) and removed (`-`), sums.
    pub(crate) fn details(&self) -> Vec<String> {
        let mut lines = self.schema_lines();
        if !self.column_changes.is_empty() {
            let columns: Vec<String> = self
                .column_changes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            lines.push(format!("changed values: {}", columns.join(", ")));
        }
        for e in &self.examples {
            lines.push(format!(
                "  {}  {}: {} → {}",
                e.key, e.column, e.before, e.after
            ));
        }
        for added in &self.added_examples {
            lines.push(format!("  + {added}"));
        }
        for removed in &self.removed_examples {
            lines.push(format!("  - {removed}"));
        }
        if let Some(sums) = self.sums_text() {
            lines.push(format!("sums: {sums}"));
        }
        lines
    }
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The report as Markdown, for a pull request or an e-mail.
pub(crate) fn markdown(report: &DiffReport) -> String {
    let mut out = format!("# {} → {}\n\n", report.from, report.to);
    out.push_str(&summary_markdown(&report.summary));
    out.push_str("## Models\n\n| model | status | rows before | rows after | added | removed | changed |\n|---|---|---:|---:|---:|---:|---:|\n");
    let count = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
    for m in &report.models {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            m.model,
            m.status,
            count(m.rows_before),
            count(m.rows_after),
            m.added,
            m.removed,
            m.changed
        );
    }
    for m in report
        .models
        .iter()
        .filter(|m| m.status == ModelStatus::Changed)
    {
        out.push_str(&model_markdown(m));
    }
    out
}

/// The business summary as Markdown (nothing when `[summary]` asks for nothing).
fn summary_markdown(summary: &Summary) -> String {
    let mut out = String::new();
    if summary.total.is_some() || !summary.lists.is_empty() || summary.movers.is_some() {
        out.push_str("## Summary\n\n");
    }
    if let Some(total) = &summary.total {
        let _ = write!(out, "**{}**: {}\n\n", total.label, total.figures());
    }
    for list in &summary.lists {
        let _ = write!(
            out,
            "**{}**: {} in, {} out\n\n",
            list.label,
            list.entering.len(),
            list.leaving.len()
        );
        for name in &list.entering {
            let _ = writeln!(out, "- ➕ {}", md_escape(name));
        }
        for name in &list.leaving {
            let _ = writeln!(out, "- ➖ {}", md_escape(name));
        }
        if !list.entering.is_empty() || !list.leaving.is_empty() {
            out.push('\n');
        }
    }
    if let Some(movers) = &summary.movers
        && !movers.rows.is_empty()
    {
        let _ = write!(
            out,
            "**{}**\n\n| | before | after | change |\n|---|---:|---:|---:|\n",
            movers.label
        );
        for m in &movers.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_escape(&m.name),
                figure(m.before, movers.money),
                figure(m.after, movers.money),
                signed(m.change, movers.money)
            );
        }
        out.push('\n');
    }
    out
}

/// One changed model as Markdown: its headline, schema changes, examples and sums.
fn model_markdown(m: &ModelDiff) -> String {
    let mut out = format!("\n### {}\n\n{}\n", m.model, m.headline());
    let schema = m.schema_lines();
    if !schema.is_empty() {
        out.push('\n');
        for line in schema {
            let _ = writeln!(out, "- `{line}`");
        }
    }
    if !m.examples.is_empty() {
        out.push_str("\n| row | column | before | after |\n|---|---|---|---|\n");
        for e in &m.examples {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                md_escape(&e.key),
                e.column,
                md_escape(&e.before),
                md_escape(&e.after)
            );
        }
    }
    if let Some(sums) = m.sums_text() {
        let _ = write!(out, "\nSums: {}\n", md_escape(&sums));
    }
    out
}
