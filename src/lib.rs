//! winebuild: an incremental data build tool with a content-addressed cache.
//!
//! A project is `winebuild.toml` (sources, exports) plus `models/*.sql`; a build reads one month of
//! input files, runs every model's DataFusion SQL in dependency order, and writes the exports,
//! reusing every stage whose inputs and definition did not change.
//!
//! Modules, in the direction data flows (a module uses only those before it):
//! [`project`] → [`table`] → [`sources`] → [`graph`] → [`store`] → [`engine`] → [`checks`] →
//! [`export`] → [`archive`] → [`build`] → [`diff`] → [`runs`] → [`report`] → [`notify`] →
//! [`schedule`] → [`sample`] → [`cli`].

pub mod archive;
pub mod build;
pub mod checks;
pub mod cli;
pub mod diff;
pub mod engine;
pub mod export;
pub mod graph;
pub mod notify;
pub mod project;
pub mod report;
pub mod runs;
pub mod sample;
pub mod schedule;
pub mod sources;
pub mod store;
pub mod table;
