//! Keeps `out/<month>/` telling the truth: after a build, the folder holds exactly the reports
//! that build stands behind, as a clean build of the same data would leave it.
//!
//! Rules it keeps: an export the build did not produce (skipped after a failed check, failed, or
//! left out of `--select` while out of date) has no file there, not last week's; a note,
//! `NOT-CURRENT.txt`, says which reports are missing and why, and where the last good ones are
//! archived; a build that produces every report removes the note.

use std::fmt::Write as _;

use super::context::Context;
use super::outcome::{Action, StageOutcome};
use crate::graph::StageKind;

/// The note left in the month's output folder when reports are missing.
pub(crate) const NOTE: &str = "NOT-CURRENT.txt";

/// A report removed from the output folder, and why it was not current.
pub(crate) struct Removed {
    pub(crate) file: String,
    pub(crate) why: String,
}

/// Removes the files of the exports this build did not produce, and writes or removes the note.
/// Returns what was removed; a file that cannot be removed is left, and said in the note.
pub(crate) fn settle(
    ctx: &Context<'_>,
    outcomes: &[StageOutcome],
    started_at: &str,
) -> Vec<Removed> {
    let out = ctx.project.out_dir(ctx.month);
    let note = out.join(NOTE);
    let missing: Vec<&StageOutcome> = outcomes
        .iter()
        .filter(|o| o.kind == StageKind::Export)
        .filter(|o| matches!(o.action, Action::Skipped | Action::Failed))
        .collect();
    if missing.is_empty() {
        let _ = std::fs::remove_file(&note);
        return Vec::new();
    }
    let mut removed = Vec::new();
    let mut text = format!(
        "The build of {} started at {started_at} did not produce these reports, so they are not here:\n",
        ctx.month
    );
    for outcome in missing {
        let file = ctx.project.exports[&outcome.stage].file().to_string();
        let path = out.join(&file);
        let why = outcome
            .reason
            .lines()
            .next()
            .unwrap_or_default()
            .to_string();
        let _ = writeln!(text, "  {file}: {why}");
        if path.exists() && std::fs::remove_file(&path).is_ok() {
            removed.push(Removed {
                file: ctx.project.relative(&path).display().to_string(),
                why,
            });
        }
    }
    let _ = write!(
        text,
        "The reports of the last good build of {month} are in archive/{month}/ (`winebuild archive list`).\n\
         Fix what the build reported (`winebuild log last` shows it again), then build again.\n",
        month = ctx.month
    );
    // Only if there is a folder to explain: a first build that failed leaves nothing to mislead.
    if out.is_dir() {
        let _ = crate::files::write_atomic(&note, text.as_bytes());
    }
    removed
}
