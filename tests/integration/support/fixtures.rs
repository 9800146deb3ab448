//! Simulated Hubs with data several tests share.

use simhub::{Repo, SimHub, TagSpec};

/// acme/api with 4 tags and acme/web with 2.
pub fn api_and_web() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(4));
    hub.add_repo("acme", Repo::new("web").with_tags(2));
    hub
}

/// acme/api with a version tag, `latest` and `nightly`; acme/web with more than a page of
/// tags; acme/old with three.
pub fn acme() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo(
        "acme",
        Repo::new("api")
            .with_tag(TagSpec::new("1.4.2"))
            .with_tag(TagSpec::new("latest"))
            .with_tag(TagSpec::new("nightly")),
    );
    hub.add_repo("acme", Repo::new("web").with_tags(120));
    hub.add_repo("acme", Repo::new("old").with_tags(3));
    hub
}

/// The tags of acme/agent, as many as portainer/agent had in 2026: more than the 1,000 the
/// Hub lists to anonymous readers.
pub const AGENT_TAGS: usize = 1_729;

/// acme/agent with [`AGENT_TAGS`] tags, acme/small with five, and the account acme-bot
/// (secret `dckr_pat_agent`) that sees acme.
pub fn agent() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("agent").with_tags(AGENT_TAGS));
    hub.add_repo("acme", Repo::new("small").with_tags(5));
    hub.add_account("acme-bot", "dckr_pat_agent", &["acme"]);
    hub
}
