//! `winebuild diff` for people: a table for a terminal, Markdown for a pull request or an
//! e-mail. Both say the same things in the same order; figures are worded once
//! ([`TotalChange::figures`]).

use crate::diff::{ComparedAs, DiffReport, ModelDiff, ModelStatus, Summary, TotalChange};
use crate::text::{french_money, plural, round6};

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
    pub fn rows_text(&self) -> String {
        match (self.rows_before, self.rows_after) {
            (Some(b), Some(a)) if b == a => plural(a, "row"),
            (Some(b), Some(a)) => format!("{b} → {a} rows"),
            (Some(b), None) => plural(b, "row"),
            (None, Some(a)) => plural(a, "row"),
            (None, None) => String::new(),
        }
    }

    pub fn headline(&self) -> String {
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

    pub fn schema_lines(&self) -> Vec<String> {
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

    pub fn sums_text(&self) -> Option<String> {
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
    pub fn figures(&self) -> String {
        let mut text = format!(
            "{} → {}",
            optional(self.before, self.money),
            optional(self.after, self.money)
        );
        if let Some(change) = self.change {
            text.push_str(&format!(" ({}", signed(change, self.money)));
            if let Some(percent) = self.percent {
                text.push_str(&format!(", {percent:+.1} %"));
            }
            text.push(')');
        }
        text
    }
}

/// The report as text for a terminal.
pub fn table(report: &DiffReport) -> String {
    let mut out = format!("{} → {}\n", report.from, report.to);
    let summary = &report.summary;
    if let Some(total) = &summary.total {
        out.push_str(&format!("\n{}: {}\n", total.label, total.figures()));
    }
    for list in &summary.lists {
        out.push_str(&format!(
            "{}: {} in, {} out\n",
            list.label,
            list.entering.len(),
            list.leaving.len()
        ));
        for name in &list.entering {
            out.push_str(&format!("  + {name}\n"));
        }
        for name in &list.leaving {
            out.push_str(&format!("  - {name}\n"));
        }
    }
    if let Some(movers) = &summary.movers
        && !movers.rows.is_empty()
    {
        out.push_str(&format!("{}:\n", movers.label));
        for m in &movers.rows {
            out.push_str(&format!(
                "  {}: {} → {} ({})\n",
                m.name,
                figure(m.before, movers.money),
                figure(m.after, movers.money),
                signed(m.change, movers.money)
            ));
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
        out.push_str(&format!(
            "  {:<width$}  {}\n",
            model.model,
            model.headline()
        ));
        let indent = " ".repeat(width + 4);
        for line in model.schema_lines() {
            out.push_str(&format!("{indent}{line}\n"));
        }
        if !model.column_changes.is_empty() {
            let columns: Vec<String> = model
                .column_changes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect();
            out.push_str(&format!("{indent}changed values: {}\n", columns.join(", ")));
        }
        for e in &model.examples {
            out.push_str(&format!(
                "{indent}  {}  {}: {} → {}\n",
                e.key, e.column, e.before, e.after
            ));
        }
        for added in &model.added_examples {
            out.push_str(&format!("{indent}  + {added}\n"));
        }
        for removed in &model.removed_examples {
            out.push_str(&format!("{indent}  - {removed}\n"));
        }
        if let Some(sums) = model.sums_text() {
            out.push_str(&format!("{indent}sums: {sums}\n"));
        }
    }
    out
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|")
}

/// The report as Markdown, for a pull request or an e-mail.
pub fn markdown(report: &DiffReport) -> String {
    let mut out = format!("# {} → {}\n\n", report.from, report.to);
    out.push_str(&summary_markdown(&report.summary));
    out.push_str("## Models\n\n| model | status | rows before | rows after | added | removed | changed |\n|---|---|---:|---:|---:|---:|---:|\n");
    let count = |v: Option<u64>| v.map_or("—".to_string(), |v| v.to_string());
    for m in &report.models {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            m.model,
            m.status,
            count(m.rows_before),
            count(m.rows_after),
            m.added,
            m.removed,
            m.changed
        ));
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
        out.push_str(&format!("**{}**: {}\n\n", total.label, total.figures()));
    }
    for list in &summary.lists {
        out.push_str(&format!(
            "**{}**: {} in, {} out\n\n",
            list.label,
            list.entering.len(),
            list.leaving.len()
        ));
        for name in &list.entering {
            out.push_str(&format!("- ➕ {}\n", md_escape(name)));
        }
        for name in &list.leaving {
            out.push_str(&format!("- ➖ {}\n", md_escape(name)));
        }
        if !list.entering.is_empty() || !list.leaving.is_empty() {
            out.push('\n');
        }
    }
    if let Some(movers) = &summary.movers
        && !movers.rows.is_empty()
    {
        out.push_str(&format!(
            "**{}**\n\n| | before | after | change |\n|---|---:|---:|---:|\n",
            movers.label
        ));
        for m in &movers.rows {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                md_escape(&m.name),
                figure(m.before, movers.money),
                figure(m.after, movers.money),
                signed(m.change, movers.money)
            ));
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
            out.push_str(&format!("- `{line}`\n"));
        }
    }
    if !m.examples.is_empty() {
        out.push_str("\n| row | column | before | after |\n|---|---|---|---|\n");
        for e in &m.examples {
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                md_escape(&e.key),
                e.column,
                md_escape(&e.before),
                md_escape(&e.after)
            ));
        }
    }
    if let Some(sums) = m.sums_text() {
        out.push_str(&format!("\nSums: {}\n", md_escape(&sums)));
    }
    out
}
