//! Circuit breakers: rules checked by their plugins over their windows.

use std::time::Instant;

use super::{Governance, ServiceError, ServiceResult};
use crate::domain::auth::Principal;
use crate::domain::breaker::{BreakerAction, BreakerEvent, BreakerRule, MetricsWindow, RulePatch};
use crate::domain::{PluginKind, Timestamp};

impl Governance {
    /// A rule is saved only if its plugin exists, is a breaker condition,
    /// and accepts the rule's params (the condition parses).
    pub fn validate_rule(&self, rule: &BreakerRule) -> ServiceResult<()> {
        BreakerRule::check_name(&rule.name).map_err(ServiceError::BadRequest)?;
        let plugins = self.plugins.current();
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
        self.runtime
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

    /// Evaluates every enabled rule over its window. A tripped rule with no
    /// unresolved event gets one, and its action runs with it. A rule
    /// whose plugin fails is logged and counted, and trips nothing: a
    /// broken rule must not revert the program on its own.
    pub fn check_breakers(&self, now: Timestamp) -> ServiceResult<Vec<BreakerEvent>> {
        let mut created = Vec::new();
        // Windows end just after now, so a record stamped now counts.
        let end = Timestamp(now.millis() + 1);
        // Rules that share a window (two default rules use 5m) share its metrics.
        let mut windows: Vec<(i64, MetricsWindow)> = Vec::new();
        // One set for the whole check: every rule is judged by the same versions.
        let plugins = self.plugins.current();
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
                    };
                    windows.push((rule.window.millis, w.clone()));
                    w
                }
            };
            let Some(plugin) = plugins.get(&rule.plugin) else {
                tracing::error!(rule = %rule.name, plugin = %rule.plugin, "breaker rule names a plugin that is not loaded");
                continue;
            };
            let params = match rule.plugin_params() {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(rule = %rule.name, error = %e, "breaker rule has invalid params");
                    continue;
                }
            };
            self.shadow.record("breaker", || {
                super::registry::breaker_input(&rule.name, plugin.name(), &params, &window)
            });
            let started = Instant::now();
            let verdict = self.runtime.evaluate_breaker_with(plugin, &window, &params);
            self.exporter.plugin_evaluated(
                plugin.name(),
                plugin.kind(),
                started.elapsed(),
                verdict.is_err(),
            );
            let verdict = match verdict {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(rule = %rule.name, error = %e, "breaker condition failed");
                    continue;
                }
            };
            if !verdict.tripped {
                continue;
            }
            let paused = if rule.action == BreakerAction::PauseCommandType {
                self.db.failed_command_types(start, end)?
            } else {
                Vec::new()
            };
            let event = BreakerEvent {
                id: 0,
                rule_name: rule.name.clone(),
                condition: rule.condition.clone(),
                window: rule.window,
                action: rule.action,
                alert_severity: rule.alert_severity,
                observed_value: verdict.observed,
                reason: verdict.reason,
                triggered_at: now,
                resolved_at: None,
                resolved_by: None,
                resolution: None,
                paused_command_types: paused,
                plugin: plugin.name().to_string(),
                plugin_version: plugin.version().to_string(),
                truncated: verdict.truncated,
            };
            if let Some(event) = self.db.record_trip(event)? {
                tracing::warn!(rule = %event.rule_name, action = event.action.as_str(), reason = %event.reason, "circuit breaker tripped");
                created.push(event);
            }
        }
        Ok(created)
    }
}
