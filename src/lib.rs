//! winebuild: an incremental data build tool with a content-addressed cache.
//!
//! A project is `winebuild.toml` (sources, exports) plus `models/*.sql`; a build reads one month of
//! input files, runs every model's DataFusion SQL in dependency order, and writes the exports,
//! reusing every stage whose inputs and definition did not change. `ARCHITECTURE.md` at the top
//! of the repository is the map; each module's own documentation says what it owns and the rules
//! it keeps.
//!
//! Modules, in the direction data flows (a module uses only those before it):
//! [`error`], [`text`], [`files`], [`month`] (shared vocabulary) → [`cluster`] → [`project`] →
//! [`graph`] → [`table`] → [`sources`] → [`store`] → [`engine`] → [`checks`] → [`export`] →
//! [`archive`] → [`build`] → [`runs`] → [`diff`] → [`render`] → [`notify`] → [`schedule`] →
//! [`sample`] → [`cli`].

#[cfg(test)]
mod alloc_meter;
mod archive;
mod artifacts;
mod blobs;
mod build;
mod checks;
pub mod cli;
mod cluster;
mod diff;
mod engine;
mod error;
mod export;
mod files;
mod graph;
mod month;
mod notify;
mod project;
mod remote;
mod render;
mod runs;
mod sample;
mod schedule;
mod sources;
mod store;
mod table;
mod text;
mod unit;
