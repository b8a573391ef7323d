//! A month's pinned figures: `expect.toml` in the month folder, check name → expected figure.
//!
//! Rules it keeps: every name must be a check that takes a pinned figure (a typo is an error
//! with a suggestion, never an ignored line); a row count is a whole number without tolerance; a
//! missing file pins nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::month::Month;

use serde::{Deserialize, Serialize};

use crate::error::{Hint, did_you_mean};
use crate::project::{CheckKind, CheckSpec, Project};

/// The file in a month's folder that pins that month's figures.
pub(crate) const EXPECT_FILE: &str = "expect.toml";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExpectError {
    #[error("`{file}` is not valid: {message}")]
    Invalid { file: PathBuf, message: String },
    #[error("`{file}` pins `{name}`, but no model declares a check with that name")]
    UnknownCheck {
        file: PathBuf,
        name: String,
        suggestion: String,
    },
    #[error("`{file}` pins `{name}`, a `{kind}` check: {message}")]
    NotPinnable {
        file: PathBuf,
        name: String,
        kind: CheckKind,
        message: String,
    },
}

impl Hint for ExpectError {
    fn hint(&self) -> Option<String> {
        match self {
            ExpectError::Invalid { .. } => Some(
                "each line is `check-name = 825` or `check-name = { value = 70568.60, tolerance = 0.01 }`"
                    .into(),
            ),
            ExpectError::UnknownCheck { suggestion, .. } => Some(suggestion.clone()),
            ExpectError::NotPinnable { .. } => Some(
                "only `row_count` checks without bounds and `expression` checks with `actual` and no `expected` take a pinned figure"
                    .into(),
            ),
        }
    }
}

/// A figure pinned for one month.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pinned {
    pub(crate) value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tolerance: Option<f64>,
}

/// `{ value = 70568.60, tolerance = 0.01 }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedFull {
    value: f64,
    tolerance: Option<f64>,
}

/// A pinned figure as written: a number, or a table with its tolerance; the message names the
/// check and says what a figure may be.
fn pinned_of(name: &str, value: toml::Value) -> Result<Pinned, String> {
    match value {
        toml::Value::Integer(n) => Ok(Pinned {
            value: n as f64,
            tolerance: None,
        }),
        toml::Value::Float(value) => Ok(Pinned {
            value,
            tolerance: None,
        }),
        table @ toml::Value::Table(_) => PinnedFull::deserialize(table)
            .map(|full| Pinned {
                value: full.value,
                tolerance: full.tolerance,
            })
            .map_err(|e| format!("`{name}`: {}", e.message())),
        other => Err(format!("`{name}` is a {}, not a figure", other.type_str())),
    }
}

/// The month's `expect.toml`: check name → pinned figure. Empty when the file does not exist.
#[derive(Debug, Clone, Default)]
pub(crate) struct Expectations {
    /// The file, relative to the project root, for messages.
    pub(crate) file: PathBuf,
    pub(crate) pinned: BTreeMap<String, Pinned>,
}

impl Expectations {
    /// Reads the month's `expect.toml` and checks every name against the project's checks.
    pub(crate) fn load(project: &Project, month: Month) -> Result<Expectations, ExpectError> {
        let input = project.input_file(month, EXPECT_FILE);
        let file = PathBuf::from(input.shown(&project.root));
        let read = input.read().and_then(|bytes| {
            String::from_utf8(bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
        });
        let text = match read {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Expectations {
                    file,
                    pinned: BTreeMap::new(),
                });
            }
            Err(e) => {
                return Err(ExpectError::Invalid {
                    file,
                    message: e.to_string(),
                });
            }
        };
        let entries: toml::Table = toml::from_str(&text).map_err(|e| ExpectError::Invalid {
            file: file.clone(),
            message: e.message().to_string() + &crate::project::toml_location(&text, e.span()),
        })?;
        let checks: BTreeMap<&String, &CheckSpec> =
            project.checks().map(|(_, c)| (&c.name, c)).collect();
        let mut pinned = BTreeMap::new();
        for (name, entry) in entries {
            let Some(check) = checks.get(&name) else {
                return Err(ExpectError::UnknownCheck {
                    suggestion: did_you_mean(
                        &name,
                        checks.keys().copied(),
                        "`winebuild test` lists every check",
                    ),
                    file,
                    name,
                });
            };
            let value = pinned_of(&name, entry).map_err(|message| ExpectError::Invalid {
                file: file.clone(),
                message,
            })?;
            validate(check, value).map_err(|message| ExpectError::NotPinnable {
                file: file.clone(),
                name: name.clone(),
                kind: check.kind(),
                message: message.to_string(),
            })?;
            pinned.insert(name, value);
        }
        Ok(Expectations { file, pinned })
    }
}

/// Why `check` cannot take `value` as its pinned figure.
fn validate(check: &CheckSpec, value: Pinned) -> Result<(), &'static str> {
    if !check.is_pinned() {
        return Err(
            "it states its own expectation in its model, so a pinned figure would be ignored",
        );
    }
    let whole = value.value.fract() == 0.0 && value.value >= 0.0;
    if check.kind() == CheckKind::RowCount && (!whole || value.tolerance.is_some()) {
        return Err("a row count is a whole number, without tolerance");
    }
    Ok(())
}
