//! Readiness checklist items: the `checklist-item` world.
//!
//! Implement [`ChecklistItem`] and call [`checklist_item!`](crate::checklist_item)
//! once. The item's [`ItemSpec`] is what the assessment shows: its id, name,
//! category, points, and whether expansion is blocked while it fails.

use serde::de::DeserializeOwned;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "checklist-item",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_checklist_item_world",
        default_bindings_module: "::regent_sdk::checklist::bindings",
        runtime_path: "::regent_sdk::__wit_bindgen::rt",
        additional_derives: [Clone, PartialEq],
    });
}

pub use crate::params::{parse_params, NoParams};
pub use bindings::regent::policy::types::{
    Attestation, Category, ChecklistDescription, CommandMetrics, ContextScope, Facts, Gauge,
    Incident, ItemInfo, ItemVerdict, Phase, PhaseStatus, PluginInfo, PluginKind, ReadinessContext,
    Severity, StatusCounts, Timestamp,
};

/// Milliseconds in a day, for comparing [`Timestamp`]s.
pub const DAY_MS: i64 = 86_400_000;

/// The static description of a checklist item.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemSpec {
    /// Stable identifier, unique in a checklist, e.g. `success-rate`.
    pub id: &'static str,
    /// Human-readable name, e.g. `Success rate > 99.5%`.
    pub name: &'static str,
    /// The dimension it counts towards.
    pub category: Category,
    /// A grouping inside the category, e.g. `command performance`.
    pub subcategory: &'static str,
    /// Points added to the score when it passes.
    pub points: u32,
    /// Whether expansion is blocked while it fails.
    pub required: bool,
}

impl ItemSpec {
    /// Builds a spec; usable in a `const`.
    pub const fn new(
        id: &'static str,
        name: &'static str,
        category: Category,
        subcategory: &'static str,
        points: u32,
        required: bool,
    ) -> Self {
        Self {
            id,
            name,
            category,
            subcategory,
            points,
            required,
        }
    }

    /// The spec as the WIT `item-info` record.
    pub fn info(&self) -> ItemInfo {
        ItemInfo {
            id: self.id.to_string(),
            name: self.name.to_string(),
            category: self.category,
            subcategory: self.subcategory.to_string(),
            points: self.points,
            required: self.required,
        }
    }
}

/// A readiness checklist item.
pub trait ChecklistItem {
    /// The item's params, parsed from the manifest's `[params]` JSON.
    /// Missing fields should default (`#[serde(default)]`).
    type Params: DeserializeOwned;
    /// Whether a panic's message reaches the host, which then names it in
    /// the trap. It travels through the `log` import, and importing `log`
    /// costs every evaluation about 0.75 µs: wit-component links an import
    /// that takes a string through two extra core instances. A plugin that
    /// never logs can say `false`: a panic then traps as `unreachable`.
    const PANIC_MESSAGES: bool = true;

    /// One line saying what the item checks.
    const SUMMARY: &'static str;
    /// How the item appears in an assessment.
    const ITEM: ItemSpec;

    /// Checks params beyond their shape, e.g. that a threshold is in range.
    fn validate(params: &Self::Params) -> Result<(), String> {
        let _ = params;
        Ok(())
    }

    /// The parts of the context the item reads with these params. The host
    /// asks once, at load, and hands [`evaluate`](Self::evaluate) nothing
    /// else: no other attestation, incident or gauge. The default reads
    /// everything; say less to see less and to evaluate faster.
    fn scope(params: &Self::Params) -> ContextScope {
        let _ = params;
        ContextScope::everything()
    }

    /// Decides whether the item passes. `Err` means the item cannot decide;
    /// the host then counts it as not passed and shows the message.
    fn evaluate(ctx: &ReadinessContext, params: &Self::Params) -> Result<ItemVerdict, String>;
}

impl ContextScope {
    /// Every incident, attestation and gauge: what an item that does not
    /// say otherwise receives.
    pub fn everything() -> Self {
        Self {
            incidents: true,
            attestation_keys: None,
            gauge_names: None,
        }
    }

    /// Only what always comes: `now`, the phase, the metrics and the facts'
    /// scalar fields.
    pub fn scalars() -> Self {
        Self {
            incidents: false,
            attestation_keys: Some(Vec::new()),
            gauge_names: Some(Vec::new()),
        }
    }

    /// Adds the incidents.
    pub fn with_incidents(mut self) -> Self {
        self.incidents = true;
        self
    }

    /// Adds the attestations whose key is `key`.
    pub fn with_attestation(mut self, key: &str) -> Self {
        if let Some(keys) = &mut self.attestation_keys {
            keys.push(key.to_string());
        }
        self
    }

    /// Adds the gauge named `name`.
    pub fn with_gauge(mut self, name: &str) -> Self {
        if let Some(names) = &mut self.gauge_names {
            names.push(name.to_string());
        }
        self
    }
}

/// A passing verdict.
pub fn pass(detail: impl Into<String>, observed: Option<f64>) -> ItemVerdict {
    ItemVerdict {
        passed: true,
        detail: detail.into(),
        observed,
    }
}

