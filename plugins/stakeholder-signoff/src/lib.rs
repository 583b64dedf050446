//! Checklist item: the stakeholders have signed off, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `stakeholder_signoff` made by an
/// exec_sponsor is on record. An attestation in another role does not count,
/// nor an expired or future-dated one.
pub struct StakeholderSignoff;

// Stakeholder sign-off: by default only an exec_sponsor's attestation counts.
impl AttestationDefaults for StakeholderSignoff {
    const KEY: &'static str = "stakeholder_signoff";
    const ROLES: &'static [&'static str] = &["exec_sponsor"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<StakeholderSignoff>;

impl ChecklistItem for StakeholderSignoff {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `stakeholder_signoff` by an exec_sponsor is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "stakeholder-signoff",
        "Stakeholder sign-off",
        Category::Process,
        "approval workflow",
        4,
        true,
    );

    fn validate(params: &Params) -> Result<(), String> {
        params.check()
    }

    fn scope(params: &Params) -> ContextScope {
        params.scope()
    }

    fn evaluate(ctx: &ReadinessContext, params: &Params) -> Result<ItemVerdict, String> {
        Ok(params.verdict(ctx))
    }
}

#[cfg(feature = "component")]
regent_sdk::checklist_item!(StakeholderSignoff);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_stakeholder_signoff_attestation_by_an_exec_sponsor() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            StakeholderSignoff::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `stakeholder_signoff`; it needs an exec_sponsor"
        );
        for role in StakeholderSignoff::ROLES {
            ctx.attestations = vec![attestation("stakeholder_signoff", "ana", role, NOW)];
            assert_eq!(
                StakeholderSignoff::evaluate(&ctx, &Params::default()).unwrap(),
                pass(
                    format!("`stakeholder_signoff` attested by ana ({role})"),
                    None
                )
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations.push(attestation(
            "stakeholder_signoff",
            "bob",
            "product_lead",
            NOW,
        ));
        assert_eq!(
            StakeholderSignoff::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`stakeholder_signoff` is attested by bob (product_lead), which does not count: \
                 it needs an exec_sponsor",
                None
            )
        );
        // Unless the params accept that role.
        let either =
            parse_params::<Params>(r#"{"roles": ["exec_sponsor", "product_lead"]}"#).unwrap();
        assert!(StakeholderSignoff::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "stakeholder_signoff",
            "ana",
            "exec_sponsor",
            NOW - DAY_MS,
        ));
        assert_eq!(
            StakeholderSignoff::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`stakeholder_signoff` attested by ana (exec_sponsor)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = StakeholderSignoff::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("stakeholder-signoff", Category::Process, 4, true)
        );
        assert_eq!(Params::default().roles, ["exec_sponsor"]);
        assert!(StakeholderSignoff::validate(&Params::default()).is_ok());
        assert!(
            StakeholderSignoff::validate(&Params::new(" ", StakeholderSignoff::ROLES)).is_err()
        );
        assert_eq!(
            StakeholderSignoff::validate(&Params::new("stakeholder_signoff", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `stakeholder_signoff`"
        );
        assert!(
            StakeholderSignoff::validate(&Params::new("stakeholder_signoff", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(
            sponsor,
            Params::new("stakeholder_signoff", &["exec_sponsor"])
        );
    }
}
