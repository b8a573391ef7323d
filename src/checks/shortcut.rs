//! Proving, without a query, that a `not_null`, `unique`, `accepted_values` or `relationships`
//! check finds no failing row.
//!
//! Most checks pass, and planning their query costs more than the rows it reads on a small
//! month. A check that can be shortcut is first tried on its model's columns directly; only when
//! that cannot prove the check clean does its query run, and the query alone decides what fails
//! and which rows are shown. Rules it keeps:
//! - a shortcut never passes a check its query would fail: it answers "clean" only where its
//!   equality is the query's (no nulls: Arrow's logical nulls are SQL's `IS NULL`; no duplicates:
//!   only over types whose values are equal exactly when their bytes are, where `GROUP BY` and
//!   Arrow's row format agree, nulls grouping together in both; values among the accepted ones:
//!   only text against text and integers against integers, where `NOT IN` compares exactly;
//!   values found in another model: only between columns of one such type, where the join's `=`
//!   is byte equality; nulls are not failures in either, and never match);
//! - anything it is unsure of (a missing column, a float, a dictionary) is "not proven", never an
//!   error: the query then runs and reports it.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use arrow::row::{RowConverter, SortField};

use crate::table::Table;

/// What a check's query finding no row amounts to, when it can be seen on the columns.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shortcut {
    /// No null in any of these columns (`not_null`).
    NoNulls(Vec<String>),
    /// No two rows with the same values in these columns (`unique`).
    Distinct(Vec<String>),
    /// Every value of `column`, nulls aside, is one of `values` (`accepted_values`).
    Among {
        column: String,
        values: Vec<toml::Value>,
    },
    /// Every value of `column`, nulls aside, is a value of `field` in model `to`
    /// (`relationships`).
    FoundIn {
        column: String,
        to: String,
        field: String,
    },
}

impl Shortcut {
    /// True when `table` is proven to have no failing row; false when it has one or the proof
    /// does not apply. `other` gives another model's table, for [`Shortcut::FoundIn`].
    pub(super) fn proves_clean(
        &self,
        table: &Table,
        other: impl Fn(&str) -> Option<Arc<Table>>,
    ) -> bool {
        match self {
            Shortcut::NoNulls(columns) => indices(table, columns).is_some_and(|indices| {
                table.batches.iter().all(|batch| {
                    indices
                        .iter()
                        .all(|&i| batch.column(i).logical_null_count() == 0)
                })
            }),
            Shortcut::Distinct(columns) => {
                indices(table, columns).is_some_and(|indices| all_distinct(table, &indices))
            }
            Shortcut::Among { column, values } => all_among(table, column, values),
            Shortcut::FoundIn { column, to, field } => {
                other(to).is_some_and(|target| all_found_in(table, column, &target, field))
            }
        }
    }
}

/// Whether every non-null value of `column` is one of `values`: text among text values, or
/// integers among integer values; any other pairing is left to the query.
fn all_among(table: &Table, column: &str, values: &[toml::Value]) -> bool {
    let Ok(index) = table.schema.index_of(column) else {
        return false;
    };
    let texts: Option<HashSet<&str>> = values.iter().map(toml::Value::as_str).collect();
    let integers: Option<HashSet<i64>> = values.iter().map(toml::Value::as_integer).collect();
    let columns = table.batches.iter().map(|batch| batch.column(index));
    match (table.schema.field(index).data_type(), texts, integers) {
        (DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View, Some(texts), _) => {
            columns.into_iter().all(|array| {
                text_values(array).is_some_and(|mut values| {
                    values.all(|value| value.is_none_or(|v| texts.contains(v)))
                })
            })
        }
        (data_type, _, Some(integers)) if widens_to_i64(data_type) => {
            columns.into_iter().all(|array| {
                arrow::compute::cast(array, &DataType::Int64).is_ok_and(|array| {
                    array
                        .as_primitive::<arrow::datatypes::Int64Type>()
                        .iter()
                        .all(|value| value.is_none_or(|v| integers.contains(&v)))
                })
            })
        }
        _ => false,
    }
}

