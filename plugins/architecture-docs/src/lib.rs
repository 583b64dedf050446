//! Checklist item: the architecture docs are up to date, as attested by a human.

use regent_sdk::checklist::*;

/// Passes while a current attestation `architecture_docs` made by a tech_lead
/// is on record. An attestation in another role does not count, nor an expired
/// or future-dated one.
pub struct ArchitectureDocs;

// Engineering evidence: by default only a tech_lead's attestation counts.
impl AttestationDefaults for ArchitectureDocs {
    const KEY: &'static str = "architecture_docs";
    const ROLES: &'static [&'static str] = &["tech_lead"];
}

/// Which attestation the item looks for and whose counts: `key` and
/// `roles` (or `role`, short for a list of one), defaulting as above.
pub type Params = AttestationParams<ArchitectureDocs>;

impl ChecklistItem for ArchitectureDocs {
    type Params = Params;
    const PANIC_MESSAGES: bool = false;
    const SUMMARY: &'static str =
        "a current attestation `architecture_docs` by a tech_lead is on record";
    const ITEM: ItemSpec = ItemSpec::new(
        "architecture-docs",
        "Architecture docs updated",
        Category::Process,
        "documentation",
        2,
        false,
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
regent_sdk::checklist_item!(ArchitectureDocs);

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    #[test]
    fn looks_for_a_current_architecture_docs_attestation_by_a_tech_lead() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            ArchitectureDocs::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "no attestation `architecture_docs`; it needs a tech_lead"
        );
        for role in ArchitectureDocs::ROLES {
            ctx.attestations = vec![attestation("architecture_docs", "ana", role, NOW)];
            assert_eq!(
                ArchitectureDocs::evaluate(&ctx, &Params::default()).unwrap(),
                pass(
                    format!("`architecture_docs` attested by ana ({role})"),
                    None
                )
            );
        }
    }

    #[test]
    fn an_attestation_by_another_role_does_not_count() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("architecture_docs", "bob", "ops_lead", NOW));
        assert_eq!(
            ArchitectureDocs::evaluate(&ctx, &Params::default()).unwrap(),
            fail(
                "`architecture_docs` is attested by bob (ops_lead), which does not count: \
                 it needs a tech_lead",
                None
            )
        );
        // Unless the params accept that role.
        let either = parse_params::<Params>(r#"{"roles": ["tech_lead", "ops_lead"]}"#).unwrap();
        assert!(ArchitectureDocs::evaluate(&ctx, &either).unwrap().passed);
        ctx.attestations.push(attestation(
            "architecture_docs",
            "ana",
            "tech_lead",
            NOW - DAY_MS,
        ));
        assert_eq!(
            ArchitectureDocs::evaluate(&ctx, &Params::default())
                .unwrap()
                .detail,
            "`architecture_docs` attested by ana (tech_lead)"
        );
    }

    #[test]
    fn item_and_params() {
        let item = ArchitectureDocs::ITEM;
        assert_eq!(
            (item.id, item.category, item.points, item.required),
            ("architecture-docs", Category::Process, 2, false)
        );
        assert_eq!(Params::default().roles, ["tech_lead"]);
        assert!(ArchitectureDocs::validate(&Params::default()).is_ok());
        assert!(ArchitectureDocs::validate(&Params::new(" ", ArchitectureDocs::ROLES)).is_err());
        assert_eq!(
            ArchitectureDocs::validate(&Params::new("architecture_docs", &[])).unwrap_err(),
            "`roles` is empty: no one could attest `architecture_docs`"
        );
        assert!(
            ArchitectureDocs::validate(&Params::new("architecture_docs", &["reporter"]))
                .unwrap_err()
                .starts_with("`roles` names `reporter`, which cannot attest")
        );
        // `role` is short for a list of one.
        let sponsor = parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap();
        assert_eq!(sponsor, Params::new("architecture_docs", &["exec_sponsor"]));
    }
}