/// A failing verdict.
pub fn fail(detail: impl Into<String>, observed: Option<f64>) -> ItemVerdict {
    ItemVerdict {
        passed: false,
        detail: detail.into(),
        observed,
    }
}

/// Whether an attestation still counts at `now`.
pub fn is_current(attestation: &Attestation, now: Timestamp) -> bool {
    attestation.attested_at <= now && attestation.expires_at.is_none_or(|expiry| expiry > now)
}

/// The roles that can attest in Regent, as the host names them in
/// [`Attestation::role`]. No other role ever attests: `reporter` (the
/// governed system itself), `viewer`, `operator` and `admin` cannot, so an
/// item's `roles` may name only these.
pub const ATTESTING_ROLES: [&str; 4] = ["tech_lead", "ops_lead", "product_lead", "exec_sponsor"];

/// Whether `role` is one of the [`ATTESTING_ROLES`].
pub fn is_attesting_role(role: &str) -> bool {
    ATTESTING_ROLES.contains(&role)
}

/// The newest current attestation of `key` made in one of `roles`, if any.
/// An attestation in any other role does not count.
pub fn find_attestation<'a, R: AsRef<str>>(
    ctx: &'a ReadinessContext,
    key: &str,
    roles: &[R],
) -> Option<&'a Attestation> {
    ctx.attestations
        .iter()
        .filter(|a| a.key == key && is_current(a, ctx.now) && accepts(roles, &a.role))
        .max_by_key(|a| a.attested_at)
}

fn accepts<R: AsRef<str>>(roles: &[R], role: &str) -> bool {
    roles.iter().any(|r| r.as_ref() == role)
}

/// Who may give an attestation, as failing details say it: `an ops_lead`,
/// `a tech_lead or an ops_lead`, `a tech_lead, an ops_lead or a
/// product_lead`.
pub fn needed_roles<R: AsRef<str>>(roles: &[R]) -> String {
    fn article(role: &str) -> &'static str {
        match role.chars().next() {
            Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
            _ => "a",
        }
    }
    let mut out = String::new();
    for (i, role) in roles.iter().map(AsRef::as_ref).enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == roles.len() { " or " } else { ", " });
        }
        out.push_str(article(role));
        out.push(' ');
        out.push_str(role);
    }
    if out.is_empty() {
        out.push_str("a role that can attest");
    }
    out
}

/// The verdict of an item that passes while `key` is attested in one of
/// `roles` and the attestation is current. Its details:
///
/// - ``"`runbooks` attested by ana (ops_lead)"``
/// - ``"`runbooks` is attested by bob (tech_lead), which does not count: it
///   needs an ops_lead"``, when the only current attestations are in roles
///   that do not count (the newest is named)
/// - ``"the attestation `runbooks` has expired; it needs an ops_lead"``, when
///   one in a role that counts has expired
/// - ``"no attestation `runbooks`; it needs an ops_lead"``
pub fn attested_item<R: AsRef<str>>(ctx: &ReadinessContext, key: &str, roles: &[R]) -> ItemVerdict {
    if let Some(a) = find_attestation(ctx, key, roles) {
        return pass(
            format!("`{key}` attested by {} ({})", a.attested_by, a.role),
            None,
        );
    }
    let of_key = || ctx.attestations.iter().filter(|a| a.key == key);
    let needs = needed_roles(roles);
    let other_role = of_key()
        .filter(|a| is_current(a, ctx.now))
        .max_by_key(|a| a.attested_at);
    let expired =
        || of_key().any(|a| accepts(roles, &a.role) && a.expires_at.is_some_and(|e| e <= ctx.now));
    let detail = if let Some(a) = other_role {
        format!(
            "`{key}` is attested by {} ({}), which does not count: it needs {needs}",
            a.attested_by, a.role
        )
    } else if expired() {
        format!("the attestation `{key}` has expired; it needs {needs}")
    } else {
        format!("no attestation `{key}`; it needs {needs}")
    };
    fail(detail, None)
}

/// The latest value of a gauge, if it was ever reported.
pub fn gauge(ctx: &ReadinessContext, name: &str) -> Option<f64> {
    ctx.facts
        .gauges
        .iter()
        .find(|g| g.name == name)
        .map(|g| g.value)
}

/// The attestation an item looks for unless its params say otherwise, and
/// the roles that may give it.
///
/// Implement it on an item whose params are [`AttestationParams<Self>`]:
///
/// ```ignore
/// impl AttestationDefaults for Runbooks {
///     const KEY: &'static str = "runbooks";
///     const ROLES: &'static [&'static str] = &["ops_lead"];
/// }
///
/// impl ChecklistItem for Runbooks {
///     type Params = AttestationParams<Self>;
///     // SUMMARY, ITEM ...
///     fn validate(params: &Self::Params) -> Result<(), String> {
///         params.check()
///     }
///     fn evaluate(ctx: &ReadinessContext, params: &Self::Params) -> Result<ItemVerdict, String> {
///         Ok(params.verdict(ctx))
///     }
/// }
/// ```
pub trait AttestationDefaults {
    /// The attestation key, e.g. `runbooks`.
    const KEY: &'static str;
    /// The roles an attestation must be made in to count, each one of the
    /// [`ATTESTING_ROLES`], e.g. `&["ops_lead"]`. There is no default: an
    /// item that accepted any role would let the governed system vouch for
    /// itself, so every item says whose word it takes.
    const ROLES: &'static [&'static str];
}

