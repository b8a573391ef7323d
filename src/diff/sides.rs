//! The two sides a diff compares: archived revisions (`2026-09`, `2026-09@r2`) or a month's
//! current build (`--against`), and what each knows of its models without reading them.

use std::collections::BTreeMap;

use super::DiffError;
use super::DiffOptions;
use crate::archive::{self, Manifest};
use crate::month::{Month, MonthChoice};
use crate::project::Project;
use crate::store::{MonthState, ObjectHash, Store};
use crate::table::{ColumnInfo, Table};

/// One side of a diff: an archived revision or a month's current build.
pub(super) enum Side {
    Archived(Manifest),
    Current {
        month: Month,
        state: MonthState,
        store: Box<Store>,
    },
}

/// What a side knows of one model without reading it.
pub(super) struct ModelInfo {
    pub(crate) output: ObjectHash,
    pub(crate) rows: u64,
    pub(crate) columns: Vec<ColumnInfo>,
    /// The model's row-identity columns (its `key = [...]`).
    pub(crate) key_columns: Vec<String>,
}

impl Side {
    /// For an archived revision that no longer verifies, what is damaged, in words.
    pub(crate) fn damage(&self, project: &Project) -> Option<String> {
        let Side::Archived(manifest) = self else {
            return None;
        };
        let store = Store::open_read_only(&project.root);
        let problems = archive::revision_problems(project, manifest, &|p| store.hash_archived(p));
        let (file, problem) = problems.first()?;
        let more = match problems.len() {
            1 => String::new(),
            n => format!(" and {} more", n - 1),
        };
        Some(format!(
            "archive/{month}/r{revision} does not verify ({file}: {problem}{more}); \
             `winebuild archive verify {month}` lists every problem, and building {month} again \
             archives it afresh",
            month = manifest.month,
            revision = manifest.revision
        ))
    }

    pub(crate) fn label(&self) -> String {
        match self {
            Side::Archived(m) => format!("{} r{}", m.month, m.revision),
            Side::Current { month, .. } => format!("{month} (current build)"),
        }
    }

    pub(crate) fn models(&self, project: &Project) -> BTreeMap<String, ModelInfo> {
        match self {
            Side::Archived(manifest) => manifest
                .models()
                .map(|s| {
                    (
                        s.stage.clone(),
                        ModelInfo {
                            output: s.output.clone(),
                            rows: s.rows,
                            columns: s.columns.clone(),
                            key_columns: s.key_columns.clone(),
                        },
                    )
                })
                .collect(),
            Side::Current { state, store, .. } => state
                .iter()
                .filter_map(|(name, entry)| {
                    let model = project.models.get(name)?;
                    Some((
                        name.clone(),
                        ModelInfo {
                            output: entry.object.clone(),
                            rows: entry.rows,
                            columns: store
                                .stage_record(&entry.key)
                                .map(|r| r.columns)
                                .unwrap_or_default(),
                            key_columns: model.key_columns.clone(),
                        },
                    ))
                })
                .collect(),
        }
    }

    pub(crate) fn table(&self, project: &Project, model: &str) -> Result<Table, DiffError> {
        match self {
            Side::Archived(manifest) => Ok(archive::read_model(project, manifest, model)?),
            Side::Current { state, store, .. } => {
                let unreadable = |message: String| DiffError::Query {
                    model: model.to_string(),
                    message,
                };
                let entry = state
                    .get(model)
                    .ok_or_else(|| unreadable("no current output".into()))?;
                let bytes = store.read_object(&entry.object).map_err(|_| {
                    unreadable(
                        "its stored output is missing or corrupt; build the month again".into(),
                    )
                })?;
                Table::from_parquet(bytes).map_err(|e| unreadable(e.to_string()))
            }
        }
    }
}

/// Parses `2026-10` or `2026-10@r2`.
fn parse_side(given: &str) -> Result<(Month, Option<u32>), DiffError> {
    archive::parse_revision_ref(given).ok_or_else(|| DiffError::BadSide {
        given: given.to_string(),
    })
}

fn archived(project: &Project, given: &str) -> Result<Side, DiffError> {
    let (month, revision) = parse_side(given)?;
    archived_side(project, month, revision)
}

fn archived_side(
    project: &Project,
    month: Month,
    revision: Option<u32>,
) -> Result<Side, DiffError> {
    Ok(Side::Archived(archive::manifest(project, month, revision)?))
}

pub(super) fn sides(project: &Project, options: &DiffOptions) -> Result<(Side, Side), DiffError> {
    if let Some(against) = &options.against {
        let before = archived(project, against)?;
        let choice = MonthChoice::parse(options.current_month.as_deref())
            .map_err(|e| DiffError::Month(e.into()))?;
        let month = project.resolve_month(choice)?;
        let store = Store::open_read_only(&project.root);
        let state = store.month_state(month);
        if state.is_empty() {
            return Err(DiffError::NotBuilt { month });
        }
        let current = Side::Current {
            month,
            state,
            store: Box::new(store),
        };
        return Ok((before, current));
    }
    match options.months.as_slice() {
        [from, to] => Ok((archived(project, from)?, archived(project, to)?)),
        [to] => {
            // The month itself first: "not archived" says more than "nothing before it".
            let after = archived(project, to)?;
            let (month, _) = parse_side(to)?;
            let months = archive::months(project);
            let Some(previous) = months.iter().rev().find(|m| **m < month) else {
                return Err(DiffError::NothingBefore {
                    month,
                    later: months.iter().find(|m| **m > month).copied(),
                });
            };
            Ok((archived_side(project, *previous, None)?, after))
        }
        _ => {
            let months = archive::months(project);
            if months.len() < 2 {
                return Err(DiffError::NotEnoughMonths {
                    count: months.len(),
                });
            }
            let n = months.len();
            Ok((
                archived_side(project, months[n - 2], None)?,
                archived_side(project, months[n - 1], None)?,
            ))
        }
    }
}
