//! The two headers of the distribution API that need parsing: the challenge of a 401
//! (`WWW-Authenticate: Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`, RFC 7235
//! syntax) and the next page of a tags list (`Link: </v2/…/tags/list?last=X&n=N>;
//! rel="next"`, RFC 8288, relative or absolute). Pure functions of text: any input is parsed
//! or refused, never a panic.

use reqwest::Url;

/// What a registry asks for in a 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Challenge {
    /// HTTP basic authentication on every request.
    Basic,
    /// A token from `realm`, for `service` (and the `scope` the registry named, if any).
    Bearer {
        /// The token service's URL.
        realm: String,
        /// The `service` parameter, if given.
        service: Option<String>,
        /// The `scope` parameter, if given.
        scope: Option<String>,
    },
}

/// The challenge of one `WWW-Authenticate` value; `None` for a scheme other than Basic
/// and Bearer, or a Bearer challenge without a realm.
pub(super) fn challenge(value: &str) -> Option<Challenge> {
    let value = value.trim();
    let (scheme, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    let params = params(rest);
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    if scheme.eq_ignore_ascii_case("basic") {
        Some(Challenge::Basic)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Some(Challenge::Bearer {
            realm: get("realm").filter(|r| !r.is_empty())?,
            service: get("service"),
            scope: get("scope"),
        })
    } else {
        None
    }
}

/// `name=value` pairs separated by commas, values as tokens or quoted strings with
/// backslash escapes; what does not parse ends the list.
fn params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_ascii_whitespace() || *c == ',')
        {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_string();
        if name.is_empty() || chars.next() != Some('=') {
            return out;
        }
        while chars.next_if(|c| c.is_ascii_whitespace()).is_some() {}
        let value = if chars.next_if_eq(&'"').is_some() {
            let mut value = String::new();
            loop {
                match chars.next() {
                    None => return out,
                    Some('"') => break,
                    Some('\\') => value.extend(chars.next()),
                    Some(c) => value.push(c),
                }
            }
            value
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string()
        };
        out.push((name, value));
    }
}

/// The `rel="next"` target of a `Link` value, resolved against `base` (the URL that was
/// asked); an error for a target on another origin than `base`'s, which would carry the
/// registry's credentials elsewhere.
pub(super) fn next_link(value: &str, base: &Url) -> Result<Option<Url>, String> {
    for link in split_links(value) {
        let Some((target, params)) = link
            .trim()
            .strip_prefix('<')
            .and_then(|l| l.split_once('>'))
        else {
            continue;
        };
        let is_next = params.split(';').any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if !is_next {
            continue;
        }
        let url = base
            .join(target.trim())
            .map_err(|e| format!("the next link {target:?} is not a URL: {e}"))?;
        if url.origin() != base.origin() {
            return Err(format!("the next link {url} leaves the registry"));
        }
        return Ok(Some(url));
    }
    Ok(None)
}

/// The links of a `Link` value, split at commas outside `<…>`.
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut inside) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' => inside = true,
            '>' => inside = false,
            ',' if !inside => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_bearer_challenge_names_realm_service_and_scope() {
        assert_eq!(
            challenge(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/api:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:acme/api:pull".into()),
            })
        );
        assert_eq!(
            challenge(
                r#"bearer  realm = "https://q/v2/auth" , service=quay.io, error="invalid_token""#
            ),
            Some(Challenge::Bearer {
                realm: "https://q/v2/auth".into(),
                service: Some("quay.io".into()),
                scope: None,
            })
        );
        assert_eq!(
            challenge(r#"Bearer realm="a\"b""#),
            Some(Challenge::Bearer {
                realm: "a\"b".into(),
                service: None,
                scope: None
            })
        );
    }

    #[test]
    fn basic_with_or_without_parameters_and_unknown_schemes() {
        assert_eq!(
            challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            challenge(r#"Basic realm="https://1.dkr.ecr.aws/",service="ecr.amazonaws.com""#),
            Some(Challenge::Basic)
        );
        assert_eq!(challenge("Basic"), Some(Challenge::Basic));
        assert_eq!(challenge(r#"Negotiate abc"#), None);
        assert_eq!(challenge(r#"Bearer service="x""#), None);
        assert_eq!(challenge(r#"Bearer realm="unterminated"#), None);
        assert_eq!(challenge(""), None);
    }

    #[test]
    fn relative_and_absolute_next_links_resolve_on_the_same_registry() {
        let base = Url::parse("http://127.0.0.1:5000/v2/acme/api/tags/list?n=1000").unwrap();
        assert_eq!(
            next_link(r#"</v2/acme/api/tags/list?last=b&n=2>; rel="next""#, &base)
                .unwrap()
                .unwrap()
                .as_str(),
            "http://127.0.0.1:5000/v2/acme/api/tags/list?last=b&n=2"
        );
        assert_eq!(
            next_link(
                r#"<http://127.0.0.1:5000/v2/x/tags/list?n=100&last=c>; rel=next, <http://127.0.0.1:5000/other>; rel="prev""#,
                &base
            )
            .unwrap()
            .unwrap()
            .as_str(),
            "http://127.0.0.1:5000/v2/x/tags/list?n=100&last=c"
        );
        assert_eq!(
            next_link(r#"<http://127.0.0.1:5000/p>; rel="prev""#, &base).unwrap(),
            None
        );
        assert_eq!(next_link("", &base).unwrap(), None);
        assert!(next_link(r#"<https://evil.example/v2/x>; rel="next""#, &base).is_err());
        assert!(next_link(r#"<http://127.0.0.1:5001/v2/x>; rel="next""#, &base).is_err());
    }

    proptest! {
        #[test]
        fn any_header_text_is_parsed_or_refused_without_panic(text in ".{0,120}") {
            let _ = challenge(&text);
            let base = Url::parse("https://r.example/v2/a/tags/list").unwrap();
            if let Ok(Some(url)) = next_link(&text, &base) {
                prop_assert_eq!(url.origin(), base.origin());
            }
        }

        #[test]
        fn quoted_parameters_survive_any_content(realm in "[ -~]{1,40}", service in "[a-z.]{1,20}") {
            let quoted = realm.replace('\\', "\\\\").replace('"', "\\\"");
            let header = format!(r#"Bearer realm="{quoted}",service="{service}""#);
            prop_assert_eq!(
                challenge(&header),
                Some(Challenge::Bearer { realm, service: Some(service), scope: None })
            );
        }
    }
}
