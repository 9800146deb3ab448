//! Integration tests: the exporter over real HTTP against the simulated Hub.
//!
//! One test binary with a module per concern; `support` holds everything they share.

mod alerting;
mod audit_log;
mod auth;
mod capped;
mod captures;
mod changes;
mod cli;
mod client;
mod container;
mod dashboard;
mod debian;
mod docs;
mod exposition;
mod failures;
mod faults;
mod healthcheck;
mod hostile;
mod inventory;
mod inventory_command;
mod kubernetes;
mod limits;
mod mirrors;
mod pages;
mod pipeline;
mod pull_limit;
mod reasons;
mod release;
#[cfg(target_os = "linux")]
mod resources;
mod scale;
mod signals;
mod state_file;
mod support;
mod surfaces;
mod systemd;
mod watched;
mod webconfig;
mod webhook_flood;
mod webhooks;
