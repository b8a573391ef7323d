//! Typed specs: what the raw configuration means, decided once when the project loads.
//!
//! Rules it keeps:
//! - one variant per kind, holding exactly the fields that kind uses: a consumer matches on the
//!   variant and never unwraps an optional field with a default;
//! - a raw entry that does not fit its kind (a missing field, a field of another kind) is an error
//!   naming the field and what the kind takes; the conversion is the only place that knows;
//! - [`CheckSpec::definition`] and [`ExportSpec::definition`] give back the raw form, which is what
//!   cache keys hash: reshaping the specs never changes a key.

use super::CheckKind;
use super::Severity;
use super::raw::{CheckDef, ExportDef, NotifyDef, NotifyKind, SheetDef};
use crate::text::quoted_list;

/// One data check of a model.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CheckSpec {
    /// Unique across the project; named in alerts and in `expect.toml`.
    pub(crate) name: String,
    pub(crate) severity: Severity,
    /// The alert shown when the check fails (see [`crate::checks::render_message`]).
    pub(crate) message: Option<String>,
    pub(crate) rule: CheckRule,
}

/// What a check verifies, by kind.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CheckRule {
    RowCount(RowCount),
    /// No two rows share the values of these columns.
    Unique {
        columns: Vec<String>,
    },
    /// No null in any of these columns.
    NotNull {
        columns: Vec<String>,
    },
    /// Every non-null value of `column` is one of `values`.
    AcceptedValues {
        column: String,
        values: Vec<toml::Value>,
    },
    /// Every non-null value of `column` exists in `to`.`field`.
    Relationships {
        column: String,
        to: String,
        field: String,
        /// Whether `field` was written or defaulted to `column` (for [`CheckSpec::definition`]).
        field_given: bool,
    },
    /// A boolean over aggregates of the model holds.
    Assert {
        condition: String,
    },
    /// An aggregate equals an expected figure within a tolerance.
    Compare {
        actual: String,
        expected: Expected,
        tolerance: Option<f64>,
    },
    /// A query returning the failing rows.
    Sql {
        sql: String,
    },
}

/// What a `row_count` check compares the row count with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RowCount {
    Equals(u64),
    Between {
        min: Option<u64>,
        max: Option<u64>,
    },
    SameAs(String),
    /// The month's `expect.toml` pins the figure.
    Pinned,
}

/// Where an `expression` check's expected figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expected {
    /// A SQL expression over the model and what it reads.
    Sql(String),
    /// The month's `expect.toml`.
    Pinned,
}

impl CheckSpec {
    pub(crate) fn kind(&self) -> CheckKind {
        match &self.rule {
            CheckRule::RowCount(_) => CheckKind::RowCount,
            CheckRule::Unique { .. } => CheckKind::Unique,
            CheckRule::NotNull { .. } => CheckKind::NotNull,
            CheckRule::AcceptedValues { .. } => CheckKind::AcceptedValues,
            CheckRule::Relationships { .. } => CheckKind::Relationships,
            CheckRule::Assert { .. } | CheckRule::Compare { .. } => CheckKind::Expression,
            CheckRule::Sql { .. } => CheckKind::Sql,
        }
    }

    /// True when the check takes its expected figure from the month's `expect.toml`.
    pub(crate) fn is_pinned(&self) -> bool {
        matches!(
            self.rule,
            CheckRule::RowCount(RowCount::Pinned)
                | CheckRule::Compare {
                    expected: Expected::Pinned,
                    ..
                }
        )
    }

    /// Other models this check reads by name (SQL checks name theirs in their query).
    pub(crate) fn named_models(&self) -> Vec<&String> {
        match &self.rule {
            CheckRule::RowCount(RowCount::SameAs(other)) => vec![other],
            CheckRule::Relationships { to, .. } => vec![to],
            _ => Vec::new(),
        }
    }

    /// The columns of its model the check names.
    pub(crate) fn columns(&self) -> Vec<&String> {
        match &self.rule {
            CheckRule::Unique { columns } | CheckRule::NotNull { columns } => {
                columns.iter().collect()
            }
            CheckRule::AcceptedValues { column, .. } | CheckRule::Relationships { column, .. } => {
                vec![column]
            }
            _ => Vec::new(),
        }
    }

