//! Parsing of the registry's pull-limit headers, `ratelimit-limit` and `ratelimit-remaining`.
//!
//! Docker Hub's registry sends `100;w=21600`: a count of pulls, and the window it applies to
//! in seconds (live answers of 2026 say `w=3600` while the documentation still says six
//! hours, so the window is read from every answer, never assumed). The parser also takes a
//! bare count (`100`), a window without a count (`;w=21600`, seen live: the limit is there but
//! its count is not told), spaces around every part, parameters it does not know (skipped),
//! parameter names in any case, and a comma-separated list of policies, the IETF RateLimit
//! draft's form, of which the first counts (the others must still read). Header names are
//! compared without case, as HTTP says; the same values under `x-ratelimit-limit` and
//! `x-ratelimit-remaining`, which live answers add, are read where the names without `x-` are
//! absent, and ignored where both come. An answer with neither header is an account without a
//! limit; anything else that does not read is an error that says what is wrong, never a panic
//! and never a made-up 0. Nothing here sends, logs or counts.

use std::time::Duration;

use reqwest::header::HeaderMap;

/// The header with the pulls the window allows.
pub(crate) const LIMIT: &str = "ratelimit-limit";

/// The header with the pulls left in the current window.
pub(crate) const REMAINING: &str = "ratelimit-remaining";

/// [`LIMIT`] as live answers repeat it.
pub(crate) const X_LIMIT: &str = "x-ratelimit-limit";

/// [`REMAINING`] as live answers repeat it.
pub(crate) const X_REMAINING: &str = "x-ratelimit-remaining";

/// The header naming what the quota is counted for: the client's IP address, or the account.
pub(crate) const SOURCE: &str = "docker-ratelimit-source";

/// The most of a header value quoted in an error.
const MAX_QUOTED_CHARS: usize = 100;

/// One header's policy: a count of pulls, and the window it applies to when the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Pulls; `None` when the header names a window without a count (`;w=21600`).
    pub(crate) count: Option<u64>,
    /// The window (`w=`, in seconds), if given.
    pub(crate) window: Option<Duration>,
}

/// What the registry says of the pull quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PullLimit {
    /// The registry answered with both headers.
    Limited {
        /// Pulls the window allows (`ratelimit-limit`); `None` when the header gave no count.
        limit: Option<u64>,
        /// Pulls left in the current window (`ratelimit-remaining`); `None` when the header
        /// gave no count.
        remaining: Option<u64>,
        /// The window, if either header names one.
        window: Option<Duration>,
    },
    /// The registry answered without either header: no limit applies.
    Unlimited,
}

/// The pull quota an answer of the registry reports.
pub(crate) fn pull_limit(headers: &HeaderMap) -> Result<PullLimit, String> {
    let limit = value(headers, LIMIT, X_LIMIT)?;
    let remaining = value(headers, REMAINING, X_REMAINING)?;
    match (limit, remaining) {
        (None, None) => Ok(PullLimit::Unlimited),
        (Some(_), None) => Err(format!("{LIMIT} came without {REMAINING}")),
        (None, Some(_)) => Err(format!("{REMAINING} came without {LIMIT}")),
        (Some(limit_text), Some(remaining_text)) => {
            let read = |name: &str, text: &str| {
                parse_quota(text).map_err(|why| format!("{name} {}: {why}", shown(text)))
            };
            let limit = read(LIMIT, &limit_text)?;
            let remaining = read(REMAINING, &remaining_text)?;
            let window = match (limit.window, remaining.window) {
                (Some(a), Some(b)) if a != b => {
                    return Err(format!(
                        "{LIMIT} and {REMAINING} name different windows ({}s and {}s)",
                        a.as_secs(),
                        b.as_secs()
                    ));
                }
                (a, b) => a.or(b),
            };
            Ok(PullLimit::Limited {
                limit: limit.count,
                remaining: remaining.count,
                window,
            })
        }
    }
}

/// The text of header `name`, or of `x_name` when there is no `name`: each one's lines joined
/// by commas, as HTTP joins a repeated field; `None` when neither is there, an error when
/// the one read is not text.
fn value(headers: &HeaderMap, name: &str, x_name: &str) -> Result<Option<String>, String> {
    match lines(headers, name)? {
        Some(text) => Ok(Some(text)),
        None => lines(headers, x_name),
    }
}

/// The text of header `name`, its lines joined by commas as HTTP joins a repeated field;
/// `None` when absent, an error when it is not text.
fn lines(headers: &HeaderMap, name: &str) -> Result<Option<String>, String> {
    let mut lines = Vec::new();
    for line in headers.get_all(name) {
        lines.push(
            line.to_str()
                .map_err(|_| format!("{name} holds bytes that are not text"))?,
        );
    }
    Ok((!lines.is_empty()).then(|| lines.join(",")))
}