/// The params of an item that passes while an attestation is on record
/// (see [`attested_item`]): which attestation, and the roles that may give
/// it.
///
/// Missing fields take the defaults of `D`. `"role": "x"` is shorthand for
/// `"roles": ["x"]`; giving both is an error, and so are unknown fields.
pub struct AttestationParams<D> {
    /// The attestation key (default [`AttestationDefaults::KEY`]).
    pub key: String,
    /// The roles whose attestation counts (default
    /// [`AttestationDefaults::ROLES`]).
    pub roles: Vec<String>,
    defaults: core::marker::PhantomData<fn() -> D>,
}

/// [`AttestationParams`] as written, before the defaults apply.
//
// `expecting` keeps serde's messages ("expected struct Params") as they
// were when every attestation item declared its own `Params`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, expecting = "struct Params")]
struct RawAttestationParams {
    #[serde(default, deserialize_with = "some")]
    key: Option<String>,
    #[serde(default, deserialize_with = "some")]
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    role: Option<String>,
}

/// A field that may be missing but not `null`.
fn some<'de, T, De>(deserializer: De) -> Result<Option<T>, De::Error>
where
    T: serde::Deserialize<'de>,
    De: serde::Deserializer<'de>,
{
    T::deserialize(deserializer).map(Some)
}

impl<'de, D: AttestationDefaults> serde::Deserialize<'de> for AttestationParams<D> {
    fn deserialize<De: serde::Deserializer<'de>>(deserializer: De) -> Result<Self, De::Error> {
        let raw = <RawAttestationParams as serde::Deserialize>::deserialize(deserializer)?;
        let roles = match (raw.roles, raw.role) {
            (Some(_), Some(_)) => return Err(serde::de::Error::custom(
                "give `roles` or `role`, not both (`role = \"x\"` is short for `roles = [\"x\"]`)",
            )),
            (Some(roles), None) => roles,
            (None, Some(role)) => vec![role],
            (None, None) => D::ROLES.iter().map(|r| r.to_string()).collect(),
        };
        Ok(Self {
            key: raw.key.unwrap_or_else(|| D::KEY.to_string()),
            roles,
            defaults: core::marker::PhantomData,
        })
    }
}

impl<D> AttestationParams<D> {
    /// Params looking for `key`, made in one of `roles`.
    pub fn new(key: &str, roles: &[&str]) -> Self {
        Self {
            key: key.to_string(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            defaults: core::marker::PhantomData,
        }
    }

    /// Rejects a blank key, and roles that could never count (see
    /// [`check_attesting_roles`]): the item would fail forever. Meant for
    /// [`ChecklistItem::validate`].
    pub fn check(&self) -> Result<(), String> {
        check_attestation_key("key", &self.key)?;
        check_attesting_roles("roles", &self.key, &self.roles)
    }

    /// What the item reads: the attestations of its key, nothing else.
    pub fn scope(&self) -> ContextScope {
        ContextScope::scalars().with_attestation(&self.key)
    }

    /// The item's verdict: [`attested_item`] for this key and these roles.
    pub fn verdict(&self, ctx: &ReadinessContext) -> ItemVerdict {
        attested_item(ctx, &self.key, &self.roles)
    }
}

impl<D: AttestationDefaults> Default for AttestationParams<D> {
    fn default() -> Self {
        Self::new(D::KEY, D::ROLES)
    }
}

impl<D> Clone for AttestationParams<D> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            roles: self.roles.clone(),
            defaults: core::marker::PhantomData,
        }
    }
}

impl<D> PartialEq for AttestationParams<D> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.roles == other.roles
    }
}

impl<D> core::fmt::Debug for AttestationParams<D> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttestationParams")
            .field("key", &self.key)
            .field("roles", &self.roles)
            .finish()
    }
}

/// Checks the param `name`, the roles that may attest `key`: it must name
/// at least one role, each one of the [`ATTESTING_ROLES`], none twice.
pub fn check_attesting_roles<R: AsRef<str>>(
    name: &str,
    key: &str,
    roles: &[R],
) -> Result<(), String> {
    if roles.is_empty() {
        return Err(format!("`{name}` is empty: no one could attest `{key}`"));
    }
    for (i, role) in roles.iter().map(AsRef::as_ref).enumerate() {
        if role.trim().is_empty() {
            return Err(format!("`{name}` has a blank role"));
        }
        if !is_attesting_role(role) {
            return Err(format!(
                "`{name}` names `{role}`, which cannot attest (the attesting roles are {})",
                ATTESTING_ROLES.join(", ")
            ));
        }
        if roles[..i].iter().any(|r| r.as_ref() == role) {
            return Err(format!("`{name}` names `{role}` twice"));
        }
    }
    Ok(())
}

