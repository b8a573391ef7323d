//! What every error of winebuild shares: a hint for people, an I/O error that carries its path,
//! and "did you mean" suggestions.
//!
//! Rules it keeps:
//! - every module has its own error enum naming the file, sheet, column, model or setting it
//!   concerns; [`Hint`] gives the next step, which the CLI prints on a `hint:` line;
//! - an I/O failure always says which path failed ([`IoError`]): a bare `No such file or directory`
//!   never reaches a user;
//! - a suggestion is offered only for a near miss ([`closest`]), never a guess.

use std::path::{Path, PathBuf};

/// The next step a person can take after an error, printed as `hint: …`.
pub(crate) trait Hint {
    fn hint(&self) -> Option<String>;
}

/// An I/O operation that failed on `path`.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} `{path}`: {source}")]
pub(crate) struct IoError {
    pub(crate) action: IoAction,
    pub(crate) path: PathBuf,
    #[source]
    pub(crate) source: std::io::Error,
}

/// What was being done when an [`IoError`] happened, as words: `cannot read …`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoAction {
    Read,
    Write,
    Create,
    Remove,
    Lock,
}

impl std::fmt::Display for IoAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IoAction::Read => "read",
            IoAction::Write => "write",
            IoAction::Create => "create",
            IoAction::Remove => "remove",
            IoAction::Lock => "lock",
        })
    }
}

impl IoError {
    pub(crate) fn new(action: IoAction, path: &Path, source: std::io::Error) -> IoError {
        IoError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn read(path: &Path, source: std::io::Error) -> IoError {
        IoError::new(IoAction::Read, path, source)
    }

    pub(crate) fn write(path: &Path, source: std::io::Error) -> IoError {
        IoError::new(IoAction::Write, path, source)
    }
}

/// The text of a panic's payload (`panic!("…")`), for an error that takes its place.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into())
}

/// `did you mean `x`?` when `name` is a near miss of one of `candidates`, else `otherwise`.
pub(crate) fn did_you_mean<'a, S: AsRef<str> + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
    otherwise: impl Into<String>,
) -> String {
    match closest(name, candidates) {
        Some(s) => suggestion(&s),
        None => otherwise.into(),
    }
}

/// The words of a suggestion: ``did you mean `erp_clean`?``.
pub(crate) fn suggestion(candidate: &str) -> String {
    format!("did you mean `{candidate}`?")
}

/// The candidate closest to `name` by edit distance, when it is close enough to be a typo.
pub(crate) fn closest<'a, S: AsRef<str> + 'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a S>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c.as_ref()), c.as_ref()))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = if ca == *cb {
                previous
            } else {
                1 + previous.min(row[j]).min(row[j + 1])
            };
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_typos_only() {
        let names = ["erp_clean".to_string(), "web_dedup".to_string()];
        assert_eq!(closest("erp_claen", &names), Some("erp_clean".into()));
        assert_eq!(closest("zzzzzzzzzz", &names), None);
        assert_eq!(
            did_you_mean("web_dedpu", &names, "none"),
            "did you mean `web_dedup`?"
        );
        assert_eq!(did_you_mean("qqqqqqqq", &names, "none"), "none");
    }

    #[test]
    fn io_errors_name_their_path() {
        let error = IoError::read(
            Path::new("data/2026-09/erp.xlsx"),
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        assert!(
            error
                .to_string()
                .starts_with("cannot read `data/2026-09/erp.xlsx`: "),
            "{error}"
        );
    }
}
