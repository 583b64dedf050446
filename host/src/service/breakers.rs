//! Circuit breakers: rules checked by their plugins over their windows.

use std::collections::HashSet;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::evaluations::Evaluation;
use super::{PluginDeps, ServiceError, ServiceResult};
use crate::domain::auth::Principal;
use crate::domain::breaker::{
    BreakerAction, BreakerEvent, BreakerRule, BreakerVerdict, MetricsWindow, RulePatch,
};
use crate::domain::{PluginKind, Timestamp};
use crate::runtime::{EvalError, LoadedPlugin};
use crate::storage::prelude::*;

/// Circuit-breaker rules, their checks and the events they record.
pub struct BreakerService {
    db: Arc<dyn Store>,
    plugin: PluginDeps,
    /// Bounds each breaker check, and remembers the ones abandoned.
    checks: BreakerChecks,
}

impl BreakerService {
    pub(crate) fn new(db: Arc<dyn Store>, plugin: PluginDeps) -> Self {
        Self {
            db,
            plugin,
            checks: BreakerChecks::default(),
        }
    }

    /// Every rule, enabled or not.
    pub fn rules(&self) -> ServiceResult<Vec<BreakerRule>> {
        Ok(self.db.rules()?)
    }

    /// The rules each check evaluates.
    pub fn enabled_rules(&self) -> ServiceResult<Vec<BreakerRule>> {
        Ok(self.db.rules()?.into_iter().filter(|r| r.enabled).collect())
    }

