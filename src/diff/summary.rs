//! The business summary `diff` prints first (`[summary]` in winebuild.toml): the headline
//! figure, rows entering and leaving a list, the biggest movers.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use arrow::util::display::FormatOptions;

use super::compare::{formatter, run};
use super::sides::ModelInfo;
use super::{DiffError, ListChange, Mover, Movers, Summary, TotalChange};
use crate::engine::quote_ident;
use crate::project::Project;
use crate::table::Table;
use crate::text::round6;

pub(super) fn summary(
    project: &Project,
    before: &BTreeMap<String, ModelInfo>,
    after: &BTreeMap<String, ModelInfo>,
    load: &mut impl FnMut(bool, &str) -> Result<Arc<Table>, DiffError>,
) -> Result<Summary, DiffError> {
    let def = &project.summary;
    let both = |model: &str| before.contains_key(model) && after.contains_key(model);
    let mut summary = Summary::default();
    if let Some(total) = &def.total
        && both(&total.model)
    {
        let value = |table: &Table| -> Option<f64> {
            let index = table.schema.index_of(&total.column).ok()?;
            let batch = table.batches.iter().find(|b| b.num_rows() > 0)?;
            let floats = arrow::compute::cast(batch.column(index), &DataType::Float64).ok()?;
            let floats = floats.as_primitive::<Float64Type>();
            floats.is_valid(0).then(|| floats.value(0))
        };
        let (old, new) = (load(false, &total.model)?, load(true, &total.model)?);
        require_columns(&total.label, &total.model, &[&old, &new], &[&total.column])?;
        let before = value(&old).map(round6);
        let after = value(&new).map(round6);
        let change = before.zip(after).map(|(b, a)| round6(a - b));
        summary.total = Some(TotalChange {
            label: total.label.clone(),
            before,
            after,
            change,
            percent: before
                .zip(change)
                .filter(|(b, _)| *b != 0.0)
                .map(|(b, c)| round6(100.0 * c / b)),
            money: total.money,
        });
    }
    for list in &def.lists {
        if !both(&list.model) {
            continue;
        }
        let key = &after[&list.model].key_columns;
        let old = load(false, &list.model)?;
        let new = load(true, &list.model)?;
        let mut named: Vec<&String> = vec![&list.name];
        named.extend(&list.show);
        require_columns(&list.label, &list.model, &[&old, &new], &named)?;
        let (entering, leaving) = membership(&list.model, &old, &new, key, &list.name, &list.show)?;
        summary.lists.push(ListChange {
            label: list.label.clone(),
            entering,
            leaving,
        });
    }
    if let Some(movers) = &def.movers
        && both(&movers.model)
    {
        let key = &after[&movers.model].key_columns;
        let old = load(false, &movers.model)?;
        let new = load(true, &movers.model)?;
        let named = [&movers.name, &movers.column];
        require_columns(&movers.label, &movers.model, &[&old, &new], &named)?;
        summary.movers = Some(Movers {
            label: movers.label.clone(),
            rows: top_movers(
                &movers.model,
                &old,
                &new,
                key,
                &movers.name,
                &movers.column,
                movers.top,
            )?,
            money: movers.money,
        });
    }
    Ok(summary)
}

/// An error naming the `[summary]` entry and the column, unless both sides have every column.
fn require_columns(
    label: &str,
    model: &str,
    sides: &[&Table],
    columns: &[&String],
) -> Result<(), DiffError> {
    for table in sides {
        let present: Vec<String> = table.columns().into_iter().map(|c| c.name).collect();
        if let Some(missing) = columns.iter().find(|c| !present.contains(c)) {
            return Err(DiffError::SummaryColumn {
                label: label.to_string(),
                model: model.to_string(),
                column: (*missing).clone(),
                suggestion: crate::error::did_you_mean(
                    missing,
                    &present,
                    format!("its columns: {}", present.join(", ")),
                ),
            });
        }
    }
    Ok(())
}

