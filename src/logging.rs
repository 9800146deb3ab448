//! Log output: logfmt (the Prometheus ecosystem's default) or JSON, at the configured level.
//!
//! Only the level comes from the command line; `RUST_LOG` is never set from code. Events
//! carry fields, never secrets: the types that hold secrets print `**redacted**`.

use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::config::{LogFormat, LogLevel};
use crate::visible::{is_hidden, write_escape};

/// Installs the global subscriber writing to standard error.
pub fn init(level: LogLevel, format: LogFormat) {
    init_writing_to(level, format, std::io::stderr);
}

/// Installs the global subscriber writing to `writer`, standard error as the `inventory`
/// command shares it with its progress line.
pub(crate) fn init_writing_to<W>(level: LogLevel, format: LogFormat, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = match level {
        LogLevel::Trace => LevelFilter::TRACE,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    let builder = tracing_subscriber::fmt().with_max_level(filter);
    // A second installation (only possible in tests) keeps the first.
    let _ = match format {
        LogFormat::Json => builder
            .with_writer(JsonEscaping(writer))
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Logfmt => builder.with_writer(writer).event_format(Logfmt).try_init(),
    };
}

/// Makes writers that escape, in JSON lines, what JSON itself leaves as it is but a terminal
/// acts on: C1 controls, DEL and bidirectional overrides (see [`crate::visible`]), written as
/// JSON escapes (`\u202e`), which a JSON reader reads back as the same character.
struct JsonEscaping<W>(W);

impl<'w, W: tracing_subscriber::fmt::MakeWriter<'w>> tracing_subscriber::fmt::MakeWriter<'w>
    for JsonEscaping<W>
{
    type Writer = JsonEscaped<W::Writer>;

    fn make_writer(&'w self) -> Self::Writer {
        JsonEscaped(self.0.make_writer())
    }
}

/// A writer of JSON lines, escaping as [`JsonEscaping`] says. The formatter writes each event
/// in one call, so a character is never split between two; outside its strings a JSON line
/// holds no such character, and C0 controls in strings are escaped already.
struct JsonEscaped<W>(W);

impl<W: std::io::Write> std::io::Write for JsonEscaped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = match std::str::from_utf8(buf) {
            Ok(text) if text.chars().any(|c| c != '\n' && is_hidden(c)) => text,
            _ => return self.0.write(buf),
        };
        let mut escaped = String::with_capacity(text.len() + 32);
        for c in text.chars() {
            if c != '\n' && is_hidden(c) {
                let _ = write!(escaped, "\\u{:04x}", u32::from(c));
            } else {
                escaped.push(c);
            }
        }
        self.0.write_all(escaped.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Formats events as `ts=… level=… msg="…" key=value`.
#[derive(Debug, Clone, Copy)]
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = time::OffsetDateTime::now_utc();
        let ts = now
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|_| fmt::Error)?;
        let level = match *event.metadata().level() {
            Level::TRACE => "trace",
            Level::DEBUG => "debug",
            Level::INFO => "info",
            Level::WARN => "warn",
            Level::ERROR => "error",
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        write!(writer, "ts={ts} level={level} msg=")?;
        write_value(&mut writer, &fields.message)?;
        writer.write_str(&fields.rest)?;
        writeln!(writer)
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            let _ = write!(self.rest, " {}=", field.name());
            let _ = write_value(&mut self.rest, value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Writes a logfmt value, quoted when it holds spaces, quotes, `=`, control characters or
/// bidirectional overrides; those last two are escaped (`\u{202e}`, see [`crate::visible`]).
fn write_value(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c == ' ' || c == '"' || c == '=' || c == '\\' || is_hidden(c));
    if plain {
        return out.write_str(value);
    }
    out.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => out.write_str("\\\"")?,
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            c if is_hidden(c) => write_escape(out, c)?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_values_are_quoted_only_when_needed() {
        let mut s = String::new();
        write_value(&mut s, "plain").unwrap();
        s.push(' ');
        write_value(&mut s, "two words \"q\"\n").unwrap();
        s.push(' ');
        write_value(&mut s, "").unwrap();
        assert_eq!(s, r#"plain "two words \"q\"\n" """#);
    }

    #[test]
    fn json_lines_escape_what_json_leaves_and_read_back_the_same() {
        use std::io::Write as _;
        let value = serde_json::json!({"repository": "gpj.\u{202e}exe\u{85}\u{7f}\u{0}"});
        let line = format!("{value}\n");
        let mut out = JsonEscaped(Vec::new());
        out.write_all(line.as_bytes()).unwrap();
        let written = String::from_utf8(out.0).unwrap();
        assert!(
            written.contains(r"gpj.\u202eexe\u0085\u007f\u0000"),
            "{written}"
        );
        assert!(
            !written.trim_end_matches('\n').chars().any(is_hidden),
            "{written:?}"
        );
        let back: serde_json::Value = serde_json::from_str(&written).unwrap();
        assert_eq!(back, value);
    }

    #[test]
    fn names_that_would_act_on_a_terminal_are_logged_escaped() {
        let mut s = String::new();
        write_value(&mut s, "acme/\u{202e}ipa\u{1b}[2J\u{85}").unwrap();
        assert_eq!(s, r#""acme/\u{202e}ipa\u{1b}[2J\u{85}""#);
    }
}
