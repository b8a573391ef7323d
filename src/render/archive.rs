//! The archive as people read it: `archive list`, `archive show` and `archive verify`.

use std::fmt::Write as _;

use crate::archive::{Manifest, Problem};
use crate::checks::CheckStatus;
use crate::text::bytes;

/// `2026-09  r1  built …  13 files, 376.0 KiB`.
pub(crate) fn list_line(manifest: &Manifest) -> String {
    format!(
        "{}  r{}  built {}  {} files, {}",
        manifest.month,
        manifest.revision,
        manifest.built_at,
        manifest.files.len(),
        bytes(manifest.files.values().map(|f| f.bytes).sum())
    )
}

/// One revision: its sources, stages and checks.
pub(crate) fn show(manifest: &Manifest, revisions: &[u32]) -> String {
    let revisions: Vec<String> = revisions.iter().map(|r| format!("r{r}")).collect();
    let mut out = format!(
        "{} r{} (revisions: {}), built {} by winebuild {}\nsources:\n",
        manifest.month,
        manifest.revision,
        revisions.join(", "),
        manifest.built_at,
        manifest.winebuild_version
    );
    for s in &manifest.sources {
        let _ = writeln!(
            out,
            "  {:<14} {:<14} {:>10}  {}",
            s.source,
            s.file,
            bytes(s.bytes),
            s.blake3.short()
        );
    }
    out.push_str("stages:\n");
    for s in &manifest.stages {
        // The count is aligned, not the word: `1 row` and `30 rows` end apart, as they always did.
        let line = format!(
            "  {:<7} {:<16} {:>7} row{}  {}",
            s.kind.to_string(),
            s.stage,
            s.rows,
            if s.rows == 1 { "" } else { "s" },
            s.file.as_deref().unwrap_or("")
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
    let passed = manifest
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Pass)
        .count();
    let _ = writeln!(out, "checks: {passed} of {} passed", manifest.checks.len());
    for c in manifest
        .checks
        .iter()
        .filter(|c| c.status != CheckStatus::Pass)
    {
        let _ = writeln!(
            out,
            "  {:<7} {}  {}",
            c.status.to_string(),
            c.check,
            c.message
        );
    }
    out
}

/// `error: archive/2026-09/r1/exports/vins_premium.csv: content changed (blake3 differs)`.
pub(crate) fn problem(problem: &Problem) -> String {
    format!(
        "error: archive/{}/r{}/{}: {}",
        problem.month, problem.revision, problem.file, problem.problem
    )
}

/// `verified 39 file(s) in 3 revision(s): all intact`.
pub(crate) fn verified(files: usize, revisions: usize, problems: usize) -> String {
    let verdict = if problems == 0 {
        "all intact".to_string()
    } else {
        format!("{problems} problem(s)")
    };
    format!("verified {files} file(s) in {revisions} revision(s): {verdict}")
}
