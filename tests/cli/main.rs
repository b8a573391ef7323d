//! The one integration-test binary: the real `winebuild` on fixture projects in temp dirs.

mod artifacts;
mod build;
mod checks;
mod cluster;
mod determinism;
mod history;
mod hostile;
mod inference;
mod newuser;
mod operations;
mod pipeline;
mod properties;
mod readme;
mod remote;
mod s3server;
mod selection;
mod support;
mod unit_tests;
mod workbooks;