    /// The check as it was written, which its cache key hashes.
    pub(crate) fn definition(&self) -> CheckDef {
        let mut def = CheckDef::bare(&self.name, self.kind(), self.severity);
        def.message.clone_from(&self.message);
        match &self.rule {
            CheckRule::RowCount(RowCount::Equals(n)) => def.equals = Some(*n),
            CheckRule::RowCount(RowCount::Between { min, max }) => {
                (def.min, def.max) = (*min, *max);
            }
            CheckRule::RowCount(RowCount::SameAs(other)) => def.same_as = Some(other.clone()),
            CheckRule::RowCount(RowCount::Pinned) => {}
            CheckRule::Unique { columns } | CheckRule::NotNull { columns } => {
                def.columns.clone_from(columns);
            }
            CheckRule::AcceptedValues { column, values } => {
                def.column = Some(column.clone());
                def.values.clone_from(values);
            }
            CheckRule::Relationships {
                column,
                to,
                field,
                field_given,
            } => {
                def.column = Some(column.clone());
                def.to = Some(to.clone());
                def.field = field_given.then(|| field.clone());
            }
            CheckRule::Assert { condition } => def.assert = Some(condition.clone()),
            CheckRule::Compare {
                actual,
                expected,
                tolerance,
            } => {
                def.actual = Some(actual.clone());
                if let Expected::Sql(sql) = expected {
                    def.expected = Some(sql.clone());
                }
                def.tolerance = *tolerance;
            }
            CheckRule::Sql { sql } => def.sql = Some(sql.clone()),
        }
        def
    }
}

/// The fields each kind requires and allows, in the words of the header.
fn fields_of(kind: CheckKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        CheckKind::RowCount => (&[], &["equals", "min", "max", "same_as"]),
        CheckKind::Unique | CheckKind::NotNull => (&["columns"], &["columns"]),
        CheckKind::AcceptedValues => (&["column", "values"], &["column", "values"]),
        CheckKind::Relationships => (&["column", "to"], &["column", "to", "field"]),
        CheckKind::Expression => (&[], &["assert", "actual", "expected", "tolerance"]),
        CheckKind::Sql => (&["sql"], &["sql"]),
    }
}

impl TryFrom<CheckDef> for CheckSpec {
    /// What is wrong with the entry, in words.
    type Error = String;

    fn try_from(def: CheckDef) -> Result<CheckSpec, String> {
        let (required, allowed) = fields_of(def.kind);
        let given = def.fields_given();
        if let Some((field, _)) = given.iter().find(|(f, set)| *set && !allowed.contains(f)) {
            return Err(format!(
                "`{field}` does not apply to a `{}` check (it takes {})",
                def.kind,
                quoted_list(allowed)
            ));
        }
        if let Some(field) = required
            .iter()
            .find(|field| !given.iter().any(|(f, set)| f == *field && *set))
        {
            return Err(format!("a `{}` check needs `{field}`", def.kind));
        }
        if def.tolerance.is_some_and(|t| t.is_nan() || t < 0.0) {
            return Err("`tolerance` must be zero or more".into());
        }
        let rule = rule_of(&def)?;
        Ok(CheckSpec {
            name: def.name,
            severity: def.severity,
            message: def.message,
            rule,
        })
    }
}

/// The rule of an entry whose fields fit its kind.
fn rule_of(def: &CheckDef) -> Result<CheckRule, String> {
    let text = |field: &Option<String>| field.clone().unwrap_or_default();
    Ok(match def.kind {
        CheckKind::RowCount => CheckRule::RowCount(row_count_of(def)?),
        CheckKind::Unique => CheckRule::Unique {
            columns: def.columns.clone(),
        },
        CheckKind::NotNull => CheckRule::NotNull {
            columns: def.columns.clone(),
        },
        CheckKind::AcceptedValues => CheckRule::AcceptedValues {
            column: text(&def.column),
            values: def.values.clone(),
        },
        CheckKind::Relationships => CheckRule::Relationships {
            field: def.field.clone().unwrap_or_else(|| text(&def.column)),
            field_given: def.field.is_some(),
            column: text(&def.column),
            to: text(&def.to),
        },
        CheckKind::Expression => expression_of(def)?,
        CheckKind::Sql => CheckRule::Sql {
            sql: text(&def.sql),
        },
    })
}

fn row_count_of(def: &CheckDef) -> Result<RowCount, String> {
    let bounds = def.min.is_some() || def.max.is_some();
    match (def.equals, &def.same_as, bounds) {
        (Some(_), Some(_), _) => Err("give either `equals` or `same_as`, not both".into()),
        (Some(_), None, true) | (None, Some(_), true) => Err(
            "give one of `equals`, `min`/`max` or `same_as`: they are different expectations"
                .into(),
        ),
        (Some(n), None, false) => Ok(RowCount::Equals(n)),
        (None, Some(other), false) => Ok(RowCount::SameAs(other.clone())),
        (None, None, true) => Ok(RowCount::Between {
            min: def.min,
            max: def.max,
        }),
        (None, None, false) => Ok(RowCount::Pinned),
    }
}

