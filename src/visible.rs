//! Text from outside (names from the Hub, a webhook or a state file), made safe to show to
//! people: the characters that would act on a terminal, a log line or a page rather than
//! show (control characters, and the bidirectional overrides and isolates that reorder what
//! follows them on screen) are written as a visible escape, `\u{202e}`.
//!
//! Only the views that print for people use this (the pages, the `inventory` table and CSV,
//! the log); JSON has escapes of its own, and names are kept exactly as they came everywhere
//! else. It does not decide which names are valid (see `inventory::check_name`).

use std::fmt::{self, Write as _};

/// Whether `c` is shown escaped: a control character (C0, DEL or C1), a bidirectional
/// embedding or override (U+202A–U+202E) or isolate (U+2066–U+2069).
pub(crate) fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Writes `c` as its escape, `\u{` its code point in lowercase hexadecimal `}`.
pub(crate) fn write_escape(out: &mut impl fmt::Write, c: char) -> fmt::Result {
    write!(out, "\\u{{{:x}}}", u32::from(c))
}

/// Text with every hidden character (see [`is_hidden`]) escaped when displayed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Visible<'a>(pub(crate) &'a str);

impl fmt::Display for Visible<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            if is_hidden(c) {
                write_escape(f, c)?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn controls_and_bidirectional_overrides_are_escaped_and_the_rest_kept() {
        assert_eq!(
            Visible("a\u{0}b\u{1b}[31m\u{7f}\u{85}\u{9f}c\u{202e}d\u{2066}é😀\t\n").to_string(),
            "a\\u{0}b\\u{1b}[31m\\u{7f}\\u{85}\\u{9f}c\\u{202e}d\\u{2066}é😀\\u{9}\\u{a}"
        );
        for kept in ['\u{2029}', '\u{200f}', '\u{2065}', '\u{206a}', '\u{a0}'] {
            assert!(!is_hidden(kept), "{kept:?}");
        }
    }

    proptest! {
        #![proptest_config(crate::testing::cases(512))]

        #[test]
        fn what_is_shown_holds_no_hidden_character_and_plain_text_is_unchanged(text in any::<String>()) {
            let shown = Visible(&text).to_string();
            prop_assert!(!shown.chars().any(is_hidden));
            if !text.chars().any(is_hidden) {
                prop_assert_eq!(shown, text);
            }
        }
    }
}