    pub fn delete_rule(
        &self,
        name: &str,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<BreakerRule> {
        Ok(self.db.delete_rule(name, &who.id, now)?)
    }

    /// Breaker events, newest first.
    pub fn events(&self, limit: u32) -> ServiceResult<Vec<BreakerEvent>> {
        Ok(self.db.breaker_events(limit)?)
    }

    pub fn unresolved_events(&self) -> ServiceResult<Vec<BreakerEvent>> {
        Ok(self.db.unresolved_events()?)
    }

    /// Marks an event resolved, saying what was done.
    pub fn resolve_event(
        &self,
        id: i64,
        resolution: &str,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<BreakerEvent> {
        if resolution.trim().is_empty() {
            return Err(ServiceError::BadRequest(
                "`resolution` is empty: say what was done".into(),
            ));
        }
        Ok(self.db.resolve_event(id, &who.id, resolution, now)?)
    }

    /// A rule is saved only if its plugin exists, is a breaker condition,
    /// and accepts the rule's params (the condition parses).
    pub fn validate_rule(&self, rule: &BreakerRule) -> ServiceResult<()> {
        BreakerRule::check_name(&rule.name).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        rule.check_throttle()
            .map_err(|e| ServiceError::BadRequest(format!("rule `{}`: {e}", rule.name)))?;
        let plugins = self.plugin.plugins.current();
        let plugin = plugins.get(&rule.plugin).ok_or_else(|| {
            ServiceError::BadRequest(format!(
                "rule `{}`: no plugin named `{}` is loaded (GET /api/plugins lists them)",
                rule.name, rule.plugin
            ))
        })?;
        if plugin.kind() != PluginKind::BreakerCondition {
            return Err(ServiceError::BadRequest(format!(
                "rule `{}`: plugin `{}` is a {}, not a breaker-condition",
                rule.name,
                rule.plugin,
                plugin.kind()
            )));
        }
        let params = rule
            .plugin_params()
            .map_err(|e| ServiceError::BadRequest(format!("rule `{}`: {e}", rule.name)))?;
        self.plugin
            .runtime
            .validate_breaker_params(plugin, &params)
            .map_err(|e| {
                ServiceError::BadRequest(format!(
                    "rule `{}`: condition `{}` was refused by plugin `{}`: {}",
                    rule.name, rule.condition, rule.plugin, e.failure
                ))
            })
    }

    pub fn add_rule(
        &self,
        rule: BreakerRule,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<BreakerRule> {
        self.validate_rule(&rule)?;
        self.db.insert_rule(&rule, &who.id, now)?;
        Ok(rule)
    }

    pub fn patch_rule(
        &self,
        name: &str,
        patch: &RulePatch,
        who: &Principal,
        now: Timestamp,
    ) -> ServiceResult<BreakerRule> {
        let updated = patch.apply(&self.db.rule(name)?);
        self.validate_rule(&updated)?;
        Ok(self.db.update_rule(name, &updated, &who.id, now)?)
    }

    /// Evaluates every enabled rule over its window, each check bounded
    /// (see [`BreakerChecks`]) so that one cannot stall the others. A
    /// tripped rule with no unresolved event gets one, and its action runs
    /// with it. A rule that cannot be checked (its plugin fails, times out
    /// or is not loaded) gets an event carrying the error, which runs no
    /// action: a broken rule must not revert the program on its own, but
    /// its being blind must be seen, and holds expansion back until resolved.
    pub fn check_breakers(&self, now: Timestamp) -> ServiceResult<Vec<BreakerEvent>> {
        let mut created = Vec::new();
        // Windows end just after now, so a record stamped now counts.
        let end = Timestamp(now.millis() + 1);
        // Rules that share a window (two default rules use 5m) share its metrics.
        let mut windows: Vec<(i64, MetricsWindow)> = Vec::new();
        // One set for the whole check: every rule is judged by the same versions.
        let plugins = self.plugin.plugins.current();
        for rule in self.db.rules()?.into_iter().filter(|r| r.enabled) {
            let start = Timestamp(now.millis() - rule.window.millis);
            let window = match windows.iter().find(|(ms, _)| *ms == rule.window.millis) {
                Some((_, w)) => w.clone(),
                None => {
                    let tally = self.db.command_tally(start, end)?;
                    let (incidents, critical_autonomous) = self.db.incident_counts(start, end)?;
                    let w = MetricsWindow {
                        now,
                        metrics: tally.command_metrics(start, end),
                        failures: None,
                        incidents_by_severity: incidents.into(),
                        critical_autonomous_incidents: critical_autonomous,
                        p50_duration_ms: None,
                        p95_duration_ms: None,
                        p99_duration_ms: None,
                    }
                    .with_durations(self.db.command_durations(start, end)?);
                    windows.push((rule.window.millis, w.clone()));
                    w
                }
            };
            let plugin = plugins.get(&rule.plugin);
            let verdict = match plugin {
                Some(plugin) => self.check_rule(&rule, plugin, window),
                None => Err(CheckError::NotLoaded(rule.plugin.clone())),
            };
            let (plugin_name, plugin_version) = plugin.map_or_else(
                || (rule.plugin.clone(), String::new()),
                |p| (p.name().to_string(), p.version().to_string()),
            );
            let mut event = BreakerEvent {
                id: 0,
                rule_name: rule.name.clone(),
                condition: rule.condition.clone(),
                window: rule.window,
                action: rule.action,
                alert_severity: rule.alert_severity,
                observed_value: None,
                reason: String::new(),
                triggered_at: now,
                resolved_at: None,
                resolved_by: None,
                resolution: None,
                paused_command_types: Vec::new(),
                throttle: None,
                plugin: plugin_name,
                plugin_version,
                check_error: None,
                truncated: false,
            };
            match verdict {
                Ok(verdict) if !verdict.tripped => continue,
                Ok(verdict) => {
                    event.observed_value = verdict.observed;
                    event.reason = verdict.reason;
                    event.truncated = verdict.truncated;
                    if rule.action == BreakerAction::PauseCommandType {
                        event.paused_command_types = self.db.failed_command_types(start, end)?;
                    }
                    if rule.action == BreakerAction::Throttle {
                        event.throttle = rule.throttle.clone();
                    }
                }
                Err(error) => {
                    tracing::error!(rule = %rule.name, %error, "breaker rule could not be checked");
                    event.action = BreakerAction::AlertOnly;
                    event.reason = format!("the rule could not be checked: {error}");
                    event.check_error = Some(error.to_string());
                }
            }
            if let Some(event) = self.db.record_trip(event)? {
                match &event.check_error {
                    None => {
                        tracing::warn!(rule = %event.rule_name, action = event.action.as_str(), reason = %event.reason, "circuit breaker tripped")
                    }
                    Some(error) => {
                        tracing::warn!(rule = %event.rule_name, %error, "breaker event recorded: the rule could not be checked")
                    }
                }
                created.push(event);
            }
        }
        Ok(created)
    }

    /// Evaluates one rule on a thread of its own, waiting at most its
    /// plugin's time limit plus [`CHECK_GRACE`].
    fn check_rule(
        &self,
        rule: &BreakerRule,
        plugin: &Arc<LoadedPlugin>,
        window: MetricsWindow,
    ) -> Result<BreakerVerdict, CheckError> {
        let params = rule
            .plugin_params()
            .map_err(|e| CheckError::Params(e.to_string()))?;
        let bound = Duration::from_millis(plugin.summary().timeout_ms) + CHECK_GRACE;
        let sample = || super::registry::breaker_input(&rule.name, plugin.name(), &params, &window);
        let (checked_window, checked_params) = (window.clone(), params.clone());
        self.plugin
            .evaluator
            .evaluate(Evaluation::served(plugin, sample), |runtime| {
                let (runtime, evaluated) = (runtime.clone(), plugin.clone());
                self.checks
                    .run(&rule.name, bound, move || {
                        runtime.evaluate_breaker_with(&evaluated, &checked_window, &checked_params)
                    })
                    .map_err(|abandoned| CheckError::Abandoned {
                        plugin: plugin.name().to_string(),
                        version: plugin.version().to_string(),
                        abandoned,
                    })
                    .and_then(|verdict| verdict.map_err(CheckError::Plugin))
            })
    }
}

/// How long past its plugin's time limit a breaker check may take
/// (instantiation, a busy machine) before it is abandoned. The runtime
/// ends every evaluation at its limit; this bound holds even if it did not.
pub const CHECK_GRACE: Duration = Duration::from_secs(2);

/// Why a breaker rule could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("no plugin named `{0}` is loaded")]
    NotLoaded(String),
    #[error("its params are invalid: {0}")]
    Params(String),
    #[error(transparent)]
    Plugin(EvalError),
    #[error("plugin `{plugin}` {version}: {abandoned}")]
    Abandoned {
        plugin: String,
        version: String,
        abandoned: Abandoned,
    },
}

/// Why [`BreakerChecks::run`] gave up on a check.
#[derive(Debug, thiserror::Error)]
pub enum Abandoned {
    #[error("timeout: the check had not returned after {} ms, and was abandoned", .0.as_millis())]
    TimedOut(Duration),
    #[error("timeout: the rule's check from an earlier round has still not returned")]
    StillRunning,
    #[error("the check panicked")]
    Panicked,
    #[error("cannot start a thread for the check: {0}")]
    Thread(std::io::Error),
}

/// Runs each breaker check on a thread of its own and waits for it with a
/// bound. A check that outlives its bound is left to finish on its thread,
/// and its rule is not checked again until it has: a check that never
/// returns costs one thread per rule, not one per round, and never stalls
/// the other rules.
#[derive(Default)]
pub struct BreakerChecks {
    running: Arc<Mutex<HashSet<String>>>,
}

/// Takes its rule off the running set when its check ends, however it ends.
struct Running {
    rule: String,
    running: Arc<Mutex<HashSet<String>>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        lock(&self.running).remove(&self.rule);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A set of names stays meaningful after a panic elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl BreakerChecks {
    pub fn run<R: Send + 'static>(
        &self,
        rule: &str,
        bound: Duration,
        check: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, Abandoned> {
        if !lock(&self.running).insert(rule.to_string()) {
            return Err(Abandoned::StillRunning);
        }
        let running = Running {
            rule: rule.to_string(),
            running: self.running.clone(),
        };
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("regent-breaker-check".into())
            .spawn(move || {
                let result = check();
                // Off the running set before the result is seen, so the
                // next round may check the rule again.
                drop(running);
                let _ = done.send(result);
            });
        if let Err(e) = spawned {
            // The closure, and the guard in it, were dropped with the error.
            return Err(Abandoned::Thread(e));
        }
        match outcome.recv_timeout(bound) {
            Ok(result) => Ok(result),
            Err(RecvTimeoutError::Timeout) => Err(Abandoned::TimedOut(bound)),
            Err(RecvTimeoutError::Disconnected) => Err(Abandoned::Panicked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_never_returns_is_abandoned_and_not_started_again_until_it_does() {
        let checks = BreakerChecks::default();
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let bound = Duration::from_millis(20);
        let stuck = checks.run("stuck", bound, move || hung.recv().is_ok());
        assert!(
            matches!(stuck, Err(Abandoned::TimedOut(b)) if b == bound),
            "{stuck:?}"
        );
        // While it hangs, the rule is not checked again, so hung checks
        // cannot pile up; other rules still are.
        let again = checks.run("stuck", bound, || true);
        assert!(matches!(again, Err(Abandoned::StillRunning)), "{again:?}");
        assert!(matches!(checks.run("other", bound, || 7), Ok(7)));

        release.send(()).unwrap();
        // Once the abandoned check returns, the rule is checked again.
        let wait_ms = 10_000;
        let mut result = Err(Abandoned::StillRunning);
        for _ in 0..wait_ms / 10 {
            result = checks.run("stuck", bound, || true);
            if !matches!(result, Err(Abandoned::StillRunning)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(matches!(result, Ok(true)), "{result:?}");
    }

    #[test]
    fn a_check_that_panics_is_reported_and_frees_its_rule() {
        let checks = BreakerChecks::default();
        let bound = Duration::from_secs(60);
        let panicked = checks.run("bad", bound, || -> u8 { panic!("boom") });
        assert!(matches!(panicked, Err(Abandoned::Panicked)), "{panicked:?}");
        assert!(matches!(checks.run("bad", bound, || 1), Ok(1)));
    }
}
