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
