//! What a refresh tells people: changes, failures and listings the Hub cut short in the log,
//! and the state file.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use tracing::{info, warn};

use crate::changes::{Change, History};
use crate::error::{Error, ErrorKind};
use crate::inventory::Snapshot;
use crate::state::AuditCursor;

/// Saves the state file, logging (not failing) when it cannot be written.
pub(super) fn save_state(
    path: &std::path::Path,
    snapshot: &Snapshot,
    last_success: Option<SystemTime>,
    audit_log: &BTreeMap<String, AuditCursor>,
    history: &History,
) {
    if let Err(e) = crate::state::save(path, snapshot, last_success, audit_log, history.entries()) {
        warn!(path = %path.display(), error = %e, "writing the state file failed; the previous one stays");
    }
}

/// Logs every change at info level, so that a person can see what happened without PromQL;
/// with the account that made it where an audit-log event told (`actor`), never as a label.
pub(super) fn log_changes<'a>(
    changes: &'a [Change],
    actor: impl Fn(&'a Change) -> Option<&'a str>,
) {
    for change in changes {
        let actor = actor(change).map(tracing::field::display);
        match change {
            Change::TagAdded {
                namespace,
                repository,
                tag,
                digest,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, tag = %tag, digest = %digest, actor, "tag added")
            }
            Change::TagRemoved {
                namespace,
                repository,
                tag,
                digest,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, tag = %tag, digest = %digest, actor, "tag removed")
            }
            Change::TagDigestChanged {
                namespace,
                repository,
                tag,
                old_digest,
                new_digest,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, tag = %tag, old_digest = %old_digest, new_digest = %new_digest, actor, "tag digest changed")
            }
            Change::RepositoryAdded {
                namespace,
                repository,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, actor, "repository added")
            }
            Change::RepositoryRemoved {
                namespace,
                repository,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, actor, "repository removed")
            }
        }
    }
}

/// Logs the failures of one refresh once, grouped by kind, instead of once per request.
pub(super) fn report_failures(failures: &[(String, Error)]) {
    let mut by_kind: BTreeMap<ErrorKind, Vec<&(String, Error)>> = BTreeMap::new();
    for f in failures {
        by_kind.entry(f.1.kind()).or_default().push(f);
    }
    for (kind, list) in by_kind {
        let (what, first) = list[0];
        warn!(
            kind = %kind,
            listings = list.len(),
            first = %what,
            error = %first,
            "listings failed; their previous data is kept"
        );
    }
}

/// The repositories whose listing the Hub cut short that the log has told of: each once per
/// process, since the cut repeats at every refresh and the fix is the same.
#[derive(Debug, Default)]
pub(super) struct Capped(Mutex<HashSet<(String, String)>>);

impl Capped {
    /// Warns that the Hub listed only `listed` of the `count` tags of `namespace/repository`
    /// to an anonymous reader, and how to list them all, unless it was said before.
    pub(super) fn warn_once(&self, namespace: &str, repository: &str, listed: usize, count: u64) {
        let first = self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((namespace.to_string(), repository.to_string()));
        if first {
            warn!(
                hub_namespace = %namespace,
                repository = %repository,
                tags_listed = listed,
                tags = count,
                "the Hub lists only the newest {listed} of the repository's {count} tags to anonymous requests; the others get no series and no change counts. To list them all, sign in: --hub.username with a personal access token"
            );
        }
    }
}