/// Checks that the param `name` names an attestation, i.e. is not blank.
pub fn check_attestation_key(name: &str, key: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        return Err(format!("`{name}` must name an attestation"));
    }
    Ok(())
}

/// Checks that the param `name`, a count or an age, is at least 1.
pub fn check_at_least_one(name: &str, value: u32) -> Result<(), String> {
    if value == 0 {
        return Err(format!("`{name}` must be at least 1"));
    }
    Ok(())
}

/// Checks that the param `name`, a rate, is between 0 and 1.
pub fn check_rate(name: &str, value: f64) -> Result<(), String> {
    check_share(name, "a rate", value)
}

/// Checks that the param `name`, a share such as a rate or a coverage, is
/// between 0 and 1; `what` says what it is in the message, e.g. `a rate`.
pub fn check_share(name: &str, what: &str, value: f64) -> Result<(), String> {
    if !(0.0..=1.0).contains(&value) {
        return Err(format!(
            "`{name}` is {what} and must be between 0 and 1, got {value}"
        ));
    }
    Ok(())
}

/// A share between 0 and 1 as a percentage with two decimals: `99.50%`.
pub fn percent(share: f64) -> String {
    format!("{}%", crate::fmt::fixed(share * 100.0, 2))
}

/// A strict bound on a share (a rate, a coverage). It displays as what it
/// needs, e.g. `> 99.50%` or `< 2.00%`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// The value must be strictly above this.
    Above(f64),
    /// The value must be strictly below this.
    Below(f64),
}

impl Bound {
    /// Whether `value` is within the bound; never for NaN.
    pub fn admits(self, value: f64) -> bool {
        match self {
            Bound::Above(min) => value > min,
            Bound::Below(max) => value < max,
        }
    }

    /// The verdict on a measured `value`: it passes within the bound, with
    /// `detail(value)` as its detail and the value as observed. With no
    /// value it fails with the `missing` detail and nothing observed: no
    /// evidence is not good evidence.
    pub fn verdict(
        self,
        value: Option<f64>,
        missing: impl Into<String>,
        detail: impl FnOnce(f64) -> String,
    ) -> ItemVerdict {
        match value {
            None => fail(missing, None),
            Some(v) if self.admits(v) => pass(detail(v), Some(v)),
            Some(v) => fail(detail(v), Some(v)),
        }
    }
}

impl core::fmt::Display for Bound {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Bound::Above(min) => write!(f, "> {}", percent(min)),
            Bound::Below(max) => write!(f, "< {}", percent(max)),
        }
    }
}

/// The unit an age is measured and shown in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeUnit {
    /// Minutes.
    Minutes,
    /// Hours.
    Hours,
    /// Days.
    Days,
}

impl AgeUnit {
    /// Milliseconds in one unit.
    pub const fn ms(self) -> i64 {
        match self {
            AgeUnit::Minutes => 60_000,
            AgeUnit::Hours => 3_600_000,
            AgeUnit::Days => DAY_MS,
        }
    }

    /// The unit's plural name, as shown in details: `minutes`.
    pub const fn name(self) -> &'static str {
        match self {
            AgeUnit::Minutes => "minutes",
            AgeUnit::Hours => "hours",
            AgeUnit::Days => "days",
        }
    }
}

/// Something that must have happened recently, such as the last exercise
/// of the emergency stop, for an item that passes when it did, or when a
/// human attests it instead (see [`RecentEvent::or_attested`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecentEvent<'a> {
    /// What it happened to, e.g. `the emergency stop`.
    pub subject: &'a str,
    /// What happened, in the past tense, e.g. `exercised`.
    pub happened: &'a str,
    /// When it last happened, if ever.
    pub last: Option<Timestamp>,
    /// How many `unit`s ago it may have happened, inclusive.
    pub max_age: u32,
    /// The unit of `max_age` and of the age shown.
    pub unit: AgeUnit,
}

impl RecentEvent<'_> {
    /// How many units ago it last happened at `now`. A time after `now` is
    /// clock skew, not staleness, and counts as 0.
    pub fn age(&self, now: Timestamp) -> Option<f64> {
        self.last
            .map(|at| (now - at).max(0) as f64 / self.unit.ms() as f64)
    }

    /// The verdict of an item that passes when `key` is attested in one of
    /// `roles` (see [`attested_item`]) or when the event happened at most
    /// `max_age` units ago. The age is observed either way; a failing
    /// detail says both why the event is not recent enough and why the
    /// attestation does not count.
    pub fn or_attested<R: AsRef<str>>(
        &self,
        ctx: &ReadinessContext,
        key: &str,
        roles: &[R],
    ) -> ItemVerdict {
        let age = self.age(ctx.now);
        let attested = attested_item(ctx, key, roles);
        if attested.passed {
            return pass(attested.detail, age);
        }
        let (subject, happened, max, unit) =
            (self.subject, self.happened, self.max_age, self.unit.name());
        match age {
            Some(a) if a <= f64::from(max) => pass(
                format!(
                    "{subject} was {happened} {} {unit} ago (within {max})",
                    crate::fmt::fixed(a, 1)
                ),
                age,
            ),
            Some(a) => fail(
                format!(
                    "{subject} was last {happened} {} {unit} ago (more than {max}), and {}",
                    crate::fmt::fixed(a, 1),
                    attested.detail
                ),
                age,
            ),
            None => fail(
                format!("{subject} was never {happened}, and {}", attested.detail),
                None,
            ),
        }
    }
}

