//! What prometheus-client writes, made into the Prometheus text format
//! 0.0.4 that `/metrics` has always served.
//!
//! prometheus-client writes OpenMetrics text, which names a counter's family
//! without its `_total` suffix (`# TYPE regent_commands counter`, then
//! `regent_commands_total 3`). The 0.0.4 parser, promtool's linter and the
//! dashboards expect the family to carry the sample's name, so the HELP and
//! TYPE lines of counters are renamed here; the samples are already right.
//! Bucket lines get back the shape they had: `le` last, and whole bounds
//! written as integers (`le="1"`, not `le="1.0"`), so series keep their
//! identity across the upgrade. Label values are escaped by prometheus-client.

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
            push_sample(&mut out, line);
            out.push('\n');
        }
    }
    flush_help(&mut out, pending_help, false);
    out
}

/// A bucket's `le` moves after the series' own labels.
fn push_sample(out: &mut String, line: &str) {
    // `name{le="0.005",plugin="x"} 2`: the bound, then the other labels.
    let Some((name, rest)) = line.split_once("{le=\"") else {
        out.push_str(line);
        return;
    };
    let Some((bound, after_bound)) = rest.split_once('"') else {
        out.push_str(line);
        return;
    };
    // The value has no `} `; a label value may, so the last one ends the labels.
    let Some(end) = after_bound.rfind("} ") else {
        out.push_str(line);
        return;
    };
    let (labels, value) = after_bound.split_at(end);
    let others = labels.strip_prefix(',').unwrap_or(labels);
    out.push_str(name);
    out.push('{');
    if !others.is_empty() {
        out.push_str(others);
        out.push(',');
    }
    out.push_str("le=\"");
    out.push_str(bound.strip_suffix(".0").unwrap_or(bound));
    out.push('"');
    out.push_str(value);
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

    #[test]
    fn buckets_keep_le_last_and_whole_bounds_as_integers() {
        let open = "h_bucket{le=\"0.005\",plugin=\"a} b\",kind=\"k\"} 2\n\
                    h_bucket{le=\"1.0\"} 3\n\
                    h_bucket{le=\"+Inf\",route=\"/x\"} 4\n\
                    h_sum{route=\"/x\"} 1.5\n";
        assert_eq!(
            to_prometheus_text(open),
            "h_bucket{plugin=\"a} b\",kind=\"k\",le=\"0.005\"} 2\n\
             h_bucket{le=\"1\"} 3\n\
             h_bucket{route=\"/x\",le=\"+Inf\"} 4\n\
             h_sum{route=\"/x\"} 1.5\n"
        );
    }
}