/// The values of a text array, whatever its offsets.
fn text_values(array: &ArrayRef) -> Option<Box<dyn Iterator<Item = Option<&str>> + '_>> {
    if let Some(array) = array.as_string_opt::<i32>() {
        return Some(Box::new(array.iter()));
    }
    if let Some(array) = array.as_string_opt::<i64>() {
        return Some(Box::new(array.iter()));
    }
    array
        .as_string_view_opt()
        .map(|array| Box::new(array.iter()) as Box<dyn Iterator<Item = Option<&str>>>)
}

/// Integer types every value of which is an `i64` as it is.
fn widens_to_i64(data_type: &DataType) -> bool {
    use DataType as T;
    matches!(
        data_type,
        T::Int8 | T::Int16 | T::Int32 | T::Int64 | T::UInt8 | T::UInt16 | T::UInt32
    )
}

/// Whether every non-null value of `column` in `table` is a value of `field` in `target`, both
/// columns of one type whose values are equal exactly when their bytes are.
fn all_found_in(table: &Table, column: &str, target: &Table, field: &str) -> bool {
    let (Ok(index), Ok(target_index)) =
        (table.schema.index_of(column), target.schema.index_of(field))
    else {
        return false;
    };
    let data_type = table.schema.field(index).data_type();
    if data_type != target.schema.field(target_index).data_type() || !exact_equality(data_type) {
        return false;
    }
    let Ok(converter) = RowConverter::new(vec![SortField::new(data_type.clone())]) else {
        return false;
    };
    let rows = |table: &Table, index: usize| {
        let mut rows = converter.empty_rows(table.num_rows(), 0);
        for batch in &table.batches {
            let column = batch.column(index).clone();
            // Nulls never fail (the query skips them) and never match (`=` with a null is not
            // true): left out of both sides.
            let present = arrow::compute::is_not_null(&column).ok()?;
            let column = arrow::compute::filter(&column, &present).ok()?;
            converter.append(&mut rows, &[column]).ok()?;
        }
        Some(rows)
    };
    let (Some(values), Some(known)) = (rows(table, index), rows(target, target_index)) else {
        return false;
    };
    let known: HashSet<&[u8]> = known.iter().map(|row| row.data()).collect();
    values.iter().all(|row| known.contains(row.data()))
}

/// The positions of the named columns; `None` when one is missing or none is named.
fn indices(table: &Table, names: &[String]) -> Option<Vec<usize>> {
    if names.is_empty() {
        return None;
    }
    names
        .iter()
        .map(|name| table.schema.index_of(name).ok())
        .collect()
}

/// Whether every row has its own combination of values in the columns at `indices`.
fn all_distinct(table: &Table, indices: &[usize]) -> bool {
    let fields: Option<Vec<SortField>> = indices
        .iter()
        .map(|&i| {
            let data_type = table.schema.field(i).data_type();
            exact_equality(data_type).then(|| SortField::new(data_type.clone()))
        })
        .collect();
    let Some(Ok(converter)) = fields.map(RowConverter::new) else {
        return false;
    };
    let mut rows = converter.empty_rows(table.num_rows(), 0);
    for batch in &table.batches {
        let columns: Vec<ArrayRef> = indices.iter().map(|&i| batch.column(i).clone()).collect();
        if converter.append(&mut rows, &columns).is_err() {
            return false;
        }
    }
    let mut seen = HashSet::with_capacity(rows.num_rows());
    rows.iter().all(|row| seen.insert(row.data()))
}

