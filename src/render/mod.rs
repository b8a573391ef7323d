//! Every human format winebuild prints, as pure functions from results to text: build and plan
//! lines, check results, archive listings, the run log, diff tables and Markdown, the DAG as
//! Mermaid or DOT, and the HTML report.
//!
//! Rules it keeps: rendering decides words and layout, never where they go (stdout or stderr,
//! quiet or verbose is the CLI's printer) and never what happened (that is the library's); the
//! same fact is worded by one function, so every format says it the same way.

pub(crate) mod archive;
pub(crate) mod build;
pub(crate) mod dag;
pub(crate) mod diff;
pub(crate) mod html;
pub(crate) mod log;