/// A context with no data at all, at `now`, in phase L3 entered at `now`:
/// the starting point for unit tests, which then set what they need.
pub fn empty_context(now: Timestamp) -> ReadinessContext {
    ReadinessContext {
        now,
        phase: PhaseStatus {
            current: Phase::L3,
            entered_at: now,
            days_at_phase: 0,
            min_stabilization_days: 180,
        },
        metrics: CommandMetrics {
            window_start: now - 7 * DAY_MS,
            window_end: now,
            commands_total: 0,
            by_status: StatusCounts {
                succeeded: 0,
                failed: 0,
                rejected: 0,
                rolled_back: 0,
            },
            success_rate: None,
            error_rate: None,
            approval_rate: None,
            rollback_rate: None,
        },
        incidents: Vec::new(),
        attestations: Vec::new(),
        facts: Facts {
            enabled_breaker_rules: 0,
            emergency_stop_last_exercised: None,
            metrics_last_scraped: None,
            gauges: Vec::new(),
        },
    }
}

/// An attestation for tests: `key` by `by` in `role`, made at `at`, never
/// expiring.
pub fn attestation(key: &str, by: &str, role: &str, at: Timestamp) -> Attestation {
    Attestation {
        key: key.to_string(),
        attested_by: by.to_string(),
        role: role.to_string(),
        attested_at: at,
        expires_at: None,
        evidence_url: None,
    }
}

#[doc(hidden)]
pub struct Adapter<T>(core::marker::PhantomData<T>);

impl<T: ChecklistItem> Adapter<T> {
    #[doc(hidden)]
    pub fn validate_params(params: String) -> Result<(), String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::validate(&parse_params(&params)?)
    }

    #[doc(hidden)]
    pub fn context_scope(params: String) -> Result<ContextScope, String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        Ok(T::scope(&parse_params(&params)?))
    }

    #[doc(hidden)]
    pub fn evaluate(context: ReadinessContext, params: String) -> Result<ItemVerdict, String> {
        if T::PANIC_MESSAGES {
            crate::__install_panic_reporter();
        }
        T::evaluate(&context, &parse_params(&params)?)
    }
}

