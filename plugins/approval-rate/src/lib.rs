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
        if !(0.0..=1.0).contains(&params.min) {
            return Err(format!(
                "`min` is a rate and must be between 0 and 1, got {}",
                params.min
            ));
        }
        Ok(())
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        let Some(rate) = ctx.metrics.approval_rate else {
            return Ok(fail(
                "no command needed approval in the window, so there is no approval rate",
                None,
            ));
        };
        let detail = format!(
            "approval rate {:.2}% (needs > {:.2}%), {} rejected",
            rate * 100.0,
            params.min * 100.0,
            ctx.metrics.by_status.rejected
        );
        Ok(if rate > params.min {
            pass(detail, Some(rate))
        } else {
            fail(detail, Some(rate))
        })
    }
}

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
    fn passes_above_the_minimum() {
        let verdict = ApprovalRate::evaluate(&context(0.9, 10), &Params::default()).unwrap();
        assert!(verdict.passed);
        assert_eq!(verdict.observed, Some(0.9));
        assert_eq!(
            verdict.detail,
            "approval rate 90.00% (needs > 80.00%), 10 rejected"
        );
    }

    #[test]
    fn fails_at_or_below_the_minimum() {
        assert!(
            !ApprovalRate::evaluate(&context(0.8, 20), &Params::default())
                .unwrap()
                .passed
        );
        let below = ApprovalRate::evaluate(&context(0.5, 50), &Params::default()).unwrap();
        assert!(!below.passed);
        assert_eq!(below.observed, Some(0.5));
        assert!(
            ApprovalRate::evaluate(&context(0.8001, 1), &Params::default())
                .unwrap()
                .passed
        );
    }

    #[test]
    fn no_data_fails() {
        let verdict = ApprovalRate::evaluate(&empty_context(NOW), &Params::default()).unwrap();
        assert!(!verdict.passed);
        assert_eq!(verdict.observed, None);
        assert!(verdict.detail.starts_with("no command needed approval"));
    }

    #[test]
    fn params_default_and_validate() {
        assert_eq!(parse_params::<Params>("").unwrap(), Params::default());
        assert!(ApprovalRate::validate(&Params::default()).is_ok());
        let err = ApprovalRate::validate(&Params { min: 80.0 }).unwrap_err();
        assert_eq!(err, "`min` is a rate and must be between 0 and 1, got 80");
        assert!(ApprovalRate::validate(&Params { min: f64::NAN }).is_err());
        assert!(parse_params::<Params>(r#"{"max": 1}"#).is_err());
    }
}
