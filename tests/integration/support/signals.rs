//! The exporter set up for change signals (webhooks and audit logs): acme with an account of
//! its own that may read acme's audit log, refreshing once an hour unless told otherwise, and
//! the webhook token it is given. Shared by `signals`, `webhooks` and `audit_log`.

use std::path::PathBuf;

use simhub::SimHub;

use super::fixtures::acme;
use super::{hub_args, write};

/// The webhook token the tests configure.
pub const TOKEN: &str = "4f1c0a9be3d2c5a7f60e1b9d8c7a6b5e";
/// The exporter's account at the simulated Hub, which may read acme's audit log.
pub const USER: &str = "acme-bot";
/// The password of [`USER`].
pub const SECRET: &str = "dckr_pat_signals";

/// acme's repositories, and an account of acme's.
pub fn hub() -> SimHub {
    let hub = acme();
    hub.add_account(USER, SECRET, &["acme"]);
    hub
}

/// Arguments for an exporter of acme as acme-bot that refreshes once an hour, then `extra`.
pub fn args(hub_url: &str, extra: &[&str]) -> Vec<String> {
    refreshing_every("1h", hub_url, extra)
}

/// Arguments for an exporter of acme as acme-bot that refreshes every `interval`, then
/// `extra`.
pub fn refreshing_every(interval: &str, hub_url: &str, extra: &[&str]) -> Vec<String> {
    let mut args = hub_args(
        hub_url,
        "acme",
        &["--hub.username", USER, "--refresh.interval", interval],
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Writes [`TOKEN`] to a file in `dir`; the file's path.
pub fn token_file(dir: &std::path::Path) -> PathBuf {
    write(dir, "webhook-token", &format!("{TOKEN}\n"))
}

/// `p` as an argument.
pub fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}