/// Joins the two sides on `key`, keeping `columns` of each side (`o_<i>`, `n_<i>`).
fn joined_columns(
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    columns: &[&str],
) -> Result<RecordBatch, DiffError> {
    let on = key
        .iter()
        .map(|k| {
            format!(
                "(CAST(o.{k} AS VARCHAR) IS NOT DISTINCT FROM CAST(n.{k} AS VARCHAR))",
                k = quote_ident(k)
            )
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    let mut select = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        select.push(format!("o.{} AS o_{i}", quote_ident(c)));
        select.push(format!("n.{} AS n_{i}", quote_ident(c)));
    }
    let sql = format!(
        "SELECT {}, o.__row IS NOT NULL AS in_old, n.__row IS NOT NULL AS in_new \
         FROM (SELECT *, 1 AS __row FROM old) AS o FULL OUTER JOIN (SELECT *, 1 AS __row FROM new) AS n ON {on} \
         ORDER BY 1, 2",
        select.join(", ")
    );
    run(model, &sql, &[("old", old), ("new", new)])
}

fn membership(
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    name: &str,
    show: &[String],
) -> Result<(Vec<String>, Vec<String>), DiffError> {
    let mut columns: Vec<&str> = vec![name];
    columns.extend(show.iter().map(String::as_str));
    let joined = joined_columns(model, old, new, key, &columns)?;
    let options = FormatOptions::default().with_null("null");
    let in_old = joined
        .column_by_name("in_old")
        .expect("selected")
        .as_boolean()
        .clone();
    let in_new = joined
        .column_by_name("in_new")
        .expect("selected")
        .as_boolean()
        .clone();
    let describe = |row: usize, side: &str| -> String {
        let value = |i: usize| {
            let array = joined
                .column_by_name(&format!("{side}_{i}"))
                .expect("selected");
            formatter(array.as_ref(), &options).value(row).to_string()
        };
        let details: Vec<String> = show
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} {}", value(i + 1)))
            .collect();
        if details.is_empty() {
            value(0)
        } else {
            format!("{} ({})", value(0), details.join(", "))
        }
    };
    let mut entering = Vec::new();
    let mut leaving = Vec::new();
    for row in 0..joined.num_rows() {
        match (in_old.value(row), in_new.value(row)) {
            (false, true) => entering.push(describe(row, "n")),
            (true, false) => leaving.push(describe(row, "o")),
            _ => {}
        }
    }
    entering.sort();
    leaving.sort();
    Ok((entering, leaving))
}

fn top_movers(
    model: &str,
    old: &Table,
    new: &Table,
    key: &[String],
    name: &str,
    column: &str,
    top: usize,
) -> Result<Vec<Mover>, DiffError> {
    let joined = joined_columns(model, old, new, key, &[name, column])?;
    let options = FormatOptions::default().with_null("null");
    let floats = |c: &str| -> Result<ArrayRef, DiffError> {
        arrow::compute::cast(
            joined.column_by_name(c).expect("selected"),
            &DataType::Float64,
        )
        .map_err(|e| DiffError::Query {
            model: model.to_string(),
            message: e.to_string(),
        })
    };
    let (before, after) = (floats("o_1")?, floats("n_1")?);
    let (before, after) = (
        before.as_primitive::<Float64Type>(),
        after.as_primitive::<Float64Type>(),
    );
    let (old_name, new_name) = (
        joined.column_by_name("o_0").expect("selected"),
        joined.column_by_name("n_0").expect("selected"),
    );
    let (old_name, new_name) = (
        formatter(old_name.as_ref(), &options),
        formatter(new_name.as_ref(), &options),
    );
    let mut movers: Vec<Mover> = (0..joined.num_rows())
        .map(|row| {
            let b = if before.is_valid(row) {
                before.value(row)
            } else {
                0.0
            };
            let a = if after.is_valid(row) {
                after.value(row)
            } else {
                0.0
            };
            let name = if new_name.value(row).to_string() == "null" {
                old_name.value(row).to_string()
            } else {
                new_name.value(row).to_string()
            };
            Mover {
                name,
                before: round6(b),
                after: round6(a),
                change: round6(a - b),
            }
        })
        .filter(|m| m.change != 0.0)
        .collect();
    movers.sort_by(|a, b| {
        b.change
            .abs()
            .total_cmp(&a.change.abs())
            .then_with(|| a.name.cmp(&b.name))
    });
    movers.truncate(top);
    Ok(movers)
}
