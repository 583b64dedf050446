//! What prometheus-client writes, made into the Prometheus text format
//! 0.0.4 that `/metrics` has always served.
//!
//! prometheus-client writes OpenMetrics text, which names a counter's family
//! without its `_total` suffix (`# TYPE regent_commands counter`, then
//! `regent_commands_total 3`). The 0.0.4 parser, promtool's linter and the
//! dashboards expect the family to carry the sample's name, so the HELP and
//! TYPE lines of counters are renamed here; the samples are already right.

use std::fmt;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// A label value from outside (a plugin, agent, engine or rule name), escaped
/// as the text format requires when it is written, not when it is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct LabelText(pub String);

impl EncodeLabelValue for LabelText {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        Escaped(&self.0).encode(encoder)
    }
}

/// A borrowed label value, escaped when written (for figures encoded once
/// per scrape).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Escaped<'a>(pub &'a str);

impl EncodeLabelValue for Escaped<'_> {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), fmt::Error> {
        use fmt::Write;
        for c in self.0.chars() {
            match c {
                '\\' => encoder.write_str("\\\\")?,
                '"' => encoder.write_str("\\\"")?,
                '\n' => encoder.write_str("\\n")?,
                c => encoder.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// Rewrites OpenMetrics text (as prometheus-client encodes a registry, no
/// `# EOF`) into the Prometheus text format 0.0.4.
pub(crate) fn to_prometheus_text(open_metrics: &str) -> String {
    let mut out = String::with_capacity(open_metrics.len() + 1024);
    // prometheus-client writes HELP before TYPE; the HELP line can only be
    // named once the TYPE line says whether the family is a counter.
    let mut pending_help: Option<(&str, &str)> = None;
    for line in open_metrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, pending_help.take(), false);
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            pending_help = Some((name, help));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let counter = kind == "counter";
            match pending_help.take() {
                Some(help) if help.0 == name => flush_help(&mut out, Some(help), counter),
                other => flush_help(&mut out, other, false),
            }
            out.push_str("# TYPE ");
            out.push_str(name);
            if counter {
                out.push_str("_total");
            }
            out.push(' ');
            // OpenMetrics' `unknown` is 0.0.4's `untyped`.
            out.push_str(if kind == "unknown" { "untyped" } else { kind });
            out.push('\n');
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            // Neither exists in 0.0.4.
        } else {
            flush_help(&mut out, pending_help.take(), false);
            out.push_str(line);
            out.push('\n');
        }
    }
    flush_help(&mut out, pending_help, false);
    out
}

fn flush_help(out: &mut String, help: Option<(&str, &str)>, counter: bool) {
    if let Some((name, text)) = help {
        out.push_str("# HELP ");
        out.push_str(name);
        if counter {
            out.push_str("_total");
        }
        out.push(' ');
        out.push_str(text);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_families_take_their_samples_name() {
        let open = "# HELP regent_commands Commands reported.\n\
                    # TYPE regent_commands counter\n\
                    regent_commands_total{status=\"failed\"} 1\n\
                    # HELP regent_workflows_paused Workflows paused.\n\
                    # TYPE regent_workflows_paused gauge\n\
                    regent_workflows_paused 0\n\
                    # EOF\n";
        assert_eq!(
            to_prometheus_text(open),
            "# HELP regent_commands_total Commands reported.\n\
             # TYPE regent_commands_total counter\n\
             regent_commands_total{status=\"failed\"} 1\n\
             # HELP regent_workflows_paused Workflows paused.\n\
             # TYPE regent_workflows_paused gauge\n\
             regent_workflows_paused 0\n"
        );
    }
}