/// Types whose values are equal exactly when their encodings are: integers, text, booleans,
/// dates and times. Floats are not (`0.0` and `-0.0`, NaNs), nor are dictionaries or nested
/// types, whose equality depends on more than the bytes.
fn exact_equality(data_type: &DataType) -> bool {
    use DataType as T;
    matches!(
        data_type,
        T::Boolean
            | T::Int8
            | T::Int16
            | T::Int32
            | T::Int64
            | T::UInt8
            | T::UInt16
            | T::UInt32
            | T::UInt64
            | T::Utf8
            | T::LargeUtf8
            | T::Utf8View
            | T::Date32
            | T::Date64
            | T::Timestamp(_, _)
            | T::Decimal128(_, _)
    )
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    /// One batch's `sku` and `n` columns.
    type Batch<'a> = (Vec<Option<&'a str>>, Vec<Option<i64>>);

    fn table(batches: &[Batch<'_>]) -> Table {
        let schema = Arc::new(Schema::new(vec![
            Field::new("sku", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batches = batches
            .iter()
            .map(|(skus, ns)| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(StringArray::from(skus.clone())),
                        Arc::new(Int64Array::from(ns.clone())),
                    ],
                )
                .unwrap()
            })
            .collect();
        Table::new(schema, batches)
    }

    fn no_other(_: &str) -> Option<Arc<Table>> {
        None
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn nulls_anywhere_in_a_named_column_are_seen() {
        let clean = table(&[(vec![Some("a"), Some("b")], vec![Some(1), None])]);
        assert!(Shortcut::NoNulls(names(&["sku"])).proves_clean(&clean, no_other));
        assert!(!Shortcut::NoNulls(names(&["sku", "n"])).proves_clean(&clean, no_other));
        let later = table(&[
            (vec![Some("a")], vec![Some(1)]),
            (vec![None], vec![Some(2)]),
        ]);
        assert!(!Shortcut::NoNulls(names(&["sku"])).proves_clean(&later, no_other));
    }

    #[test]
    fn duplicates_across_batches_and_null_keys_group_as_in_sql() {
        let distinct = table(&[
            (vec![Some("a"), Some("a")], vec![Some(1), Some(2)]),
            (vec![Some("b"), None], vec![Some(1), Some(1)]),
        ]);
        assert!(Shortcut::Distinct(names(&["sku", "n"])).proves_clean(&distinct, no_other));
        assert!(!Shortcut::Distinct(names(&["sku"])).proves_clean(&distinct, no_other));
        assert!(!Shortcut::Distinct(names(&["n"])).proves_clean(&distinct, no_other));
        // GROUP BY puts nulls together: two null keys are a duplicate.
        let two_nulls = table(&[(vec![None, None], vec![Some(1), Some(2)])]);
        assert!(!Shortcut::Distinct(names(&["sku"])).proves_clean(&two_nulls, no_other));
    }

    #[test]
    fn what_it_cannot_judge_is_left_to_the_query() {
        let clean = table(&[(vec![Some("a")], vec![Some(1)])]);
        assert!(!Shortcut::NoNulls(names(&["missing"])).proves_clean(&clean, no_other));
        assert!(!Shortcut::Distinct(Vec::new()).proves_clean(&clean, no_other));
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)]));
        let floats = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Float64Array::from(vec![0.0, -0.0]))],
        )
        .unwrap();
        let floats = Table::new(schema, vec![floats]);
        assert!(!Shortcut::Distinct(names(&["x"])).proves_clean(&floats, no_other));
        assert!(Shortcut::NoNulls(names(&["x"])).proves_clean(&floats, no_other));
        // Text against numbers, numbers against text, floats, two types: the query's coercions.
        let among = |column: &str, values: Vec<toml::Value>| Shortcut::Among {
            column: column.to_string(),
            values,
        };
        assert!(among("sku", vec!["a".into()]).proves_clean(&clean, no_other));
        assert!(!among("sku", vec![1.into()]).proves_clean(&clean, no_other));
        assert!(!among("n", vec!["1".into()]).proves_clean(&clean, no_other));
        assert!(among("n", vec![1.into()]).proves_clean(&clean, no_other));
        assert!(!among("x", vec![0.0.into()]).proves_clean(&floats, no_other));
        assert!(!among("missing", vec!["a".into()]).proves_clean(&clean, no_other));
        let found_in = |column: &str, field: &str| Shortcut::FoundIn {
            column: column.to_string(),
            to: "other".to_string(),
            field: field.to_string(),
        };
        let other = |_: &str| Some(Arc::new(table(&[(vec![Some("1")], vec![Some(1)])])));
        assert!(found_in("n", "n").proves_clean(&clean, other));
        assert!(!found_in("n", "sku").proves_clean(&clean, other));
        assert!(!found_in("n", "n").proves_clean(&clean, no_other));
    }

    /// The query a check would run, over `table` registered as `t`: how many rows it returns.
    fn failing_rows(sql: &str, table: Table) -> usize {
        let tables = [("t".to_string(), Arc::new(table))];
        let limits = crate::engine::QueryLimits::default();
        crate::engine::run_check_query("t", "c", sql, &tables, &limits)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .num_rows()
    }

    fn batch(rows: &[(Option<String>, Option<i64>)]) -> Batch<'_> {
        (
            rows.iter().map(|(s, _)| s.as_deref()).collect(),
            rows.iter().map(|(_, n)| *n).collect(),
        )
    }

    fn row() -> impl proptest::strategy::Strategy<Value = (Option<String>, Option<i64>)> {
        use proptest::prelude::*;
        (
            proptest::option::of(prop_oneof![
                Just(String::new()),
                "[ab]{1,2}".prop_map(String::from)
            ]),
            proptest::option::of(0i64..3),
        )
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, failure_persistence: None, ..Default::default() })]

        /// Whatever the rows, in one batch or two, a shortcut says "clean" exactly when the
        /// check's query finds nothing: never a pass the query would fail, and on these exact
        /// types no query it could have spared.
        #[test]
        fn a_shortcut_agrees_with_the_checks_query(
            rows in proptest::collection::vec(row(), 0..12),
            split in 0usize..12,
        ) {
            let split = split.min(rows.len());
            let (first, second) = rows.split_at(split);

            let t = || table(&[batch(first), batch(second)]);
            for columns in [vec!["sku"], vec!["n"], vec!["sku", "n"]] {
                let quoted = crate::engine::quote_idents(&columns);
                let duplicates = format!(
                    "SELECT {quoted}, COUNT(*) FROM t GROUP BY {quoted} HAVING COUNT(*) > 1"
                );
                let nulls = columns
                    .iter()
                    .map(|c| format!("{} IS NULL", crate::engine::quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(" OR ");
                let nulls = format!("SELECT * FROM t WHERE {nulls}");
                proptest::prop_assert_eq!(
                    Shortcut::Distinct(names(&columns)).proves_clean(&t(), no_other),
                    failing_rows(&duplicates, t()) == 0
                );
                proptest::prop_assert_eq!(
                    Shortcut::NoNulls(names(&columns)).proves_clean(&t(), no_other),
                    failing_rows(&nulls, t()) == 0
                );
            }
            let accepted = [("sku", "'a', ''", vec!["a", ""]), ("n", "0, 2", vec![])];
            for (column, listed, texts) in accepted {
                let values: Vec<toml::Value> = if texts.is_empty() {
                    vec![toml::Value::Integer(0), toml::Value::Integer(2)]
                } else {
                    texts.iter().map(|v| toml::Value::String((*v).to_string())).collect()
                };
                let sql = format!(
                    "SELECT {column} FROM t WHERE {column} IS NOT NULL AND {column} NOT IN ({listed})"
                );
                let among = Shortcut::Among { column: column.to_string(), values };
                proptest::prop_assert_eq!(
                    among.proves_clean(&t(), no_other),
                    failing_rows(&sql, t()) == 0
                );
            }
            // The first batch's rows against the second's, as a model against another.
            let target = Arc::new(table(&[batch(second)]));
            let own = || table(&[batch(first)]);
            for column in ["sku", "n"] {
                let sql = format!(
                    "SELECT m.{column} FROM t AS m LEFT JOIN (SELECT DISTINCT {column} AS k FROM u) \
                     AS x ON m.{column} = x.k WHERE m.{column} IS NOT NULL AND x.k IS NULL"
                );
                let tables = [
                    ("t".to_string(), Arc::new(own())),
                    ("u".to_string(), target.clone()),
                ];
                let limits = crate::engine::QueryLimits::default();
                let failing = crate::engine::run_check_query("t", "c", &sql, &tables, &limits)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .num_rows();
                let found_in = Shortcut::FoundIn {
                    column: column.to_string(),
                    to: "u".to_string(),
                    field: column.to_string(),
                };
                proptest::prop_assert_eq!(
                    found_in.proves_clean(&own(), |name| (name == "u").then(|| target.clone())),
                    failing == 0
                );
            }
        }
    }
}
