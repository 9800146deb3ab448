//! The two exposition formats a scrape may get: the text format 0.0.4, and OpenMetrics 1.0.0,
//! which Prometheus asks for first. Their sample lines are the same for what this exporter
//! serves; they differ in the header lines of a family (a counter's family is named without
//! `_total`, `untyped` is `unknown`, `# UNIT` lines, quotes escaped in help) and in the
//! closing `# EOF` line of OpenMetrics.

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// The text format 0.0.4.
    Text,
    /// OpenMetrics 1.0.0.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of an exposition in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// The line that ends an OpenMetrics exposition.
pub(crate) const EOF: &[u8] = b"# EOF\n";

/// The unit a family's name ends with, for its `# UNIT` line.
pub(crate) fn unit(family: &str) -> Option<&'static str> {
    ["seconds", "bytes"].into_iter().find(|unit| {
        family
            .strip_suffix(unit)
            .is_some_and(|rest| rest.ends_with('_'))
    })
}

/// OpenMetrics header lines for a text exposition as the `prometheus` crate writes it
/// (`# HELP` then `# TYPE` per family, then its samples), without the closing `# EOF`.
pub(crate) fn openmetrics_from_text(text: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(text);
    // Counter families, whose names lose `_total` in their header lines.
    let counters: std::collections::HashSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let family = |name: &str| -> String {
        if counters.contains(name) {
            name.strip_suffix("_total").unwrap_or(name).to_string()
        } else {
            name.to_string()
        }
    };
    let mut out = String::with_capacity(text.len() + 1024);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.push_str("# HELP ");
            out.push_str(&family(name));
            out.push(' ');
            // The text format escapes backslashes and line breaks in help; OpenMetrics
            // escapes quotes as well.
            out.push_str(&help.replace('"', "\\\""));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let name = family(name);
            let kind = if kind == "untyped" { "unknown" } else { kind };
            out.push_str("# TYPE ");
            out.push_str(&name);
            out.push(' ');
            out.push_str(kind);
            if let Some(unit) = unit(&name) {
                out.push_str("\n# UNIT ");
                out.push_str(&name);
                out.push(' ');
                out.push_str(unit);
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_come_from_the_end_of_the_name() {
        assert_eq!(unit("dockerhub_tag_size_bytes"), Some("bytes"));
        assert_eq!(unit("process_cpu_seconds"), Some("seconds"));
        assert_eq!(
            unit("dockerhub_tag_last_pushed_timestamp_seconds"),
            Some("seconds")
        );
        assert_eq!(unit("dockerhub_repository_stars"), None);
        assert_eq!(unit("megabytes"), None);
    }

    #[test]
    fn the_crates_text_becomes_openmetrics_headers() {
        let text = "# HELP a_requests_total Requests \"made\".\n# TYPE a_requests_total counter\n\
                    a_requests_total{code=\"200\"} 3\n\
                    # HELP a_duration_seconds How long.\n# TYPE a_duration_seconds histogram\n\
                    a_duration_seconds_bucket{le=\"+Inf\"} 1\na_duration_seconds_sum 0.5\na_duration_seconds_count 1\n\
                    # HELP b Something.\n# TYPE b untyped\nb 1\n";
        let got = String::from_utf8(openmetrics_from_text(text.as_bytes())).unwrap();
        assert_eq!(
            got,
            "# HELP a_requests Requests \\\"made\\\".\n# TYPE a_requests counter\n\
             a_requests_total{code=\"200\"} 3\n\
             # HELP a_duration_seconds How long.\n# TYPE a_duration_seconds histogram\n# UNIT a_duration_seconds seconds\n\
             a_duration_seconds_bucket{le=\"+Inf\"} 1\na_duration_seconds_sum 0.5\na_duration_seconds_count 1\n\
             # HELP b Something.\n# TYPE b unknown\nb 1\n"
        );
    }
}
