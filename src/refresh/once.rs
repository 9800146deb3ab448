//! A single refresh, for `dockerhub_exporter inventory`: the Hub read once, exactly as each
//! refresh of the exporter reads it (the same client, limiter, retries, filters, merge and
//! logging of failures), and what it published handed back instead of served.
//!
//! It starts nothing beside the refresh: no loop, no re-reads, no audit log. Whether a state
//! file is written is the options' to say; the command's name none.

use std::sync::Arc;

use super::Refresher;
use crate::publication::Published;

impl Refresher {
    /// Runs one refresh and returns what it published: the snapshot, and in `last_refresh`
    /// how the refresh ended (`None` when it could not publish at all).
    pub(crate) async fn read_once(self) -> Arc<Published> {
        self.shared.refresh().await;
        Arc::clone(&self.shared.publish.borrow())
    }
}
