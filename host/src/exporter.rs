//! Prometheus text exposition (format 0.0.4), written by hand: a few
//! counters and histograms kept in memory, and governance figures read
//! from the store at scrape time, so counters survive restarts.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::domain::PluginKind;

/// Seconds: 100 µs to 2.5 s.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Per bucket, not cumulative; cumulated when rendered.
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// A histogram with no labels.
    fn render_plain(&self, out: &mut String, name: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}", self.sum);
        let _ = writeln!(out, "{name}_count {}", self.count);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, n) in BUCKETS.iter().zip(self.counts) {
            cumulative += n;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Debug, Default)]
struct PluginStats {
    evaluations: u64,
    errors: u64,
    duration: Histogram,
}

#[derive(Default)]
pub struct Exporter {
    plugins: Mutex<BTreeMap<(String, PluginKind), PluginStats>>,
    http: Mutex<BTreeMap<(String, String), Histogram>>,
    assignment: Mutex<Histogram>,
    registry: Mutex<RegistryStats>,
    /// Rows pruned since start, by kind.
    retention: Mutex<BTreeMap<&'static str, u64>>,
}

/// Swaps and refusals of plugin versions since start.
#[derive(Debug, Default)]
struct RegistryStats {
    swaps: BTreeMap<String, u64>,
    rejections: BTreeMap<&'static str, u64>,
    activation: Histogram,
}

/// One active plugin version, for the info metric.
#[derive(Debug, Clone, Default)]
pub struct ActivePluginFigure {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub sha256: String,
}

