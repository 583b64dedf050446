//! Checklist item: the emergency stop is known to work.

use regent_sdk::checklist::*;

/// Passes when the emergency stop was exercised within the last
/// `max_age_days`, or when a human attested the kill switch was tested (by
/// default `kill_switch_tested`), e.g. in a drill the host did not see.
pub struct KillSwitchTested;

/// How recent an exercise must be, and which attestation counts instead.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The attestation key that proves a test (default `kill_switch_tested`).
    pub attestation: String,
    /// How many days ago the last exercise may be, at least 1 (default 90).
    pub max_age_days: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self {
            attestation: "kill_switch_tested".to_string(),
            max_age_days: 90,
        }
    }
}

impl ChecklistItem for KillSwitchTested {
    type Params = Params;
    const SUMMARY: &'static str =
        "the emergency stop was exercised in the last max_age_days (90), or its test is attested";
    const ITEM: ItemSpec = ItemSpec::new(
        "kill-switch-tested",
        "Kill switch tested",
        Category::Technical,
        "infrastructure",
        2,
        false,
    );

    fn validate(params: &Params) -> Result<(), String> {
        if params.attestation.trim().is_empty() {
            return Err("`attestation` must name an attestation".to_string());
        }
        if params.max_age_days == 0 {
            return Err("`max_age_days` must be at least 1".to_string());
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let max = params.max_age_days;
        let age_days = ctx
            .facts
            .emergency_stop_last_exercised
            .map(|at| (ctx.now - at).max(0) as f64 / DAY_MS as f64);
        let attested = attested_item(ctx, &params.attestation, None);
        if attested.passed {
            return Ok(pass(attested.detail, age_days));
        }
        Ok(match age_days {
            Some(age) if age <= f64::from(max) => pass(
                format!("the emergency stop was exercised {age:.1} days ago (within {max})"),
                age_days,
            ),
            Some(age) => fail(
                format!(
                    "the emergency stop was last exercised {age:.1} days ago (more than {max}), and {}",
                    attested.detail
                ),
                age_days,
            ),
            None => fail(
                format!("the emergency stop was never exercised, and {}", attested.detail),
                None,
            ),
        })
    }
}

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
    fn a_recent_exercise_passes() {
        let verdict = evaluate(&exercised(12 * DAY_MS));
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(12.0));
        assert_eq!(
            verdict.detail,
            "the emergency stop was exercised 12.0 days ago (within 90)"
        );
    }

    #[test]
    fn the_age_limit_is_inclusive_to_the_millisecond() {
        assert!(evaluate(&exercised(90 * DAY_MS)).passed);
        let late = evaluate(&exercised(90 * DAY_MS + 1));
        assert!(!late.passed);
        assert_eq!(
            late.detail,
            "the emergency stop was last exercised 90.0 days ago (more than 90), \
             and no attestation `kill_switch_tested`"
        );
    }

    #[test]
    fn never_exercised_and_not_attested_fails() {
        let verdict = evaluate(&empty_context(NOW));
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, None);
        assert_eq!(
            verdict.detail,
            "the emergency stop was never exercised, and no attestation `kill_switch_tested`"
        );
    }

    #[test]
    fn an_attestation_passes_even_if_the_exercise_is_old() {
        let mut ctx = exercised(200 * DAY_MS);
        ctx.attestations.push(attestation(
            "kill_switch_tested",
            "bo",
            "ops_lead",
            NOW - DAY_MS,
        ));
        let verdict = evaluate(&ctx);
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(200.0));
    }

    #[test]
    fn an_expired_attestation_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "kill_switch_tested",
            "bo",
            "ops_lead",
            NOW - 9 * DAY_MS,
        ));
        ctx.attestations[0].expires_at = Some(NOW - DAY_MS);
        let verdict = evaluate(&ctx);
        assert!(!verdict.passed);
        assert!(verdict
            .detail
            .ends_with("the attestation `kill_switch_tested` has expired"));
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(KillSwitchTested::validate(&Params::default()).is_ok());
        let zero = Params {
            max_age_days: 0,
            ..Params::default()
        };
        assert_eq!(
            KillSwitchTested::validate(&zero).unwrap_err(),
            "`max_age_days` must be at least 1"
        );
        let lenient = Params {
            max_age_days: 365,
            ..Params::default()
        };
        let mut ctx = empty_context(NOW);
        ctx.facts.emergency_stop_last_exercised = Some(NOW - 200 * DAY_MS);
        assert!(KillSwitchTested::evaluate(&ctx, &lenient).unwrap().passed);
    }
}
