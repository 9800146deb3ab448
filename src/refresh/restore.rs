//! The rules for starting from the state file: what of it is served before the first
//! refresh, and what the change counters start from.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Observer, Options};
use crate::changes::{Counters, History};
use crate::publication::Published;
use crate::state::{self, AuditCursor};

/// What a refresher starts from.
pub(super) struct Restored {
    /// Served until the first refresh ends: the stored inventory, or nothing.
    pub(super) published: Published,
    /// Change counters covering every repository served.
    pub(super) counters: Counters,
    /// How far each configured namespace's audit log was read.
    pub(super) audit_log: BTreeMap<String, AuditCursor>,
    /// The recent changes, as the file kept them.
    pub(super) history: History,
}

/// The state file's inventory, if there is one that can be read.
///
/// Namespaces and repositories no longer configured are not served. Every stored repository gets its change
/// series from the start, so that changes the first refresh finds show as increases. The
/// stored inventory is served with no refresh finished (`dockerhub_up` 0, not ready) until
/// the first refresh of this process ends.
pub(super) fn restore(options: &Options, observer: &dyn Observer) -> Restored {
    let mut counters = Counters::default();
    let Some(mut restored) = options.state_file.as_deref().and_then(state::load) else {
        return Restored {
            published: Published::empty(),
            counters,
            audit_log: BTreeMap::new(),
            history: History::default(),
        };
    };
    restored
        .snapshot
        .retain_configured(&options.namespaces, &options.repositories);
    let last_success = restored.last_success();
    if let Some(t) = last_success {
        observer.restored(t);
    }
    counters.cover(&restored.snapshot);
    // Kept whole, also of namespaces no longer configured: it is what was seen.
    let history = History::from_stored(restored.changes);
    let published = Published::new(
        Arc::new(restored.snapshot),
        None,
        last_success,
        &counters,
        &history,
        &options.render,
    );
    if published.exposition_failed() {
        observer.exposition_failed();
    }
    let mut audit_log = restored.audit_log;
    audit_log.retain(|ns, _| {
        options.namespaces.contains(ns) || options.repositories.iter().any(|(n, _)| n == ns)
    });
    Restored {
        published,
        counters,
        audit_log,
        history,
    }
}
