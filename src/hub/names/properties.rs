//! Names from a listing, with everything a URL treats specially: every name the check lets
//! through reaches the Hub as exactly one path segment holding exactly that name.

use proptest::prelude::*;
use reqwest::Url;

use super::{check_name, endpoint};
use crate::testing::*;

/// Names that are often special to a URL path: dots, separators, escapes, whitespace and
/// control characters, non-ASCII; sometimes long.
fn any_name() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '.', '/', '\\', '%', '?', '#', ';', ' ', '\t', '\n', '\r', '\0', '\u{7f}', '\u{85}',
        '\u{2028}', '\u{feff}', 'a', '-', '_', '2', 'é', '😀',
    ]);
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop_oneof![4 => special, 1 => any::<char>()], 0..8)
            .prop_map(|chars| chars.into_iter().collect()),
        prop::sample::select(vec![".", "..", "...", "%2e", "%2E%2e", "a%2Fb", "%00"])
            .prop_map(String::from),
        (250usize..260, prop::sample::select(vec!['a', 'é']))
            .prop_map(|(n, c)| std::iter::repeat_n(c, n).collect()),
    ]
}

fn accepted_name() -> impl Strategy<Value = String> {
    any_name().prop_filter("a name the check lets through", |n| check_name(n).is_ok())
}

fn base() -> impl Strategy<Value = Url> {
    prop::sample::select(vec![
        "https://hub.docker.com",
        "https://hub.docker.com/",
        "http://127.0.0.1:8080/prefix/",
        "http://[::1]:1/a/b",
    ])
    .prop_map(|b| Url::parse(b).expect("a base URL"))
}

/// A path segment as the server reads it: percent-decoded.
fn decoded(segment: &str) -> Result<String, TestCaseError> {
    percent_decode(segment).map_err(TestCaseError::fail)
}

fn percent_decode(segment: &str) -> Result<String, String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("a bad escape in {segment:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|e| format!("not UTF-8 after decoding: {e}"))
}

proptest! {
    #![proptest_config(cases(2048))]

    #[test]
    fn an_accepted_name_is_one_segment_holding_exactly_that_name(
        base in base(),
        namespace in accepted_name(),
        repository in accepted_name(),
    ) {
        let url = endpoint(&base, &["v2", "namespaces", &namespace, "repositories", &repository, "tags"]);
        // As sent: the text of the URL, parsed again by whoever receives it.
        let sent = Url::parse(url.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(sent.host_str(), base.host_str());
        prop_assert_eq!(sent.query(), None);
        prop_assert_eq!(sent.fragment(), None);
        let segments: Vec<&str> = sent.path_segments().expect("a path").collect();
        let prefix: Vec<&str> = base.path_segments().expect("a path").filter(|s| !s.is_empty()).collect();
        prop_assert_eq!(segments.len(), prefix.len() + 6, "{}", sent);
        prop_assert_eq!(&segments[..prefix.len()], &prefix[..]);
        let names: Vec<String> = segments[prefix.len()..]
            .iter()
            .map(|s| decoded(s))
            .collect::<Result<_, _>>()?;
        prop_assert_eq!(
            names,
            ["v2", "namespaces", namespace.as_str(), "repositories", repository.as_str(), "tags"]
        );
    }

}
