//! Checklist item: autonomous actions have caused no critical incident.

use regent_sdk::checklist::*;

/// Passes when no critical incident caused by an autonomous action happened
/// since the program entered its current phase. Critical incidents caused
/// by humans, and those from before the phase began, do not count: the
/// question is whether the autonomy granted *now* has been safe.
pub struct NoCriticalAutonomousIncidents;

impl ChecklistItem for NoCriticalAutonomousIncidents {
    type Params = NoParams;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "no critical incident from an autonomous action since the phase was entered";
    const ITEM: ItemSpec = ItemSpec::new(
        "no-critical-autonomous-incidents",
        "Zero critical incidents from autonomous actions",
        Category::Technical,
        "safety & testing",
        5,
        true,
    );

    fn scope(_: &NoParams) -> ContextScope {
        ContextScope::scalars().with_incidents()
    }

    fn evaluate(ctx: &ReadinessContext, _: &NoParams) -> Result<ItemVerdict, String> {
        let offending: Vec<&Incident> = ctx
            .incidents
            .iter()
            .filter(|i| {
                i.severity == Severity::Critical
                    && i.autonomous
                    && i.occurred_at >= ctx.phase.entered_at
            })
            .collect();
        let count = offending.len();
        if count == 0 {
            return Ok(pass(
                "no critical incidents from autonomous actions since the phase was entered",
                Some(0.0),
            ));
        }
        let mut commands: Vec<&str> = offending
            .iter()
            .filter_map(|i| i.command_type.as_deref())
            .collect();
        commands.sort_unstable();
        commands.dedup();
        let plural = if count == 1 { "" } else { "s" };
        let mut detail = format!(
            "{count} critical incident{plural} from autonomous actions since the phase was entered"
        );
        if !commands.is_empty() {
            detail.push_str(&format!(" ({})", commands.join(", ")));
        }
        Ok(fail(detail, Some(count as f64)))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(NoCriticalAutonomousIncidents);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;
    const ENTERED: i64 = NOW - 30 * DAY_MS;

    fn incident(severity: Severity, autonomous: bool, at: i64, command: &str) -> Incident {
        Incident {
            severity,
            autonomous,
            occurred_at: at,
            command_type: Some(command.to_string()),
        }
    }

    fn context(incidents: Vec<Incident>) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.phase.entered_at = ENTERED;
        ctx.incidents = incidents;
        ctx
    }

    fn evaluate(ctx: &ReadinessContext) -> ItemVerdict {
        NoCriticalAutonomousIncidents::evaluate(ctx, &NoParams {}).unwrap()
    }

    #[test]
    fn passes_with_no_incidents() {
        let verdict = evaluate(&context(vec![]));
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(0.0));
    }

    #[test]
    fn fails_on_a_critical_autonomous_incident_in_the_phase() {
        let verdict = evaluate(&context(vec![
            incident(Severity::Critical, true, ENTERED + DAY_MS, "SET_FAN"),
            incident(Severity::Critical, true, ENTERED + 2 * DAY_MS, "SET_FAN"),
            incident(Severity::Critical, true, ENTERED + 3 * DAY_MS, "SET_POWER"),
        ]));
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, Some(3.0));
        assert_eq!(
            verdict.detail,
            "3 critical incidents from autonomous actions since the phase was entered \
             (SET_FAN, SET_POWER)"
        );
    }

    #[test]
    fn the_phase_start_is_inclusive() {
        let verdict = evaluate(&context(vec![incident(
            Severity::Critical,
            true,
            ENTERED,
            "ABORT",
        )]));
        assert!(!verdict.passed);
        assert_eq!(
            verdict.detail,
            "1 critical incident from autonomous actions since the phase was entered (ABORT)"
        );
    }

    #[test]
    fn ignores_earlier_human_and_lesser_incidents() {
        let verdict = evaluate(&context(vec![
            incident(Severity::Critical, true, ENTERED - 1, "SET_FAN"),
            incident(Severity::Critical, false, ENTERED + DAY_MS, "SET_FAN"),
            incident(Severity::High, true, ENTERED + DAY_MS, "SET_FAN"),
        ]));
        assert!(verdict.passed, "{}", verdict.detail);
        assert_eq!(verdict.observed, Some(0.0));
    }
}