fn expression_of(def: &CheckDef) -> Result<CheckRule, String> {
    match (&def.assert, &def.actual) {
        (Some(_), _) if def.expected.is_some() || def.tolerance.is_some() => Err(
            "`assert` is a boolean on its own: drop `expected` and `tolerance`, or use `actual`"
                .into(),
        ),
        (Some(_), Some(_)) => Err("give either `assert` or `actual`, not both".into()),
        (Some(condition), None) => Ok(CheckRule::Assert {
            condition: condition.clone(),
        }),
        (None, Some(actual)) => Ok(CheckRule::Compare {
            actual: actual.clone(),
            expected: match &def.expected {
                Some(sql) => Expected::Sql(sql.clone()),
                None => Expected::Pinned,
            },
            tolerance: def.tolerance,
        }),
        (None, None) => Err(
            "an `expression` check needs `assert = \"<boolean>\"` or `actual = \"<aggregate>\"`"
                .into(),
        ),
    }
}

/// A file written to the month's output folder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExportSpec {
    /// One model as csv.
    Csv { file: String, model: String },
    /// One sheet per entry.
    Xlsx { file: String, sheets: Vec<SheetDef> },
}

impl ExportSpec {
    /// The file name, relative to the month's output folder.
    pub(crate) fn file(&self) -> &str {
        match self {
            ExportSpec::Csv { file, .. } | ExportSpec::Xlsx { file, .. } => file,
        }
    }

    /// The models this export reads, in declaration order.
    pub(crate) fn inputs(&self) -> Vec<String> {
        match self {
            ExportSpec::Csv { model, .. } => vec![model.clone()],
            ExportSpec::Xlsx { sheets, .. } => {
                let mut inputs: Vec<String> = Vec::new();
                for sheet in sheets {
                    if !inputs.contains(&sheet.model) {
                        inputs.push(sheet.model.clone());
                    }
                }
                inputs
            }
        }
    }

    /// The export as it was written, which its stage key hashes.
    pub(crate) fn definition(&self) -> serde_json::Value {
        let def = match self {
            ExportSpec::Csv { file, model } => ExportDef {
                file: file.clone(),
                model: Some(model.clone()),
                sheets: Vec::new(),
                tags: Vec::new(),
                description: None,
            },
            ExportSpec::Xlsx { file, sheets } => ExportDef {
                file: file.clone(),
                model: None,
                sheets: sheets.clone(),
                tags: Vec::new(),
                description: None,
            },
        };
        serde_json::to_value(def).unwrap_or_default()
    }
}

impl TryFrom<ExportDef> for ExportSpec {
    type Error = String;

    fn try_from(def: ExportDef) -> Result<ExportSpec, String> {
        let extension = std::path::Path::new(&def.file)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let spec = if extension.as_deref() == Some("csv") {
            match (def.model, def.sheets.is_empty()) {
                (Some(model), true) => ExportSpec::Csv {
                    file: def.file,
                    model,
                },
                _ => return Err("a csv export names one `model` and no `sheets`".into()),
            }
        } else if extension.as_deref() == Some("xlsx") {
            if def.sheets.is_empty() || def.model.is_some() {
                return Err("an xlsx export lists its `sheets` ([[exports.<name>.sheets]])".into());
            }
            check_sheet_names(&def.sheets)?;
            ExportSpec::Xlsx {
                file: def.file,
                sheets: def.sheets,
            }
        } else {
            return Err("`file` must end in .xlsx or .csv".into());
        };
        let file = spec.file();
        if file.contains("..") || std::path::Path::new(file).is_absolute() {
            return Err("`file` must stay inside the output folder".into());
        }
        Ok(spec)
    }
}

/// Excel's rules for sheet names, checked when the project loads rather than when the workbook
/// is written after every model ran.
fn check_sheet_names(sheets: &[SheetDef]) -> Result<(), String> {
    let mut seen: Vec<String> = Vec::new();
    for sheet in sheets {
        let name = &sheet.name;
        let problem = if name.trim().is_empty() {
            Some("is empty")
        } else if name.chars().count() > 31 {
            Some("is longer than 31 characters")
        } else if name.contains(['[', ']', ':', '*', '?', '/', '\\']) {
            Some("holds one of [ ] : * ? / \\")
        } else if name.starts_with('\'') || name.ends_with('\'') {
            Some("starts or ends with an apostrophe")
        } else if name.eq_ignore_ascii_case("history") {
            Some("is reserved by Excel")
        } else if seen.contains(&name.to_lowercase()) {
            Some("is used by another sheet of the workbook (Excel ignores case)")
        } else {
            None
        };
        if let Some(problem) = problem {
            return Err(format!("sheet name `{name}` {problem}"));
        }
        seen.push(name.to_lowercase());
    }
    Ok(())
}

/// An `http://` or `https://` URL with a host, or why not.
fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !url.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "`url` must be an http:// or https:// address with a host, not `{url}`"
        )),
    }
}

