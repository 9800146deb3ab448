//! The writer of the text exposition format: the few primitives every family is written
//! with (a family's `# HELP` and `# TYPE` lines, with the cache notice appended to every help
//! text; a sample line; label escaping; number formatting), and where the text goes as it is
//! written.
//!
//! Kept apart from the families (the parent module) because it knows nothing of the
//! inventory: it takes names, labels and values and writes bytes. It either keeps the whole
//! rendering ([`Rendered`], which tests compare) or hands it on a piece at a time to an
//! [`Output`], so the exporter never holds the whole text of a large inventory. It notes each
//! family's header lines in both the text format and OpenMetrics, because the sample lines
//! are the same in both and one rendering serves both formats. It does not choose which
//! families or series exist, nor their names, labels or help texts beyond that notice.

use std::ops::Range;

use crate::publication::format;

/// Appended to every help text: the exporter serves a cached inventory, and the Prometheus
/// guidance for exporters of cached data asks to say so.
const AS_OF: &str = ", as of the last refresh of the inventory.";

/// The `# TYPE` of a family.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Gauge,
    Counter,
}

/// A sample value.
#[derive(Clone, Copy)]
pub(super) enum Value {
    Int(u64),
    Float(f64),
}

/// A rendered exposition: the text format, and where the `# HELP` and `# TYPE` lines of each
/// family are, with what OpenMetrics has in their place. Sample lines are the same in both
/// formats, so one rendering serves both.
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    /// The exposition in the text format 0.0.4.
    pub(crate) text: Vec<u8>,
    /// The families' OpenMetrics header lines, one after another.
    pub(crate) openmetrics: Vec<u8>,
    /// Each family's header lines: where they are in `text`, and their OpenMetrics form in
    /// `openmetrics`; in order.
    pub(crate) headers: Vec<(Range<usize>, Range<usize>)>,
}

impl Rendered {
    /// `other` appended to this one.
    #[cfg(test)]
    pub(crate) fn append(&mut self, other: Rendered) {
        let (text, openmetrics) = (self.text.len(), self.openmetrics.len());
        self.text.extend_from_slice(&other.text);
        self.openmetrics.extend_from_slice(&other.openmetrics);
        self.headers.extend(other.headers.into_iter().map(|(t, o)| {
            (
                t.start + text..t.end + text,
                o.start + openmetrics..o.end + openmetrics,
            )
        }));
    }

    /// The exposition in OpenMetrics, without the closing `# EOF`.
    #[cfg(test)]
    pub(crate) fn openmetrics_text(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.text.len());
        let mut at = 0;
        for (text, openmetrics) in &self.headers {
            out.extend_from_slice(&self.text[at..text.start]);
            out.extend_from_slice(&self.openmetrics[openmetrics.clone()]);
            at = text.end;
        }
        out.extend_from_slice(&self.text[at..]);
        out
    }
}

/// Where a rendering goes, a piece at a time, when it is not kept whole (see [`render_to`](super::render_to)).
pub(crate) trait Output {
    /// The sample lines that come next, in order.
    fn samples(&mut self, text: &[u8]);

    /// The header lines of the next family: in the text format, and in OpenMetrics.
    fn header(&mut self, text: &[u8], openmetrics: &[u8]);
}

/// Sample text gathered before it goes to an [`Output`].
const CHUNK: usize = 64 * 1024;

/// The exposition being written, with the few primitives of the text format: kept whole in
/// `rendered`, or, with an `output`, handed on in pieces (then `rendered.text` holds only the
/// sample lines not handed on yet).
pub(super) struct Exposition<'o> {
    rendered: Rendered,
    output: Option<&'o mut dyn Output>,
}

#[cfg(test)]
impl Exposition<'static> {
    pub(super) fn with_capacity(bytes: usize) -> Self {
        Exposition {
            rendered: Rendered {
                text: Vec::with_capacity(bytes),
                ..Rendered::default()
            },
            output: None,
        }
    }
}

impl<'o> Exposition<'o> {
    pub(super) fn to(output: &'o mut dyn Output) -> Self {
        Exposition {
            rendered: Rendered {
                text: Vec::with_capacity(CHUNK + 4096),
                ..Rendered::default()
            },
            output: Some(output),
        }
    }

    /// Hands the sample lines written so far on to the output, if there is one.
    fn hand_on(&mut self) {
        if let Some(output) = &mut self.output {
            output.samples(&self.rendered.text);
            self.rendered.text.clear();
        }
    }

    /// The rendering kept whole; empty when it went to an output.
    pub(super) fn finish(mut self) -> Rendered {
        self.hand_on();
        self.rendered
    }