/// Exports a [`ChecklistItem`] implementation as the component's
/// `checklist-item` world. The plugin's name and version are the crate's;
/// `checklist_item!(Item, version = VERSION)` takes the version from a
/// `&str` const instead, so a crate built in several variants (e.g. by
/// feature) reports the variant's version.
#[macro_export]
macro_rules! checklist_item {
    ($item:ty) => {
        $crate::checklist_item!($item, version = env!("CARGO_PKG_VERSION"));
    };
    ($item:ty, version = $version:expr $(,)?) => {
        // Natively the export below is compiled out; this still checks the
        // version and uses its const.
        const _: &str = $version;
        // Only wasm builds export the world: natively the plugin is a plain
        // library, so several plugins can link into one test or benchmark.
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __RegentChecklistItem;
            impl $crate::checklist::bindings::Guest for __RegentChecklistItem {
                fn describe() -> $crate::checklist::ChecklistDescription {
                    $crate::checklist::ChecklistDescription {
                        plugin: $crate::checklist::PluginInfo {
                            name: env!("CARGO_PKG_NAME").to_string(),
                            version: {
                                const __REGENT_VERSION: &str = $version;
                                __REGENT_VERSION.to_string()
                            },
                            kind: $crate::checklist::PluginKind::ChecklistItem,
                            summary: <$item as $crate::checklist::ChecklistItem>::SUMMARY.to_string(),
                        },
                        item: <$item as $crate::checklist::ChecklistItem>::ITEM.info(),
                    }
                }
                fn validate_params(params: String) -> Result<(), String> {
                    $crate::checklist::Adapter::<$item>::validate_params(params)
                }
                fn context_scope(
                    params: String,
                ) -> Result<$crate::checklist::ContextScope, String> {
                    $crate::checklist::Adapter::<$item>::context_scope(params)
                }
                fn evaluate(
                    context: $crate::checklist::ReadinessContext,
                    params: String,
                ) -> Result<$crate::checklist::ItemVerdict, String> {
                    $crate::checklist::Adapter::<$item>::evaluate(context, params)
                }
            }
            $crate::checklist::bindings::__export_checklist_item_world!(__RegentChecklistItem with_types_in $crate::checklist::bindings);
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    const OPS: &[&str] = &["ops_lead"];

    #[test]
    fn attestation_must_be_current_and_by_a_role_that_counts() {
        let mut ctx = empty_context(NOW);
        assert!(!attested_item(&ctx, "runbooks", OPS).passed);

        ctx.attestations
            .push(attestation("runbooks", "ana", "ops_lead", NOW - DAY_MS));
        assert!(attested_item(&ctx, "runbooks", OPS).passed);
        assert!(attested_item(&ctx, "runbooks", &["tech_lead", "ops_lead"]).passed);
        let by_role = attested_item(&ctx, "runbooks", &["tech_lead"]);
        assert!(!by_role.passed);
        assert_eq!(
            by_role.detail,
            "`runbooks` is attested by ana (ops_lead), which does not count: it needs a tech_lead"
        );

        ctx.attestations[0].expires_at = Some(NOW);
        let expired = attested_item(&ctx, "runbooks", OPS);
        assert!(!expired.passed);
        assert_eq!(
            expired.detail,
            "the attestation `runbooks` has expired; it needs an ops_lead"
        );
    }

    #[test]
    fn the_governed_system_cannot_vouch_for_itself() {
        let mut ctx = empty_context(NOW);
        // The newest of them is named.
        for (role, days) in [
            ("operator", 3),
            ("reporter", 1),
            ("admin", 2),
            ("viewer", 4),
        ] {
            ctx.attestations
                .push(attestation("runbooks", "bot", role, NOW - days * DAY_MS));
        }
        let verdict = attested_item(&ctx, "runbooks", &ATTESTING_ROLES);
        assert!(!verdict.passed);
        assert!(find_attestation(&ctx, "runbooks", &ATTESTING_ROLES).is_none());
        assert_eq!(
            verdict.detail,
            "`runbooks` is attested by bot (reporter), which does not count: \
             it needs a tech_lead, an ops_lead, a product_lead or an exec_sponsor"
        );
    }

    #[test]
    fn future_attestations_do_not_count_yet() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("runbooks", "ana", "ops_lead", NOW + 1));
        let verdict = attested_item(&ctx, "runbooks", OPS);
        assert_eq!(
            verdict,
            fail("no attestation `runbooks`; it needs an ops_lead", None)
        );
    }

    #[test]
    fn find_attestation_takes_the_newest_in_a_role_that_counts() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("runbooks", "ana", "ops_lead", NOW - 3 * DAY_MS));
        ctx.attestations
            .push(attestation("runbooks", "bob", "tech_lead", NOW - DAY_MS));
        ctx.attestations
            .push(attestation("runbooks", "cy", "ops_lead", NOW - 2 * DAY_MS));
        ctx.attestations
            .push(attestation("other", "dee", "ops_lead", NOW));
        let by = |roles: &[String]| {
            find_attestation(&ctx, "runbooks", roles).map(|a| &a.attested_by[..])
        };
        assert_eq!(by(&["ops_lead".to_string()]), Some("cy"));
        assert_eq!(
            by(&["ops_lead".to_string(), "tech_lead".to_string()]),
            Some("bob")
        );
        assert_eq!(by(&["exec_sponsor".to_string()]), None);
        assert_eq!(find_attestation(&ctx, "runbooks", &[] as &[&str]), None);
    }

    #[test]
    fn attestation_details() {
        let mut ctx = empty_context(NOW);
        assert_eq!(
            attested_item(&ctx, "runbooks", OPS).detail,
            "no attestation `runbooks`; it needs an ops_lead"
        );
        assert_eq!(
            attested_item(&ctx, "runbooks", &["tech_lead", "ops_lead"]).detail,
            "no attestation `runbooks`; it needs a tech_lead or an ops_lead"
        );
        ctx.attestations
            .push(attestation("other", "ana", "ops_lead", NOW - DAY_MS));
        assert!(!attested_item(&ctx, "runbooks", OPS).passed);
        ctx.attestations
            .push(attestation("runbooks", "ana", "ops_lead", NOW - DAY_MS));
        ctx.attestations[1].expires_at = Some(NOW + 1);
        let passed = attested_item(&ctx, "runbooks", OPS);
        assert!(passed.passed);
        assert_eq!(passed.observed, None);
        assert_eq!(passed.detail, "`runbooks` attested by ana (ops_lead)");
        // A current attestation in a role that does not count is reported
        // before an expired one in a role that does.
        ctx.attestations.push(attestation(
            "runbooks",
            "bob",
            "tech_lead",
            NOW - 9 * DAY_MS,
        ));
        ctx.attestations[1].expires_at = Some(NOW - DAY_MS);
        let wrong_role = attested_item(&ctx, "runbooks", OPS);
        assert_eq!(
            wrong_role,
            fail(
                "`runbooks` is attested by bob (tech_lead), which does not count: it needs an ops_lead",
                None
            )
        );
        ctx.attestations.pop();
        assert_eq!(
            attested_item(&ctx, "runbooks", OPS).detail,
            "the attestation `runbooks` has expired; it needs an ops_lead"
        );
        // An expired attestation in a role that would not count either is
        // no attestation at all.
        assert_eq!(
            attested_item(&ctx, "runbooks", &["exec_sponsor"]).detail,
            "no attestation `runbooks`; it needs an exec_sponsor"
        );
    }

    #[test]
    fn needed_roles_reads_as_english() {
        assert_eq!(needed_roles(&["ops_lead"]), "an ops_lead");
        assert_eq!(needed_roles(&["product_lead"]), "a product_lead");
        assert_eq!(
            needed_roles(&["tech_lead", "ops_lead"]),
            "a tech_lead or an ops_lead"
        );
        assert_eq!(
            needed_roles(&ATTESTING_ROLES),
            "a tech_lead, an ops_lead, a product_lead or an exec_sponsor"
        );
        assert_eq!(needed_roles(&[] as &[&str]), "a role that can attest");
    }

    /// An item whose attestation an ops lead gives, as the approval items'.
    struct Approval;
    impl AttestationDefaults for Approval {
        const KEY: &'static str = "approval";
        const ROLES: &'static [&'static str] = &["ops_lead"];
    }
    type Params = AttestationParams<Approval>;

    #[test]
    fn attestation_params_take_the_items_defaults() {
        let params = parse_params::<Params>("").unwrap();
        assert_eq!(params, Params::default());
        assert_eq!(params, Params::new("approval", &["ops_lead"]));
        assert_eq!(params.roles, ["ops_lead"]);
        assert_eq!(
            parse_params::<Params>(r#"{"key": "k"}"#).unwrap(),
            Params::new("k", &["ops_lead"])
        );
        assert_eq!(
            parse_params::<Params>(r#"{"roles": ["tech_lead", "exec_sponsor"]}"#).unwrap(),
            Params::new("approval", &["tech_lead", "exec_sponsor"])
        );
        // `role` is shorthand for a list of one.
        assert_eq!(
            parse_params::<Params>(r#"{"role": "exec_sponsor"}"#).unwrap(),
            Params::new("approval", &["exec_sponsor"])
        );
        assert_eq!(
            parse_params::<Params>(r#"{"role": "tech_lead", "roles": ["ops_lead"]}"#).unwrap_err(),
            "invalid params: give `roles` or `role`, not both (`role = \"x\"` is short for `roles = [\"x\"]`)"
        );
        // Nothing is null: `"role": null` no longer means "any role".
        assert_eq!(
            parse_params::<Params>(r#"{"key": null}"#).unwrap_err(),
            "invalid params: invalid type: null, expected a string at line 1 column 12"
        );
        assert!(parse_params::<Params>(r#"{"role": null}"#)
            .unwrap_err()
            .contains("invalid type: null, expected a string"));
        assert!(parse_params::<Params>(r#"{"roles": "ops_lead"}"#)
            .unwrap_err()
            .contains("expected a sequence"));
        assert!(parse_params::<Params>(r#"{"keys": "x"}"#)
            .unwrap_err()
            .contains("unknown field `keys`, expected one of `key`, `roles`, `role`"));
        assert!(parse_params::<Params>("null")
            .unwrap_err()
            .contains("expected struct Params"));
    }

    #[test]
    fn attestation_params_check() {
        assert!(Params::default().check().is_ok());
        assert!(Params::new("approval", &ATTESTING_ROLES).check().is_ok());
        let err = |key: &str, roles: &[&str]| Params::new(key, roles).check().unwrap_err();
        assert_eq!(err(" ", &["ops_lead"]), "`key` must name an attestation");
        assert_eq!(
            err("runbooks", &[]),
            "`roles` is empty: no one could attest `runbooks`"
        );
        assert_eq!(
            err("approval", &["ops_lead", " "]),
            "`roles` has a blank role"
        );
        for role in ["reporter", "viewer", "operator", "admin", "Ops_Lead"] {
            assert_eq!(
                err("approval", &["ops_lead", role]),
                format!(
                    "`roles` names `{role}`, which cannot attest \
                     (the attesting roles are tech_lead, ops_lead, product_lead, exec_sponsor)"
                )
            );
        }
        assert_eq!(
            err("approval", &["ops_lead", "tech_lead", "ops_lead"]),
            "`roles` names `ops_lead` twice"
        );
        assert_eq!(
            check_attesting_roles("roles", "monitoring", &[] as &[String]).unwrap_err(),
            "`roles` is empty: no one could attest `monitoring`"
        );
    }

    #[test]
    fn attestation_params_verdict() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("approval", "ana", "tech_lead", NOW - DAY_MS));
        let wrong_role = Params::default().verdict(&ctx);
        assert!(!wrong_role.passed);
        assert_eq!(
            wrong_role.detail,
            "`approval` is attested by ana (tech_lead), which does not count: it needs an ops_lead"
        );
        assert!(Params::new("approval", &["tech_lead"]).verdict(&ctx).passed);
        assert!(
            Params::new("approval", &["ops_lead", "tech_lead"])
                .verdict(&ctx)
                .passed
        );
        assert!(!Params::new("other", &["tech_lead"]).verdict(&ctx).passed);
        assert_eq!(
            Params::default().scope(),
            ContextScope::scalars().with_attestation("approval")
        );
    }

    #[test]
    fn param_checks() {
        assert!(check_rate("min", 0.0).is_ok());
        assert!(check_rate("min", 1.0).is_ok());
        assert_eq!(
            check_rate("min", 99.5).unwrap_err(),
            "`min` is a rate and must be between 0 and 1, got 99.5"
        );
        assert_eq!(
            check_rate("max", 2.0).unwrap_err(),
            "`max` is a rate and must be between 0 and 1, got 2"
        );
        assert!(check_rate("min", -0.1).is_err());
        assert!(check_rate("min", f64::NAN).is_err());
        assert_eq!(
            check_share("min", "a coverage share", 90.0).unwrap_err(),
            "`min` is a coverage share and must be between 0 and 1, got 90"
        );
        assert_eq!(
            check_attestation_key("attestation", " ").unwrap_err(),
            "`attestation` must name an attestation"
        );
        assert!(check_attestation_key("attestation", "x").is_ok());
        assert_eq!(
            check_at_least_one("max_age_days", 0).unwrap_err(),
            "`max_age_days` must be at least 1"
        );
        assert!(check_at_least_one("max_age_days", 1).is_ok());
    }

    #[test]
    fn bounds_are_strict() {
        let above = Bound::Above(0.995);
        assert_eq!(above.to_string(), "> 99.50%");
        assert!(above.admits(0.9951));
        assert!(!above.admits(0.995));
        assert!(!above.admits(f64::NAN));
        let below = Bound::Below(0.02);
        assert_eq!(below.to_string(), "< 2.00%");
        assert!(below.admits(0.0199));
        assert!(!below.admits(0.02));
        assert!(!below.admits(f64::NAN));
        assert_eq!(percent(0.999), "99.90%");
    }

    #[test]
    fn bound_verdicts_observe_the_value() {
        let detail = |v: f64| format!("rate {} (needs {})", percent(v), Bound::Above(0.8));
        let passed = Bound::Above(0.8).verdict(Some(0.9), "no rate", detail);
        assert_eq!(passed, pass("rate 90.00% (needs > 80.00%)", Some(0.9)));
        let at = Bound::Above(0.8).verdict(Some(0.8), "no rate", detail);
        assert_eq!(at, fail("rate 80.00% (needs > 80.00%)", Some(0.8)));
        let missing = Bound::Below(0.02).verdict(None, "no rate", |_| unreachable!());
        assert_eq!(missing, fail("no rate", None));
    }

    fn exercised(last: Option<Timestamp>) -> RecentEvent<'static> {
        RecentEvent {
            subject: "the stop",
            happened: "exercised",
            last,
            max_age: 10,
            unit: AgeUnit::Minutes,
        }
    }

    #[test]
    fn a_recent_event_passes_up_to_its_max_age_inclusive() {
        let ctx = empty_context(NOW);
        let minute = AgeUnit::Minutes.ms();
        let recent = exercised(Some(NOW - 3 * minute)).or_attested(&ctx, "k", OPS);
        assert_eq!(
            recent,
            pass(
                "the stop was exercised 3.0 minutes ago (within 10)",
                Some(3.0)
            )
        );
        assert!(
            exercised(Some(NOW - 10 * minute))
                .or_attested(&ctx, "k", OPS)
                .passed
        );
        let stale = exercised(Some(NOW - 10 * minute - 1)).or_attested(&ctx, "k", OPS);
        assert!(!stale.passed);
        assert_eq!(
            stale.detail,
            "the stop was last exercised 10.0 minutes ago (more than 10), \
             and no attestation `k`; it needs an ops_lead"
        );
        // A time after `now` is clock skew: it counts as just now.
        let skewed = exercised(Some(NOW + minute)).or_attested(&ctx, "k", OPS);
        assert_eq!(skewed.observed, Some(0.0));
        assert!(skewed.passed);
        let never = exercised(None).or_attested(&ctx, "k", &["tech_lead", "ops_lead"]);
        assert_eq!(
            never,
            fail(
                "the stop was never exercised, and no attestation `k`; it needs a tech_lead or an ops_lead",
                None
            )
        );
    }

    #[test]
    fn an_attestation_stands_in_for_a_recent_event() {
        let mut ctx = empty_context(NOW);
        ctx.attestations
            .push(attestation("k", "ana", "ops_lead", NOW - DAY_MS));
        let old = exercised(Some(NOW - DAY_MS));
        assert_eq!(
            old.or_attested(&ctx, "k", OPS),
            pass("`k` attested by ana (ops_lead)", Some(1440.0))
        );
        let wrong_role = old.or_attested(&ctx, "k", &["tech_lead"]);
        assert_eq!(
            wrong_role,
            fail(
                "the stop was last exercised 1440.0 minutes ago (more than 10), and `k` is \
                 attested by ana (ops_lead), which does not count: it needs a tech_lead",
                Some(1440.0)
            )
        );
        ctx.attestations[0].expires_at = Some(NOW);
        let expired = exercised(None).or_attested(&ctx, "k", OPS);
        assert_eq!(
            expired.detail,
            "the stop was never exercised, and the attestation `k` has expired; it needs an ops_lead"
        );
    }

    #[test]
    fn age_units() {
        let day = RecentEvent {
            unit: AgeUnit::Days,
            ..exercised(Some(NOW - 36 * AgeUnit::Hours.ms()))
        };
        assert_eq!(day.age(NOW), Some(1.5));
        assert_eq!(AgeUnit::Days.ms(), DAY_MS);
        assert_eq!(AgeUnit::Hours.name(), "hours");
        assert_eq!(exercised(None).age(NOW), None);
    }
}