/// Governance figures read from the store for one scrape.
#[derive(Debug, Clone, Default)]
pub struct GovernanceFigures {
    pub phase: String,
    pub time_at_phase_seconds: f64,
    pub success_ratio: Option<f64>,
    pub error_ratio: Option<f64>,
    pub approval_ratio: Option<f64>,
    pub rollback_ratio: Option<f64>,
    pub commands_by_status: Vec<(&'static str, u64)>,
    /// Latest assessment: (score, max) overall and per category.
    pub readiness: Option<ReadinessFigures>,
    pub breaker_events: Vec<(String, String, String, u64)>,
    pub unresolved_breaker_events: u64,
    pub incidents_by_severity: Vec<(&'static str, u64)>,
    pub safety_constraint_violations: u64,
    pub emergency_aborts: u64,
    pub control: ControlFigures,
    pub active_plugins: Vec<ActivePluginFigure>,
    pub plugin_generation: u64,
}

/// The control plane's figures, read from the store at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ControlFigures {
    pub decisions: Vec<(&'static str, u64)>,
    /// Of those, the ones asked by tokens bound to no agent.
    pub unbound_decisions: Vec<(&'static str, u64)>,
    pub emergency_stop: bool,
    pub paused_workflows: u64,
    /// (engine, severity, events ever)
    pub events: Vec<(String, String, u64)>,
    /// The newest risk report's score per category.
    pub risk_by_category: Vec<(String, u32)>,
    pub assignments: u64,
    pub failed_assignments: u64,
    /// (agent, budget remaining, breaker tripped)
    pub agents: Vec<(String, f64, bool)>,
}

#[derive(Debug, Clone, Default)]
pub struct ReadinessFigures {
    pub score: u32,
    pub max_score: u32,
    pub technical: u32,
    pub process: u32,
    pub organizational: u32,
}

/// Label values escaped as the text format requires.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn head(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Counters stay meaningful after a panic elsewhere: keep serving them.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Exporter {
    /// A version became active, `elapsed` after its request began.
    pub fn plugin_swapped(&self, plugin: &str, elapsed: Duration) {
        let mut r = lock(&self.registry);
        *r.swaps.entry(plugin.to_string()).or_default() += 1;
        r.activation.observe(elapsed.as_secs_f64());
    }

    /// A candidate version was refused at `gate`.
    pub fn plugin_rejected(&self, gate: &'static str) {
        *lock(&self.registry).rejections.entry(gate).or_default() += 1;
    }

    pub fn plugin_evaluated(
        &self,
        plugin: &str,
        kind: PluginKind,
        elapsed: Duration,
        failed: bool,
    ) {
        let mut map = lock(&self.plugins);
        let s = map.entry((plugin.to_string(), kind)).or_default();
        s.evaluations += 1;
        if failed {
            s.errors += 1;
        }
        s.duration.observe(elapsed.as_secs_f64());
    }

    pub fn http_request(&self, method: &str, route: &str, elapsed: Duration) {
        lock(&self.http)
            .entry((method.to_string(), route.to_string()))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Rows of `kind` pruned by retention.
    pub fn retention_pruned(&self, kind: &'static str, rows: u64) {
        *lock(&self.retention).entry(kind).or_default() += rows;
    }

    /// One task assignment, ranking and recording included.
    pub fn assignment_ranked(&self, elapsed: Duration) {
        lock(&self.assignment).observe(elapsed.as_secs_f64());
    }

    fn render_control(&self, o: &mut String, c: &ControlFigures) {
        head(
            o,
            "regent_authorize_decisions_total",
            "counter",
            "Authorization decisions, by outcome.",
        );
        for (d, n) in &c.decisions {
            let _ = writeln!(
                o,
                "regent_authorize_decisions_total{{decision=\"{d}\"}} {n}"
            );
        }
        head(
            o,
            "regent_authorize_unbound_decisions_total",
            "counter",
            "Authorization decisions asked by tokens bound to no agent, whose per-agent brakes hold only for the ids they name.",
        );
        for (d, n) in &c.unbound_decisions {
            let _ = writeln!(
                o,
                "regent_authorize_unbound_decisions_total{{decision=\"{d}\"}} {n}"
            );
        }
        head(
            o,
            "regent_emergency_stop_active",
            "gauge",
            "1 while the emergency stop is on.",
        );
        let _ = writeln!(
            o,
            "regent_emergency_stop_active {}",
            u8::from(c.emergency_stop)
        );
        head(
            o,
            "regent_workflows_paused",
            "gauge",
            "Workflows paused by an operator.",
        );
        let _ = writeln!(o, "regent_workflows_paused {}", c.paused_workflows);
        head(
            o,
            "regent_governance_events_total",
            "counter",
            "Engines' governance events, by engine and severity.",
        );
        for (engine, severity, n) in &c.events {
            let _ = writeln!(
                o,
                "regent_governance_events_total{{engine=\"{}\",severity=\"{}\"}} {n}",
                esc(engine),
                esc(severity)
            );
        }
        head(
            o,
            "regent_risk_score",
            "gauge",
            "The newest risk report's score (0-100), by category.",
        );
        for (category, score) in &c.risk_by_category {
            let _ = writeln!(
                o,
                "regent_risk_score{{category=\"{}\"}} {score}",
                esc(category)
            );
        }
        head(
            o,
            "regent_task_assignments_total",
            "counter",
            "Task assignment requests.",
        );
        let _ = writeln!(o, "regent_task_assignments_total {}", c.assignments);
        head(
            o,
            "regent_task_assignments_failed_total",
            "counter",
            "Task assignments no agent qualified for.",
        );
        let _ = writeln!(
            o,
            "regent_task_assignments_failed_total {}",
            c.failed_assignments
        );
        head(
            o,
            "regent_task_assignment_duration_seconds",
            "histogram",
            "Task assignment time: ranking the fleet and recording the outcome.",
        );
        lock(&self.assignment).render_plain(o, "regent_task_assignment_duration_seconds");
        head(
            o,
            "regent_agent_budget_remaining",
            "gauge",
            "Budget remaining, by agent.",
        );
        for (agent, budget, _) in &c.agents {
            let _ = writeln!(
                o,
                "regent_agent_budget_remaining{{agent=\"{}\"}} {budget}",
                esc(agent)
            );
        }
        head(
            o,
            "regent_agent_breaker_tripped",
            "gauge",
            "1 while an agent's circuit breaker is tripped.",
        );
        for (agent, _, tripped) in &c.agents {
            let _ = writeln!(
                o,
                "regent_agent_breaker_tripped{{agent=\"{}\"}} {}",
                esc(agent),
                u8::from(*tripped)
            );
        }
    }

    pub fn render(&self, g: &GovernanceFigures) -> String {
        let mut o = String::with_capacity(8192);
        head(
            &mut o,
            "regent_phase_info",
            "gauge",
            "The current autonomy phase (1 for the current one).",
        );
        for p in crate::domain::Phase::ALL {
            let _ = writeln!(
                o,
                "regent_phase_info{{phase=\"{}\"}} {}",
                p,
                u8::from(p.as_str() == g.phase)
            );
        }
        head(
            &mut o,
            "regent_time_at_phase_seconds",
            "gauge",
            "Time since the current phase began.",
        );
        let _ = writeln!(
            o,
            "regent_time_at_phase_seconds {}",
            g.time_at_phase_seconds
        );
        for (name, value, help) in [
            (
                "regent_command_success_ratio",
                g.success_ratio,
                "Succeeded / executed commands over the last 7 days.",
            ),
            (
                "regent_command_error_ratio",
                g.error_ratio,
                "Failed / executed commands over the last 7 days.",
            ),
            (
                "regent_command_approval_ratio",
                g.approval_ratio,
                "Approval-gated commands not rejected / approval-gated commands, last 7 days.",
            ),
            (
                "regent_command_rollback_ratio",
                g.rollback_ratio,
                "Rolled-back / executed commands over the last 7 days.",
            ),
        ] {
            head(
                &mut o,
                name,
                "gauge",
                &format!("{help} Absent without data."),
            );
            if let Some(v) = value {
                let _ = writeln!(o, "{name} {v}");
            }
        }
        head(
            &mut o,
            "regent_commands_total",
            "counter",
            "Commands reported, by final status.",
        );
        for (status, n) in &g.commands_by_status {
            let _ = writeln!(o, "regent_commands_total{{status=\"{status}\"}} {n}");
        }
        let r = g.readiness.clone().unwrap_or_default();
        head(
            &mut o,
            "regent_readiness_score_ratio",
            "gauge",
            "Latest readiness assessment: points earned / points possible.",
        );
        if r.max_score > 0 {
            let _ = writeln!(
                o,
                "regent_readiness_score_ratio {}",
                f64::from(r.score) / f64::from(r.max_score)
            );
        }
        for (name, v, help) in [
            (
                "regent_readiness_points",
                r.score,
                "Latest readiness assessment: points earned overall.",
            ),
            (
                "regent_readiness_technical_points",
                r.technical,
                "Latest readiness assessment: technical points earned.",
            ),
            (
                "regent_readiness_process_points",
                r.process,
                "Latest readiness assessment: process points earned.",
            ),
            (
                "regent_readiness_organizational_points",
                r.organizational,
                "Latest readiness assessment: organizational points earned.",
            ),
        ] {
            head(&mut o, name, "gauge", help);
            if g.readiness.is_some() {
                let _ = writeln!(o, "{name} {v}");
            }
        }
        head(
            &mut o,
            "regent_circuit_breaker_events_total",
            "counter",
            "Circuit-breaker trips, by rule, action and alert severity.",
        );
        for (rule, action, severity, n) in &g.breaker_events {
            let _ = writeln!(
                o,
                "regent_circuit_breaker_events_total{{rule_name=\"{}\",action=\"{}\",alert_severity=\"{}\"}} {n}",
                esc(rule), esc(action), esc(severity)
            );
        }
        head(
            &mut o,
            "regent_circuit_breaker_events_unresolved",
            "gauge",
            "Circuit-breaker events not yet resolved.",
        );
        let _ = writeln!(
            o,
            "regent_circuit_breaker_events_unresolved {}",
            g.unresolved_breaker_events
        );
        head(
            &mut o,
            "regent_incidents_total",
            "counter",
            "Incidents reported, by severity.",
        );
        for (severity, n) in &g.incidents_by_severity {
            let _ = writeln!(o, "regent_incidents_total{{severity=\"{severity}\"}} {n}");
        }
        head(
            &mut o,
            "regent_safety_constraint_violations_total",
            "counter",
            "Incidents caused by autonomous actions.",
        );
        let _ = writeln!(
            o,
            "regent_safety_constraint_violations_total {}",
            g.safety_constraint_violations
        );
        head(
            &mut o,
            "regent_safety_emergency_aborts_total",
            "counter",
            "Succeeded EMERGENCY_SHUTDOWN and ABORT commands.",
        );
        let _ = writeln!(
            o,
            "regent_safety_emergency_aborts_total {}",
            g.emergency_aborts
        );

        let plugins = lock(&self.plugins);
        head(
            &mut o,
            "regent_plugin_evaluations_total",
            "counter",
            "Plugin evaluations, by plugin and kind.",
        );
        for ((p, k), s) in plugins.iter() {
            let _ = writeln!(
                o,
                "regent_plugin_evaluations_total{{plugin=\"{}\",kind=\"{k}\"}} {}",
                esc(p),
                s.evaluations
            );
        }
        head(
            &mut o,
            "regent_plugin_evaluation_errors_total",
            "counter",
            "Plugin evaluations that failed (error, trap, timeout, memory).",
        );
        for ((p, k), s) in plugins.iter() {
            let _ = writeln!(
                o,
                "regent_plugin_evaluation_errors_total{{plugin=\"{}\",kind=\"{k}\"}} {}",
                esc(p),
                s.errors
            );
        }
        head(
            &mut o,
            "regent_plugin_evaluation_duration_seconds",
            "histogram",
            "Plugin evaluation time, instantiation included.",
        );
        for ((p, k), s) in plugins.iter() {
            s.duration.render(
                &mut o,
                "regent_plugin_evaluation_duration_seconds",
                &format!("plugin=\"{}\",kind=\"{k}\"", esc(p)),
            );
        }
        drop(plugins);
        self.render_registry(&mut o, g);
        self.render_retention(&mut o);
        self.render_control(&mut o, &g.control);
        head(
            &mut o,
            "regent_http_request_duration_seconds",
            "histogram",
            "HTTP request time, by method and route.",
        );
        for ((m, route), h) in lock(&self.http).iter() {
            h.render(
                &mut o,
                "regent_http_request_duration_seconds",
                &format!("method=\"{}\",route=\"{}\"", esc(m), esc(route)),
            );
        }
        o
    }

    fn render_retention(&self, o: &mut String) {
        head(
            o,
            "regent_retention_deleted_total",
            "counter",
            "Rows pruned by retention since start, by kind (webhook_attempts: errors cleared).",
        );
        let pruned = lock(&self.retention);
        for kind in crate::domain::retention::Kept::ALL {
            let n = pruned.get(kind.as_str()).copied().unwrap_or(0);
            let _ = writeln!(
                o,
                "regent_retention_deleted_total{{table=\"{kind}\"}} {n}",
                kind = kind.as_str()
            );
        }
    }

    fn render_registry(&self, o: &mut String, g: &GovernanceFigures) {
        head(
            o,
            "regent_plugin_active_info",
            "gauge",
            "The active version of each plugin (always 1).",
        );
        for p in &g.active_plugins {
            let _ = writeln!(
                o,
                "regent_plugin_active_info{{plugin=\"{}\",kind=\"{}\",version=\"{}\",sha256=\"{}\"}} 1",
                esc(&p.name),
                esc(&p.kind),
                esc(&p.version),
                esc(&p.sha256)
            );
        }
        head(
            o,
            "regent_plugin_set_generation",
            "gauge",
            "The active plugin set's generation; it goes up by one per swap.",
        );
        let _ = writeln!(o, "regent_plugin_set_generation {}", g.plugin_generation);
        let r = lock(&self.registry);
        head(
            o,
            "regent_plugin_swaps_total",
            "counter",
            "Versions made active since start, by plugin.",
        );
        for (plugin, n) in &r.swaps {
            let _ = writeln!(
                o,
                "regent_plugin_swaps_total{{plugin=\"{}\"}} {n}",
                esc(plugin)
            );
        }
        head(
            o,
            "regent_plugin_rejections_total",
            "counter",
            "Candidate versions refused since start, by the gate that refused them.",
        );
        for gate in crate::domain::registry::Gate::ALL {
            let n = r.rejections.get(gate.as_str()).copied().unwrap_or(0);
            let _ = writeln!(o, "regent_plugin_rejections_total{{gate=\"{gate}\"}} {n}");
        }
        head(
            o,
            "regent_plugin_activation_duration_seconds",
            "histogram",
            "From an activation's request to the new version serving.",
        );
        r.activation
            .render_plain(o, "regent_plugin_activation_duration_seconds");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_in_inf() {
        let e = Exporter::default();
        e.plugin_evaluated(
            "x",
            PluginKind::BreakerCondition,
            Duration::from_micros(50),
            false,
        );
        e.plugin_evaluated(
            "x",
            PluginKind::BreakerCondition,
            Duration::from_millis(3),
            true,
        );
        e.plugin_evaluated(
            "x",
            PluginKind::BreakerCondition,
            Duration::from_secs(10),
            false,
        );
        let text = e.render(&GovernanceFigures {
            phase: "L3".into(),
            ..Default::default()
        });
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let labels = "regent_plugin_evaluation_duration_seconds_bucket{plugin=\"x\",kind=\"breaker-condition\"";
        assert_eq!(line(&format!("{labels},le=\"0.0001\"}}")), "1");
        assert_eq!(line(&format!("{labels},le=\"0.005\"}}")), "2");
        assert_eq!(line(&format!("{labels},le=\"2.5\"}}")), "2");
        assert_eq!(line(&format!("{labels},le=\"+Inf\"}}")), "3");
        assert_eq!(
            line("regent_plugin_evaluation_errors_total{plugin=\"x\""),
            "1"
        );
        assert_eq!(line("regent_phase_info{phase=\"L3\"}"), "1");
        assert_eq!(line("regent_phase_info{phase=\"L4\"}"), "0");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("regent_command_error_ratio ")),
            "no data, no sample"
        );
    }
}
