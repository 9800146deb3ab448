//! Pages built from whatever a hostile or broken Hub could send: any namespace, repository,
//! tag, digest or platform name is shown as escaped text and never becomes markup.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::{Context, escape_into, landing, repository};
use crate::changes::{Change, Counters, History};
use crate::inventory::fixtures::{self, image, snapshot, tag};
use crate::publication::{Published, RefreshResult, RefreshStatus, render};
use crate::testing::cases;
use crate::visible::is_hidden;

/// The elements the pages are made of; any other `<` would be markup from the Hub.
const ELEMENTS: [&str; 26] = [
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "nav", "a",
    "section", "dl", "dt", "dd", "span", "p", "table", "thead", "tbody", "tr", "th", "td", "code",
    "time",
];

/// Text as a hostile Hub could send it, markup characters likely.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![
        "[<>&\"' a-z/=]{1,24}",
        "\\PC{1,24}",
        // Control characters and bidirectional overrides, which must show escaped.
        "[\u{0}-\u{1f}\u{7f}-\u{9f}\u{202a}-\u{202e}\u{2066}-\u{2069}a<]{1,12}",
        Just("<script>alert(1)</script>".to_string()),
        Just("\" onmouseover=\"alert(1)".to_string()),
    ]
}

fn escaped(text: &str) -> String {
    let mut out = String::new();
    escape_into(&mut out, text);
    out
}

/// Every `<` in `page` opens or closes one of [`ELEMENTS`].
fn only_own_markup(page: &str) -> Result<(), TestCaseError> {
    for (i, _) in page.match_indices('<') {
        let rest = page[i + 1..].trim_start_matches('/');
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
            .collect();
        prop_assert!(
            ELEMENTS.contains(&name.as_str()),
            "markup <{}> at {}: {}",
            name,
            i,
            &page[i.saturating_sub(60)..(i + 60).min(page.len())]
        );
    }
    Ok(())
}

/// No character of `page` but the markup's own line breaks would act instead of showing.
fn only_visible(page: &str) -> Result<(), TestCaseError> {
    let hidden = page.chars().find(|c| *c != '\n' && is_hidden(*c));
    prop_assert_eq!(hidden, None);
    Ok(())
}

proptest! {
    #![proptest_config(cases(128))]

    #[test]
    fn names_from_the_hub_are_text_on_every_page(
        namespace in hostile(),
        name in hostile(),
        tag_name in hostile(),
        digest in hostile(),
        os in hostile(),
        architecture in hostile(),
    ) {
        let tags = vec![
            tag(&tag_name, &digest)
                .pushed_at(1_800_000_000.0)
                .with_images(vec![image(&os, &architecture, &os, &digest)]),
        ];
        let mut history = History::default();
        history.record(
            &[Change::TagDigestChanged {
                namespace: namespace.clone(),
                repository: name.clone(),
                tag: tag_name.clone(),
                old_digest: digest.clone(),
                new_digest: digest.clone(),
            }],
            UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        );
        let published = Published::new(
            Arc::new(snapshot(vec![(&namespace, vec![fixtures::repository(&name, Some(tags))])])),
            Some(RefreshStatus {
                result: RefreshResult::Success,
                finished: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                duration: Duration::from_secs(1),
                requests: 1,
            }),
            None,
            &Counters::default(),
            &history,
            &render::Options::default(),
        );
        let namespaces = [namespace.clone()];
        // A mirror whose label is hostile too, lacking the hostile tag.
        let mirrors = [crate::views::Mirror {
            mirror: os.clone(),
            hub_namespace: namespace.clone(),
            last_success: Some(1_800_000_000.0),
            tags: 1,
            repositories: [name.clone()].into(),
            mismatches: [((name.clone(), tag_name.clone()), crate::views::Mismatch::Missing)].into(),
            digests: Default::default(),
        }];
        let context = Context {
            namespaces: &namespaces,
            repositories: &[],
            refresh_interval: Duration::from_secs(60),
            metrics_path: "/metrics",
            quotas: Default::default(),
            mirrors: &mirrors,
        };
        let home = landing(&published, &context, 1).unwrap();
        only_own_markup(&home)?;
        only_visible(&home)?;
        for text in [&namespace, &name, &tag_name, &os] {
            prop_assert!(home.contains(&escaped(text)), "{} missing", text);
        }
        // The digest stands whole in an attribute: quotes escaped there too.
        let title = format!("title=\"{}\"", escaped(&digest));
        prop_assert!(home.contains(&title), "{} missing", title);
        let page = repository(&published, &namespace, &name, 1, "/metrics", &mirrors).unwrap();
        only_own_markup(&page)?;
        only_visible(&page)?;
        prop_assert!(page.contains(&title), "{} missing", title);
        for text in [&tag_name, &os, &architecture] {
            prop_assert!(page.contains(&escaped(text)), "{} missing", text);
        }
        let marked = format!("missing on {}", escaped(&os));
        prop_assert!(page.contains(&marked), "{} missing", marked);
    }
}
