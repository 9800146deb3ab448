//! A strict reader of the Prometheus text exposition format 0.0.4, for the tests' assertions
//! on what the exporter serves.
//!
//! Strict means it refuses what the format does not allow instead of guessing: a sample
//! outside the family its `# HELP` and `# TYPE` lines announced, an escape other than `\\`,
//! `\"` and `\n` in a label value, a raw line feed, a malformed name or value, a timestamp, a
//! missing final line feed. So every test that reads a value through it also checks the
//! syntax of what it read. It knows gauges and counters only, which is all the exporter
//! serves.

/// One sample line, label values unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name.
    pub name: String,
    /// Label names and values in the order written.
    pub labels: Vec<(String, String)>,
    /// The value as written.
    pub raw_value: String,
    /// The value as a number.
    pub value: f64,
}

impl Sample {
    /// The value of the label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(l, _)| l == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether every `(name, value)` of `labels` is among the sample's labels.
    pub fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels.iter().all(|(k, v)| self.label(k) == Some(*v))
    }
}

/// A family: its name, type, help text and samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// The family's name.
    pub name: String,
    /// `gauge` or `counter`.
    pub kind: String,
    /// The help text, unescaped.
    pub help: String,
    /// Its samples, in the order written.
    pub samples: Vec<Sample>,
}

/// Parses a whole exposition strictly: families of `# HELP`, then `# TYPE`, then samples of
/// that family only; every line ends with a line feed.
pub fn parse(text: &str) -> Result<Vec<Family>, String> {
    let body = match text.strip_suffix('\n') {
        Some(body) => body,
        None if text.is_empty() => return Ok(Vec::new()),
        None => return Err("no final line feed".into()),
    };
    let mut families: Vec<Family> = Vec::new();
    let mut lines = body.split('\n');
    while let Some(line) = lines.next() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, help) = help.split_once(' ').ok_or("HELP without text")?;
            if !is_metric_name(name) {
                return Err(format!("bad metric name in HELP: {name:?}"));
            }
            let kind = lines.next().ok_or("HELP without TYPE")?;
            let kind = kind
                .strip_prefix(&format!("# TYPE {name} "))
                .ok_or_else(|| format!("TYPE of {name} missing: {kind:?}"))?;
            if !matches!(kind, "gauge" | "counter") {
                return Err(format!("bad type {kind:?} of {name}"));
            }
            if families.iter().any(|f| f.name == name) {
                return Err(format!("family {name} announced twice"));
            }
            families.push(Family {
                name: name.to_string(),
                kind: kind.to_string(),
                help: unescape_help(help)?,
                samples: Vec::new(),
            });
            continue;
        }
        let sample = parse_sample(line).map_err(|e| format!("{e}: {line:?}"))?;
        match families.last_mut() {
            Some(f) if f.name == sample.name => f.samples.push(sample),
            _ => return Err(format!("sample outside its family: {line:?}")),
        }
    }
    Ok(families)
}

/// Parses one sample line strictly: `name value` or `name{label="value",...} value`, no
/// timestamp, label values with only `\\`, `\"` and `\n` escaped.
pub fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        if let Some(r) = rest.strip_prefix('}') {
            rest = r;
        } else {
            loop {
                let (label, value, r) = parse_label(rest)?;
                if labels.iter().any(|(l, _)| *l == label) {
                    return Err(format!("label {label:?} twice"));
                }
                labels.push((label, value));
                if let Some(r) = r.strip_prefix(',') {
                    rest = r;
                } else {
                    rest = r.strip_prefix('}').ok_or("no , or }")?;
                    break;
                }
            }
        }
    }
    let raw_value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let value = parse_value(raw_value).ok_or_else(|| format!("bad value {raw_value:?}"))?;
    Ok(Sample {
        name: name.to_string(),
        labels,
        raw_value: raw_value.to_string(),
        value,
    })
}