/// A header value: one or more policies separated by commas, the first of which counts.
pub(crate) fn parse_quota(text: &str) -> Result<Quota, String> {
    let mut policies = text.split(',');
    // `split` yields at least one item, "" for an empty text, which `parse_policy` refuses.
    let first = parse_policy(policies.next().unwrap_or_default())?;
    for other in policies {
        parse_policy(other)?;
    }
    Ok(first)
}

/// `[COUNT][;NAME[=VALUE]]...`; `w` (in any case) is the window in seconds, at most once. The
/// count may be left out only where a window is named (`;w=21600`).
fn parse_policy(text: &str) -> Result<Quota, String> {
    let mut parts = text.split(';');
    let count = parts.next().unwrap_or_default().trim();
    let count = match count {
        "" => None,
        digits => Some(whole_number(digits).ok_or("the count is not a whole number")?),
    };
    let mut window = None;
    for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = match parameter.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (parameter, None),
        };
        if !is_token(name) {
            return Err("a parameter has no proper name".into());
        }
        if name.eq_ignore_ascii_case("w") {
            let seconds = value
                .and_then(whole_number)
                .filter(|s| *s > 0)
                .ok_or("the window w= is not a positive whole number of seconds")?;
            if window.replace(Duration::from_secs(seconds)).is_some() {
                return Err("the window w= is given twice".into());
            }
        }
    }
    if count.is_none() && window.is_none() {
        return Err("neither a count nor a window".into());
    }
    Ok(Quota { count, window })
}

/// Digits only (no sign, no fraction), within `u64`.
fn whole_number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A parameter name: letters, digits and `-_.*`, not empty.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*'))
}

