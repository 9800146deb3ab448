//! A value that must never be shown: the Hub password or token, and the session tokens the
//! Hub hands out. Only [`Secret::expose`] gives the value, for the one place that sends it.
//! Text that comes from the Hub is quoted through [`quote`], which masks the secret in case
//! the Hub (or a proxy before it) echoes what it was sent, escapes control characters and
//! bounds its length.

use std::fmt;

/// A password, access token or session token; `Debug` and `Display` print `**redacted**`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the request that sends it to the Hub.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

/// The most of a text from the Hub that is quoted in an error or a log line.
const MAX_QUOTE_CHARS: usize = 200;

/// `text` as it may be quoted in an error or a log line: `secret` masked wherever it occurs,
/// control characters escaped (`\n`, `\u{1b}`), so that the text stays on its line and
/// cannot steer a terminal, and cut to [`MAX_QUOTE_CHARS`] characters (the cut marked `…`).
pub(crate) fn quote(text: &str, secret: Option<&Secret>) -> String {
    let masked = match secret.map(Secret::expose).filter(|s| !s.is_empty()) {
        Some(s) => text.replace(s, "**redacted**"),
        None => text.to_string(),
    };
    let mut escaped = String::with_capacity(masked.len());
    for c in masked.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    match escaped.char_indices().nth(MAX_QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", &escaped[..cut]),
        None => escaped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quote_masks_the_secret_and_stays_short() {
        let secret = Secret::new("hunter2");
        assert_eq!(
            quote("wrong password hunter2 for acme (hunter2)", Some(&secret)),
            "wrong password **redacted** for acme (**redacted**)"
        );
        assert_eq!(quote("no secret here", None), "no secret here");
        let long = format!("{}hunter2", "é".repeat(500));
        let quoted = quote(&long, Some(&secret));
        assert_eq!(quoted.chars().count(), MAX_QUOTE_CHARS + 1);
        assert!(quoted.ends_with('…') && !quoted.contains("hunter2"));
        // A secret cut in half by the limit does not show either: it is masked first.
        let edge = format!("{}hunter2", "x".repeat(MAX_QUOTE_CHARS - 3));
        assert!(!quote(&edge, Some(&secret)).contains("hunt"));
        assert_eq!(format!("{secret} {secret:?}"), "**redacted** **redacted**");
    }

    #[test]
    fn a_quote_escapes_control_characters_so_that_it_stays_on_its_line() {
        assert_eq!(
            quote("line one\nline two\r\u{1b}[31mred\u{7}", None),
            "line one\\nline two\\r\\u{1b}[31mred\\u{7}"
        );
        assert_eq!(quote("tab\tand é ünïcode", None), "tab\\tand é ünïcode");
    }
}
