//! Checklist item: the emergency stop is known to work.

use regent_sdk::checklist::*;

/// Passes when the emergency stop was exercised within the last
/// `max_age_days`, or when a human in one of `roles` (by default an
/// ops_lead) attested the kill switch was tested (by default
/// `kill_switch_tested`), e.g. in a drill the host did not see. An
/// attestation in another role does not count.
pub struct KillSwitchTested;

/// How recent an exercise must be, and which attestation counts instead,
/// by whom.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key that proves a test (default `kill_switch_tested`).
    pub attestation: String,
    /// The roles whose attestation counts, each one of the attesting roles
    /// (default `["ops_lead"]`).
    pub roles: Vec<String>,
    /// How many days ago the last exercise may be, at least 1 (default 90).
    pub max_age_days: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            attestation: "kill_switch_tested".to_string(),
            roles: vec!["ops_lead".to_string()],
            max_age_days: 90,
        }
    }
}

impl ChecklistItem for KillSwitchTested {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "the emergency stop was exercised in the last max_age_days (90), or an ops_lead attested its test";
    const ITEM: ItemSpec = ItemSpec::new(
        "kill-switch-tested",
        "Kill switch tested",
        Category::Technical,
        "infrastructure",
        2,
        false,
    );

    fn validate(params: &Params) -> Result<(), String> {
        check_attestation_key("attestation", &params.attestation)?;
        check_attesting_roles("roles", &params.attestation, &params.roles)?;
        check_at_least_one("max_age_days", params.max_age_days)
    }

    fn scope(params: &Params) -> ContextScope {
        ContextScope::scalars().with_attestation(&params.attestation)
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let exercise = RecentEvent {
            subject: "the emergency stop",
            happened: "exercised",
            last: ctx.facts.emergency_stop_last_exercised,
            max_age: params.max_age_days,
            unit: AgeUnit::Days,
        };
        Ok(exercise.or_attested(ctx, &params.attestation, &params.roles))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(KillSwitchTested);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn exercised(ms_ago: i64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.facts.emergency_stop_last_exercised = Some(NOW - ms_ago);
        ctx
    }

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        KillSwitchTested::evaluate(ctx, &Params::default()).unwrap()
    }

    #[test]
    fn an_exercise_in_the_last_90_days_passes() {
        assert_eq!(
            evaluate(&exercised(90 * DAY_MS)),
            pass(
                "the emergency stop was exercised 90.0 days ago (within 90)",
                Some(90.0)
            )
        );
        let late = evaluate(&exercised(90 * DAY_MS + 1));
        assert!(!late.passed);
        assert_eq!(
            late.detail,
            "the emergency stop was last exercised 90.0 days ago (more than 90), \
             and no attestation `kill_switch_tested`; it needs an ops_lead"
        );
        assert_eq!(
            evaluate(&empty_context(NOW)).detail,
            "the emergency stop was never exercised, \
             and no attestation `kill_switch_tested`; it needs an ops_lead"
        );
    }

    #[test]
    fn a_kill_switch_tested_attestation_by_an_ops_lead_passes() {
        let mut ctx = exercised(200 * DAY_MS);
        ctx.attestations
            .push(attestation("kill_switch_tested", "bo", "ops_lead", NOW));
        assert_eq!(
            evaluate(&ctx),
            pass(
                "`kill_switch_tested` attested by bo (ops_lead)",
                Some(200.0)
            )
        );
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = exercised(200 * DAY_MS);
        ctx.attestations
            .push(attestation("kill_switch_tested", "bob", "tech_lead", NOW));
        assert_eq!(
            evaluate(&ctx),
            fail(
                "the emergency stop was last exercised 200.0 days ago (more than 90), \
                 and `kill_switch_tested` is attested by bob (tech_lead), which does not count: \
                 it needs an ops_lead",
                Some(200.0)
            )
        );
        let either = parse_params::<Params>(r#"{"roles": ["ops_lead", "tech_lead"]}"#).unwrap();
        assert!(KillSwitchTested::validate(&either).is_ok());
        assert!(KillSwitchTested::evaluate(&ctx, &either).unwrap().passed);
    }

    #[test]
    fn item_and_params() {
        let item = KillSwitchTested::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("kill-switch-tested", Category::Technical, 2, false)
        );
        let lenient = Params {
            max_age_days: 365,
            ..Params::default()
        };
        let old = exercised(200 * DAY_MS);
        assert!(KillSwitchTested::evaluate(&old, &lenient).unwrap().passed);
        assert!(KillSwitchTested::validate(&Params::default()).is_ok());
        let zero = Params {
            max_age_days: 0,
            ..Params::default()
        };
        assert_eq!(
            KillSwitchTested::validate(&zero).unwrap_err(),
            "`max_age_days` must be at least 1"
        );
        let empty = Params {
            attestation: " ".to_string(),
            ..Params::default()
        };
        assert_eq!(
            KillSwitchTested::validate(&empty).unwrap_err(),
            "`attestation` must name an attestation"
        );
        let roles = |roles: &[&str]| Params {
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Params::default()
        };
        assert_eq!(
            KillSwitchTested::validate(&roles(&[])).unwrap_err(),
            "`roles` is empty: no one could attest `kill_switch_tested`"
        );
        assert!(KillSwitchTested::validate(&roles(&["operator"]))
            .unwrap_err()
            .starts_with("`roles` names `operator`, which cannot attest"));
        assert_eq!(Params::default().roles, ["ops_lead"]);
    }
}
