# The Regent 22-item readiness checklist, written in Rego for benchmark (d).
# Evaluated by the `regorus` crate (Rego v1 syntax). One evaluation of
# `data.regent.checklist.result` is one whole assessment.
#
# Input: the readiness context JSON (times in ms since epoch; rates may be null).
package regent.checklist

minute_ms := 60000

day_ms := 86400000

# Thresholds (defaults).
min_success_rate := 0.995

min_approval_rate := 0.80

max_rollback_rate := 0.02

min_eval_coverage := 0.90

max_scrape_age_ms := 10 * minute_ms

max_kill_switch_age_ms := 90 * day_ms

points := {
	"time-at-phase": 5,
	"success-rate": 5,
	"approval-rate": 3,
	"rollback-rate": 2,
	"eval-coverage": 5,
	"no-critical-autonomous-incidents": 5,
	"breakers-configured": 3,
	"monitoring-in-place": 3,
	"kill-switch-tested": 2,
	"chaos-testing": 2,
	"runbooks": 5,
	"incident-playbooks": 3,
	"architecture-docs": 2,
	"escalation-path": 4,
	"stakeholder-signoff": 4,
	"security-review": 3,
	"audit-trail": 2,
	"rollback-plan": 2,
	"oncall-trained": 6,
	"team-consensus": 6,
	"product-approval": 4,
	"ops-approval": 4,
}

# Items that pass on a current attestation of the given key, whoever attested.
# Each attestation item: its key, and the roles whose attestation counts
# (the plugins' default `roles`).
attestation_items := {
	"chaos-testing": ["chaos_testing", {"tech_lead"}],
	"runbooks": ["runbooks", {"ops_lead"}],
	"incident-playbooks": ["incident_playbooks", {"ops_lead"}],
	"architecture-docs": ["architecture_docs", {"tech_lead"}],
	"escalation-path": ["escalation_path", {"ops_lead"}],
	"stakeholder-signoff": ["stakeholder_signoff", {"exec_sponsor"}],
	"security-review": ["security_review", {"tech_lead"}],
	"audit-trail": ["audit_trail", {"tech_lead"}],
	"rollback-plan": ["rollback_plan", {"tech_lead"}],
	"oncall-trained": ["oncall_trained", {"ops_lead"}],
	"team-consensus": ["team_consensus", {"tech_lead", "ops_lead", "product_lead", "exec_sponsor"}],
}

# ---- helpers ---------------------------------------------------------------

# An attestation is current when attestedAt <= now and (expiresAt is null or expiresAt > now).
current_attestations contains a if {
	some a in input.attestations
	a.attestedAt <= input.now
	object.get(a, "expiresAt", null) == null
}

current_attestations contains a if {
	some a in input.attestations
	a.attestedAt <= input.now
	a.expiresAt != null
	a.expiresAt > input.now
}

# Keys (and key/role pairs) of the current attestations, computed once per evaluation.

current_key_roles := {[a.key, a.role] | some a in current_attestations}

critical_autonomous_incident_since_phase_entry if {
	some i in input.incidents
	i.severity == "critical"
	i.autonomous == true
	i.occurredAt >= input.phase.enteredAt
}

# ---- the items -------------------------------------------------------------

passed contains "time-at-phase" if {
	input.phase.daysAtPhase >= input.phase.minStabilizationDays
}

passed contains "success-rate" if {
	r := input.metrics.successRate
	r != null
	r > min_success_rate
}

passed contains "approval-rate" if {
	r := input.metrics.approvalRate
	r != null
	r > min_approval_rate
}

passed contains "rollback-rate" if {
	r := input.metrics.rollbackRate
	r != null
	r < max_rollback_rate
}

passed contains "eval-coverage" if {
	some g in input.facts.gauges
	g.name == "evalCoverage"
	g.value != null
	g.value > min_eval_coverage
}

passed contains "no-critical-autonomous-incidents" if {
	not critical_autonomous_incident_since_phase_entry
}

passed contains "breakers-configured" if {
	input.facts.enabledBreakerRules >= 1
}

passed contains "monitoring-in-place" if {
	["monitoring", "ops_lead"] in current_key_roles
}

passed contains "monitoring-in-place" if {
	t := input.facts.metricsLastScraped
	t != null
	input.now - t <= max_scrape_age_ms
}

passed contains "kill-switch-tested" if {
	t := input.facts.emergencyStopLastExercised
	t != null
	input.now - t <= max_kill_switch_age_ms
}

passed contains "kill-switch-tested" if {
	["kill_switch_tested", "ops_lead"] in current_key_roles
}

passed contains id if {
	some id, item in attestation_items
	some pair in current_key_roles
	pair[0] == item[0]
	pair[1] in item[1]
}

passed contains "product-approval" if {
	["product_approval", "product_lead"] in current_key_roles
}

passed contains "ops-approval" if {
	["ops_approval", "ops_lead"] in current_key_roles
}

# ---- the whole assessment --------------------------------------------------

result := {
	"score": sum([points[id] | some id in passed]),
	"passed": sort([id | some id in passed]),
}