/// A header value as an error quotes it: in quotes, escaped, cut short.
fn shown(text: &str) -> String {
    match text.char_indices().nth(MAX_QUOTED_CHARS) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    const HOURS_6: Option<Duration> = Some(Duration::from_secs(21_600));

    fn quota(count: u64, window: Option<Duration>) -> Quota {
        Quota {
            count: Some(count),
            window,
        }
    }

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                // Names are given in any case; HeaderName keeps them lower-case.
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn the_registrys_own_form_gives_the_count_and_the_window() {
        assert_eq!(parse_quota("100;w=21600"), Ok(quota(100, HOURS_6)));
        assert_eq!(parse_quota("76;w=21600"), Ok(quota(76, HOURS_6)));
        assert_eq!(parse_quota("0;w=21600"), Ok(quota(0, HOURS_6)));
    }

    #[test]
    fn a_bare_count_has_no_window() {
        assert_eq!(parse_quota("100"), Ok(quota(100, None)));
        assert_eq!(parse_quota(" 100 "), Ok(quota(100, None)));
    }

    #[test]
    fn spaces_unknown_parameters_and_the_case_of_names_do_not_matter() {
        for text in [
            " 100 ; w = 21600 ",
            "100;W=21600",
            "100;comment=\"free\";w=21600",
            "100;w=21600;policy=anonymous",
            "100;flag;w=21600",
            "100;;w=21600;",
            "\t100\t;\tw=21600",
        ] {
            assert_eq!(parse_quota(text), Ok(quota(100, HOURS_6)), "{text:?}");
        }
    }

    #[test]
    fn of_several_policies_the_first_counts() {
        assert_eq!(
            parse_quota("100;w=21600, 200;w=86400"),
            Ok(quota(100, HOURS_6))
        );
        assert!(parse_quota("100;w=21600, lots").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_number() {
        for text in [
            "",
            " ",
            ";",
            ";flag",
            "-1;w=21600",
            "+100",
            "1.5;w=21600",
            "1e3",
            "lots",
            "100;w=",
            "100;w=0",
            "100;w=-5",
            "100;w=6h",
            "100;w=1;w=2",
            "100;=5",
            "100;w x=5",
            "18446744073709551616",
            "100;w=18446744073709551616",
            ",100",
        ] {
            assert!(parse_quota(text).is_err(), "{text:?} read");
        }
        assert_eq!(
            parse_quota("18446744073709551615"),
            Ok(quota(u64::MAX, None))
        );
    }

    #[test]
    fn both_headers_read_in_any_case_make_a_limit() {
        let h = headers(&[
            ("RateLimit-Limit", b"100;w=21600"),
            ("RATELIMIT-REMAINING", b"76;w=21600"),
            ("Docker-RateLimit-Source", b"192.0.2.1"),
        ]);
        assert_eq!(
            pull_limit(&h),
            Ok(PullLimit::Limited {
                limit: Some(100),
                remaining: Some(76),
                window: HOURS_6
            })
        );
    }

    #[test]
    fn a_window_in_one_header_serves_for_both() {
        let h = headers(&[(LIMIT, b"200"), (REMAINING, b"3;w=3600")]);
        assert_eq!(
            pull_limit(&h),
            Ok(PullLimit::Limited {
                limit: Some(200),
                remaining: Some(3),
                window: Some(Duration::from_secs(3600))
            })
        );
        let h = headers(&[(LIMIT, b"200"), (REMAINING, b"3")]);
        assert_eq!(
            pull_limit(&h),
            Ok(PullLimit::Limited {
                limit: Some(200),
                remaining: Some(3),
                window: None
            })
        );
    }

    #[test]
    fn no_headers_mean_no_limit() {
        assert_eq!(pull_limit(&HeaderMap::new()), Ok(PullLimit::Unlimited));
        let only_source = headers(&[(SOURCE, b"3f7c0c5e-uuid")]);
        assert_eq!(pull_limit(&only_source), Ok(PullLimit::Unlimited));
    }

    #[test]
    fn half_a_limit_or_a_bad_value_is_an_error_naming_the_header() {
        let only_limit = headers(&[(LIMIT, b"100;w=21600")]);
        let err = pull_limit(&only_limit).unwrap_err();
        assert!(err.contains(REMAINING), "{err}");
        let only_remaining = headers(&[(REMAINING, b"100;w=21600")]);
        assert!(pull_limit(&only_remaining).is_err());
        let garbage = headers(&[(LIMIT, b"lots;w=21600"), (REMAINING, b"76;w=21600")]);
        let err = pull_limit(&garbage).unwrap_err();
        assert!(
            err.starts_with(LIMIT) && err.contains("\"lots;w=21600\""),
            "{err}"
        );
        let binary = headers(&[(LIMIT, b"100\xff"), (REMAINING, b"76")]);
        assert!(pull_limit(&binary).unwrap_err().contains("not text"));
        let windows = headers(&[(LIMIT, b"100;w=21600"), (REMAINING, b"76;w=3600")]);
        assert!(
            pull_limit(&windows)
                .unwrap_err()
                .contains("different windows")
        );
    }

    /// The header lines of a captured answer, `Name: value` each.
    fn captured(text: &str) -> HeaderMap {
        let pairs: Vec<(&str, &[u8])> = text
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(name, value)| (name, value.as_bytes()))
            .collect();
        headers(&pairs)
    }

    #[test]
    fn a_window_without_a_count_is_a_limit_whose_counts_are_not_told() {
        assert_eq!(
            parse_quota(";w=21600"),
            Ok(Quota {
                count: None,
                window: HOURS_6
            })
        );
        // Both headers so, as captured from the real registry (docker/hub-feedback#2081).
        let h = captured(include_str!(
            "../../tests/fixtures/hub/registry_ratelimit_headers_empty_value.txt"
        ));
        assert_eq!(
            pull_limit(&h),
            Ok(PullLimit::Limited {
                limit: None,
                remaining: None,
                window: HOURS_6
            })
        );
        let one = headers(&[(LIMIT, b";w=21600"), (REMAINING, b"76;w=21600")]);
        assert_eq!(
            pull_limit(&one),
            Ok(PullLimit::Limited {
                limit: None,
                remaining: Some(76),
                window: HOURS_6
            })
        );
    }

    #[test]
    fn the_x_names_are_read_where_the_plain_ones_are_absent_and_ignored_where_both_come() {
        let hour = Some(Duration::from_secs(3_600));
        let only_x = headers(&[
            ("X-RateLimit-Limit", b"100;w=3600"),
            ("X-RateLimit-Remaining", b"42;w=3600"),
        ]);
        assert_eq!(
            pull_limit(&only_x),
            Ok(PullLimit::Limited {
                limit: Some(100),
                remaining: Some(42),
                window: hour
            })
        );
        // As live answers come: both names, read once (not as a list of two policies).
        let both = headers(&[
            (LIMIT, b"100;w=3600"),
            (REMAINING, b"42;w=3600"),
            (X_LIMIT, b"100;w=3600"),
            (X_REMAINING, b"not read"),
        ]);
        assert_eq!(pull_limit(&both), pull_limit(&only_x));
        let mixed = headers(&[(LIMIT, b"100;w=3600"), (X_REMAINING, b"42;w=3600")]);
        assert_eq!(pull_limit(&mixed), pull_limit(&only_x));
        let half = headers(&[(X_LIMIT, b"100;w=3600")]);
        assert!(pull_limit(&half).unwrap_err().contains(REMAINING));
    }

    #[test]
    fn a_long_bad_value_is_quoted_short() {
        let long = "x".repeat(10_000);
        let h = headers(&[(LIMIT, long.as_bytes()), (REMAINING, b"1")]);
        let err = pull_limit(&h).unwrap_err();
        assert!(err.len() < 300, "{err}");
    }

    #[test]
    fn a_repeated_header_is_read_as_one_list() {
        let h = headers(&[
            (LIMIT, b"100;w=21600"),
            (LIMIT, b"200;w=86400"),
            (REMAINING, b"76;w=21600"),
        ]);
        assert_eq!(
            pull_limit(&h),
            Ok(PullLimit::Limited {
                limit: Some(100),
                remaining: Some(76),
                window: HOURS_6
            })
        );
    }
}

#[cfg(test)]
mod properties;