/// The Resend token's environment variable when `token_env` is not given.
pub(crate) const DEFAULT_TOKEN_ENV: &str = "RESEND_API_KEY";
/// Resend's endpoint when `url` is not given.
pub(crate) const RESEND_API: &str = "https://api.resend.com/emails";

/// Who hears about a build, and when.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NotifyTarget {
    /// Also notify when the build succeeded (default: only failures).
    pub(crate) on_success: bool,
    pub(crate) channel: Channel,
}

/// Where a notification goes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Channel {
    /// POST the JSON summary of the build to `url`.
    Webhook { url: String },
    /// An e-mail through Resend's HTTP API; the token is read from `token_env`.
    Resend {
        url: String,
        from: String,
        to: Vec<String>,
        token_env: String,
    },
}

impl NotifyTarget {
    pub(crate) fn kind(&self) -> NotifyKind {
        match self.channel {
            Channel::Webhook { .. } => NotifyKind::Webhook,
            Channel::Resend { .. } => NotifyKind::Resend,
        }
    }
}

impl TryFrom<NotifyDef> for NotifyTarget {
    type Error = String;

    fn try_from(def: NotifyDef) -> Result<NotifyTarget, String> {
        let token_env = def
            .token_env
            .unwrap_or_else(|| DEFAULT_TOKEN_ENV.to_string());
        if token_env.starts_with("re_") {
            return Err(
                "`token_env` names an environment variable; never put the token itself in the file"
                    .into(),
            );
        }
        if let Some(url) = &def.url {
            check_url(url)?;
        }
        let channel = match def.kind {
            NotifyKind::Webhook => {
                if def.from.is_some() || !def.to.is_empty() {
                    return Err("`from` and `to` are for `resend` e-mails".into());
                }
                let url = def.url.ok_or("a `webhook` needs `url`")?;
                Channel::Webhook { url }
            }
            NotifyKind::Resend => match def.from {
                Some(from) if !def.to.is_empty() => Channel::Resend {
                    url: def.url.unwrap_or_else(|| RESEND_API.to_string()),
                    from,
                    to: def.to,
                    token_env,
                },
                _ => return Err("a `resend` e-mail needs `from` and `to`".into()),
            },
        };
        Ok(NotifyTarget {
            on_success: def.on_success,
            channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(toml_text: &str) -> CheckDef {
        toml::from_str(&format!("name = \"c\"\n{toml_text}")).unwrap()
    }

    #[test]
    fn every_kind_round_trips_to_the_definition_its_key_hashes() {
        for text in [
            "kind = \"row_count\"",
            "kind = \"row_count\"\nequals = 825",
            "kind = \"row_count\"\nmin = 1",
            "kind = \"row_count\"\nsame_as = \"web_dedup\"",
            "kind = \"unique\"\ncolumns = [\"a\", \"b\"]\nmessage = \"{failing}\"",
            "kind = \"not_null\"\ncolumns = [\"a\"]\nseverity = \"warn\"",
            "kind = \"accepted_values\"\ncolumn = \"s\"\nvalues = [\"x\", 1]",
            "kind = \"relationships\"\ncolumn = \"a\"\nto = \"m\"",
            "kind = \"relationships\"\ncolumn = \"a\"\nto = \"m\"\nfield = \"b\"",
            "kind = \"expression\"\nassert = \"MIN(p) >= 0\"",
            "kind = \"expression\"\nactual = \"SUM(ca)\"\ntolerance = 0.01",
            "kind = \"expression\"\nactual = \"SUM(ca)\"\nexpected = \"(SELECT 1)\"",
            "kind = \"sql\"\nsql = \"SELECT 1\"",
        ] {
            let raw = def(text);
            let spec = CheckSpec::try_from(raw.clone()).unwrap();
            assert_eq!(spec.definition(), raw, "{text}");
        }
    }

    #[test]
    fn a_field_of_another_kind_is_named() {
        let error =
            CheckSpec::try_from(def("kind = \"unique\"\ncolumns = [\"a\"]\ncolumn = \"a\""))
                .unwrap_err();
        assert_eq!(
            error,
            "`column` does not apply to a `unique` check (it takes `columns`)"
        );
        let error =
            CheckSpec::try_from(def("kind = \"row_count\"\nequals = 3\nmin = 1")).unwrap_err();
        assert!(error.contains("give one of"), "{error}");
    }

    #[test]
    fn pinned_checks_are_the_ones_without_their_own_figure() {
        let pinned = |text: &str| CheckSpec::try_from(def(text)).unwrap().is_pinned();
        assert!(pinned("kind = \"row_count\""));
        assert!(pinned("kind = \"expression\"\nactual = \"SUM(ca)\""));
        assert!(!pinned("kind = \"row_count\"\nequals = 3"));
        assert!(!pinned("kind = \"expression\"\nassert = \"true\""));
    }
}