/// `label="value"` at the start of `rest`: the label, its unescaped value, and what follows.
fn parse_label(rest: &str) -> Result<(String, String, &str), String> {
    let eq = rest.find('=').ok_or("no =")?;
    let label = &rest[..eq];
    if !is_label_name(label) {
        return Err(format!("bad label name {label:?}"));
    }
    let rest = rest[eq + 1..].strip_prefix('"').ok_or("no opening quote")?;
    let mut value = String::new();
    let mut chars = rest.char_indices();
    loop {
        match chars.next() {
            None => return Err("unterminated label value".into()),
            Some((i, '"')) => return Ok((label.to_string(), value, &rest[i + 1..])),
            Some((_, '\\')) => match chars.next() {
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, 'n')) => value.push('\n'),
                other => return Err(format!("bad escape {other:?}")),
            },
            Some((_, c)) => value.push(c),
        }
    }
}

/// A help text with `\\` and `\n` unescaped; any other backslash is an error.
fn unescape_help(help: &str) -> Result<String, String> {
    let mut out = String::with_capacity(help.len());
    let mut chars = help.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                other => return Err(format!("bad escape in help: {other:?}")),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

/// A float as the format allows it: decimal with optional sign, fraction and exponent, or
/// `NaN`, `+Inf`, `-Inf`.
fn parse_value(value: &str) -> Option<f64> {
    match value {
        "NaN" => return Some(f64::NAN),
        "+Inf" => return Some(f64::INFINITY),
        "-Inf" => return Some(f64::NEG_INFINITY),
        _ => {}
    }
    let unsigned = value.strip_prefix(['-', '+']).unwrap_or(value);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['-', '+']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = (digits(whole) || fraction.is_some_and(digits))
        && (whole.is_empty() || digits(whole))
        && fraction.is_none_or(|f| f.is_empty() || digits(f))
        && exponent.is_none_or(digits);
    well_formed.then(|| value.parse().ok()).flatten()
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_format_does_not_allow_is_refused() {
        for line in [
            "m{a=\"x\\ty\"} 1",
            "m{a=\"x\"y\"} 1",
            "m{a=\"x\",} 1",
            "m{1a=\"x\"} 1",
            "m{a=\"x\"}  1",
            "m{a=\"x\"} 1 123",
            "m{a=x} 1",
            "m{a=\"1\",a=\"2\"} 1",
            "1m{a=\"x\"} 1",
            "m 1.2.3",
            "m 0x10",
            "m",
        ] {
            assert!(parse_sample(line).is_err(), "{line:?}");
        }
        for (line, value) in [
            ("m 1", 1.0),
            ("m{} -0.5", -0.5),
            ("m{a=\"x\"} 1e5", 1e5),
            ("m{a=\"x\"} .5", 0.5),
            ("m +Inf", f64::INFINITY),
        ] {
            assert_eq!(parse_sample(line).unwrap().value, value, "{line:?}");
        }
        let sample = parse_sample(r#"m{a="\\\"\n",b=""} -0.5"#).unwrap();
        assert_eq!(sample.label("a"), Some("\\\"\n"));
        assert_eq!(sample.label("b"), Some(""));
    }

    #[test]
    fn samples_belong_to_the_family_announced_before_them() {
        let good = "# HELP a An \\\\ a\\n.\n# TYPE a gauge\na 1\na{x=\"y\"} 2\n# HELP b B\n# TYPE b counter\n";
        let families = parse(good).unwrap();
        assert_eq!(families.len(), 2);
        assert_eq!(families[0].help, "An \\ a\n.");
        assert_eq!(families[0].samples.len(), 2);
        assert!(families[1].samples.is_empty());
        for bad in [
            "a 1\n",
            "# HELP a A\n# TYPE a gauge\nb 1\n",
            "# HELP a A\na 1\n",
            "# HELP a A\n# TYPE a summary\n",
            "# HELP a A\n# TYPE a gauge\na 1",
            "# HELP a A\n# TYPE a gauge\n# HELP a A\n# TYPE a gauge\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
