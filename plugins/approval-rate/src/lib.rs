//! Checklist item: humans approve what the system proposes.

use regent_sdk::checklist::*;

/// Passes when the approval rate over the assessment window (commands that
/// needed approval and were not rejected, over those that needed approval)
/// is strictly above `min`. With no command needing approval there is no
/// rate, and the item fails: nothing shows that humans agree with it.
pub struct ApprovalRate;

/// The bar the approval rate must clear.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Params {
    /// The rate must be strictly above this, between 0 and 1 (default 0.80).
    pub min: f64,
}

impl Default for Params {
    fn default() -> Self {
        Self { min: 0.80 }
    }
}

impl ChecklistItem for ApprovalRate {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str = "approval rate over the window > min (80%)";
    const ITEM: ItemSpec = ItemSpec::new(
        "approval-rate",
        "Approval rate > 80%",
        Category::Technical,
        "command performance",
        3,
        false,
    );

    fn validate(params: &Params) -> Result<(), String> {
        check_rate("min", params.min)
    }

    fn scope(_: &Params) -> ContextScope {
        ContextScope::scalars()
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let rejected = ctx.metrics.by_status.rejected;
        let bar = Bound::Above(params.min);
        Ok(bar.verdict(
            ctx.metrics.approval_rate,
            "no command needed approval in the window, so there is no approval rate",
            |rate| {
                format!(
                    "approval rate {} (needs {bar}), {rejected} rejected",
                    percent(rate)
                )
            },
        ))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(ApprovalRate);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn context(rate: f64, rejected: u64) -> ReadinessContext {
        let mut ctx = empty_context(NOW);
        ctx.metrics.approval_rate = Some(rate);
        ctx.metrics.by_status.rejected = rejected;
        ctx
    }

    #[test]
    fn passes_strictly_above_80_percent() {
        let verdict = ApprovalRate::evaluate(&context(0.9, 10), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            pass(
                "approval rate 90.00% (needs > 80.00%), 10 rejected",
                Some(0.9)
            )
        );
        let at = ApprovalRate::evaluate(&context(0.8, 20), &Params::default()).unwrap();
        assert!(!at.passed);
    }

    #[test]
    fn no_command_needing_approval_fails() {
        let verdict = ApprovalRate::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert_eq!(
            verdict,
            fail(
                "no command needed approval in the window, so there is no approval rate",
                None
            )
        );
    }

    #[test]
    fn item_and_params() {
        let item = ApprovalRate::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("approval-rate", Category::Technical, 3, false)
        );
        let lenient = Params { min: 0.5 };
        assert!(
            ApprovalRate::evaluate(&context(0.6, 40), &lenient)
                .unwrap()
                .passed
        );
        assert!(ApprovalRate::validate(&Params::default()).is_ok());
        assert!(ApprovalRate::validate(&Params { min: 80.0 }).is_err());
        assert!(parse_params::<Params>(r#"{"max": 1}"#).is_err());
    }
}