    /// Writes the `# HELP` and `# TYPE` lines of a family, and notes their OpenMetrics form
    /// (a counter's family name without `_total`, and a `# UNIT` line where the name ends in
    /// one); `help` is a constant without backslashes, quotes or line breaks, and gets the
    /// cache notice appended.
    pub(super) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(
            !help.contains(['\\', '\n', '"']),
            "help of {name} needs escaping"
        );
        let (kind, family) = match kind {
            Kind::Gauge => ("gauge", name),
            Kind::Counter => ("counter", name.strip_suffix("_total").unwrap_or(name)),
        };
        if self.output.is_some() {
            self.hand_on();
            let (mut text, mut openmetrics) = (Vec::new(), Vec::new());
            write_header(&mut text, name, kind, help, None);
            write_header(&mut openmetrics, family, kind, help, format::unit(family));
            if let Some(output) = &mut self.output {
                output.header(&text, &openmetrics);
            }
            return;
        }
        let start = self.rendered.text.len();
        write_header(&mut self.rendered.text, name, kind, help, None);
        let om_start = self.rendered.openmetrics.len();
        write_header(
            &mut self.rendered.openmetrics,
            family,
            kind,
            help,
            format::unit(family),
        );
        self.rendered.headers.push((
            start..self.rendered.text.len(),
            om_start..self.rendered.openmetrics.len(),
        ));
    }

    /// Writes one sample line: `name{label="value",...} value`.
    pub(super) fn series(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.rendered.text.extend_from_slice(name.as_bytes());
        self.rendered.text.push(b'{');
        for (i, (label, label_value)) in labels.iter().enumerate() {
            if i > 0 {
                self.rendered.text.push(b',');
            }
            self.rendered.text.extend_from_slice(label.as_bytes());
            self.rendered.text.extend_from_slice(b"=\"");
            self.escaped(label_value);
            self.rendered.text.push(b'"');
        }
        self.rendered.text.extend_from_slice(b"} ");
        match value {
            Value::Int(v) => self.int(v),
            Value::Float(v) => self.float(v),
        }
        self.rendered.text.push(b'\n');
        if self.rendered.text.len() >= CHUNK {
            self.hand_on();
        }
    }

    /// Appends a label value with `\`, `"` and line feeds escaped as the format requires.
    fn escaped(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'\\' => b"\\\\",
                b'"' => b"\\\"",
                b'\n' => b"\\n",
                _ => continue,
            };
            self.rendered.text.extend_from_slice(&bytes[start..i]);
            self.rendered.text.extend_from_slice(escape);
            start = i + 1;
        }
        self.rendered.text.extend_from_slice(&bytes[start..]);
    }

    /// Appends an unsigned integer in decimal, without going through `fmt`.
    fn int(&mut self, mut v: u64) {
        let mut digits = [0u8; 20]; // u64::MAX has 20 decimal digits
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.rendered.text.extend_from_slice(&digits[at..]);
    }

    /// Appends a float as Rust's shortest round-trip decimal, which never uses an exponent
    /// and prints whole numbers without a fraction; non-finite values use the format's words.
    fn float(&mut self, v: f64) {
        use std::io::Write as _;
        if v.is_nan() {
            self.rendered.text.extend_from_slice(b"NaN");
        } else if v.is_infinite() {
            let word: &[u8] = if v > 0.0 { b"+Inf" } else { b"-Inf" };
            self.rendered.text.extend_from_slice(word);
        } else {
            // Writing into a Vec cannot fail.
            let _ = write!(self.rendered.text, "{v}");
        }
    }
}

/// The `# HELP`, `# TYPE` and, with a unit, `# UNIT` lines of family `name`.
fn write_header(out: &mut Vec<u8>, name: &str, kind: &str, help: &str, unit: Option<&str>) {
    for part in [
        "# HELP ",
        name,
        " ",
        help,
        AS_OF,
        "\n# TYPE ",
        name,
        " ",
        kind,
        "\n",
    ] {
        out.extend_from_slice(part.as_bytes());
    }
    if let Some(unit) = unit {
        for part in ["# UNIT ", name, " ", unit, "\n"] {
            out.extend_from_slice(part.as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_without_exponent_or_trailing_fraction() {
        let mut out = Exposition::with_capacity(0);
        for v in [
            1727833827.0,
            1727833827.90536,
            0.0,
            1e21,
            f64::INFINITY,
            f64::NAN,
        ] {
            out.float(v);
            out.rendered.text.push(b' ');
        }
        out.int(u64::MAX);
        out.rendered.text.push(b' ');
        out.int(0);
        assert_eq!(
            String::from_utf8(out.rendered.text).expect("ASCII"),
            "1727833827 1727833827.90536 0 1000000000000000000000 +Inf NaN 18446744073709551615 0"
        );
    }
}
