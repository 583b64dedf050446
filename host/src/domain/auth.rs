//! Who may do what: principals, the roles they hold, the agent a machine
//! token is bound to, and the rules that keep the governed system from
//! governing itself.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A role held by a principal. `admin` may do everything but approve; the
/// four approver roles approve or reject the proposals that need them and
/// attest checklist items; `scraper` is the monitoring system, whose
/// scrapes of `/metrics` are the evidence that monitoring is in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Reporter,
    Operator,
    Admin,
    TechLead,
    OpsLead,
    ProductLead,
    ExecSponsor,
    Scraper,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Viewer,
        Role::Reporter,
        Role::Operator,
        Role::Admin,
        Role::TechLead,
        Role::OpsLead,
        Role::ProductLead,
        Role::ExecSponsor,
        Role::Scraper,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Reporter => "reporter",
            Role::Operator => "operator",
            Role::Admin => "admin",
            Role::TechLead => "tech_lead",
            Role::OpsLead => "ops_lead",
            Role::ProductLead => "product_lead",
            Role::ExecSponsor => "exec_sponsor",
            Role::Scraper => "scraper",
        }
    }

    pub fn is_approver(self) -> bool {
        matches!(
            self,
            Role::TechLead | Role::OpsLead | Role::ProductLead | Role::ExecSponsor
        )
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!("unknown role `{s}` (expected viewer, reporter, operator, admin, tech_lead, ops_lead, product_lead, exec_sponsor or scraper)")
            })
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Whether a principal is a person or a machine. Only people govern:
/// approver, operator and admin roles are for persons; the governed system
/// (reporters, agents, scrapers) is a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Person,
    System,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Person => "person",
            PrincipalKind::System => "system",
        }
    }

    /// The kind a token gets when its request names none: a person when it
    /// holds any role that governs, otherwise a system.
    pub fn default_for(roles: &[Role]) -> Self {
        if roles.iter().any(|r| r.governs()) {
            PrincipalKind::Person
        } else {
            PrincipalKind::System
        }
    }
}

impl FromStr for PrincipalKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "person" => Ok(PrincipalKind::Person),
            "system" => Ok(PrincipalKind::System),
            other => Err(format!(
                "unknown principal kind `{other}` (expected person or system)"
            )),
        }
    }
}

impl Role {
    /// Roles that steer the program rather than report on it: they belong
    /// to people, never to the governed system.
    pub fn governs(self) -> bool {
        matches!(self, Role::Operator | Role::Admin) || self.is_approver()
    }
}

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A local bearer token (`rgt_…`), by its id and name.
    Token { id: i64, name: String },
    /// A JWT from the organization's identity provider.
    Oidc,
    /// Regent itself (the scheduled cycle, the first start).
    Internal,
}

/// The authenticated caller: a person or a system with a stable id, the
/// roles it holds, and, for an agent's machine token, the agent everything
/// it does is attributed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The stable id recorded in the audit log, approvals, attestations,
    /// stops and decisions: the `sub` claim of a JWT, or the principal a
    /// local token was minted for.
    pub id: String,
    pub kind: PrincipalKind,
    pub roles: Vec<Role>,
    pub credential: Credential,
    /// The agent a machine token is bound to.
    pub agent: Option<String>,
}

/// Why a bound principal may not act as it asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    #[error("this token is bound to agent `{bound}`; it cannot act for agent `{asked}`")]
    OtherAgent { bound: String, asked: String },
    #[error(
        "workflow `{workflow}` belongs to agent `{owner}`; this token is bound to agent `{bound}`"
    )]
    OtherAgentsWorkflow {
        workflow: String,
        owner: String,
        bound: String,
    },
}

impl Principal {
    /// Regent acting on its own (the scheduled cycle): holds no role.
    pub fn internal(id: &str) -> Self {
        Self {
            id: id.to_string(),
            kind: PrincipalKind::System,
            roles: vec![],
            credential: Credential::Internal,
            agent: None,
        }
    }

    /// `admin` holds every role but the approver roles' right to approve
    /// (see [`Principal::names`]).
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Whether the principal speaks for the governed system: a reporter, or
    /// a token bound to an agent. It never attests, approves or rejects.
    pub fn is_governed(&self) -> bool {
        self.agent.is_some() || self.names(Role::Reporter)
    }

    /// Whether a scrape by this principal shows monitoring is in place: the
    /// monitoring system's own token, not an admin or a person with curl.
    pub fn is_monitoring(&self) -> bool {
        self.kind == PrincipalKind::System && self.names(Role::Scraper)
    }

    /// Whether the principal itself holds `role`, without admin's stand-in.
    pub fn names(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The agent an action naming `asked` is attributed to. A bound
    /// principal acts only for its agent, and naming none means it; an
    /// unbound one acts for whatever it names.
    pub fn act_for(&self, asked: Option<&str>) -> Result<Option<String>, BindingError> {
        match (&self.agent, asked) {
            (Some(bound), Some(a)) if a != bound => Err(BindingError::OtherAgent {
                bound: bound.clone(),
                asked: a.to_string(),
            }),
            (Some(bound), _) => Ok(Some(bound.clone())),
            (None, asked) => Ok(asked.map(str::to_string)),
        }
    }

    /// Refuses a bound principal's use of another agent's workflow.
    pub fn check_workflow_owner(&self, workflow: &str, owner: &str) -> Result<(), BindingError> {
        match &self.agent {
            Some(bound) if bound != owner => Err(BindingError::OtherAgentsWorkflow {
                workflow: workflow.to_string(),
                owner: owner.to_string(),
                bound: bound.clone(),
            }),
            _ => Ok(()),
        }
    }
}

/// Why a principal may not sign in to the console, which is for people:
/// the governed system's credentials (a reporter, a scraper, a token bound
/// to an agent) keep to the API, so a browser never holds one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleRefusal {
    #[error("the console is for people: this credential holds `{0}`, a role of the governed system or its monitoring; sign in with a person's token")]
    MachineRole(Role),
    #[error("the console is for people: this token is bound to agent `{0}`; sign in with a person's token")]
    BoundToAgent(String),
}

impl Principal {
    /// Refuses the governed system's and the monitoring system's
    /// credentials a console session.
    pub fn may_use_console(&self) -> Result<(), ConsoleRefusal> {
        if let Some(agent) = &self.agent {
            return Err(ConsoleRefusal::BoundToAgent(agent.clone()));
        }
        match [Role::Reporter, Role::Scraper]
            .into_iter()
            .find(|r| self.names(*r))
        {
            Some(role) => Err(ConsoleRefusal::MachineRole(role)),
            None => Ok(()),
        }
    }

    /// The principal a local token stands for now. With OIDC configured,
    /// approver roles come only from the identity provider: a local token
    /// minted before OIDC was turned on keeps its other roles but approves
    /// and attests nothing.
    pub fn as_local(mut self, oidc_configured: bool) -> Self {
        if oidc_configured {
            self.roles.retain(|r| !r.is_approver());
        }
        self
    }
}

/// What a new local token asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub name: String,
    pub roles: Vec<Role>,
    pub principal: String,
    /// The request named the principal. One taken from the token's name
    /// must be new: a namesake never joins someone else's principal.
    pub principal_named: bool,
    pub kind: PrincipalKind,
    pub agent: Option<String>,
}

/// Why a token cannot be minted as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenPolicyError {
    #[error("`roles` is empty: a token needs at least one role")]
    NoRoles,
    #[error("with OIDC configured, approver roles come from the identity provider: a local token cannot carry `{0}`; sign in with the identity provider instead")]
    ApproverRoleNeedsOidc(Role),
    #[error("a token cannot hold `reporter` (the governed system's role) together with `{0}`: the governed system cannot govern itself")]
    ReporterThatGoverns(Role),
    #[error(
        "a system principal cannot hold `{0}`: roles that govern belong to people (`kind: person`)"
    )]
    SystemThatGoverns(Role),
    #[error("a token bound to an agent holds only `reporter` (and `viewer`), not `{0}`")]
    AgentTokenRole(Role),
    #[error("a token bound to an agent needs the `reporter` role")]
    AgentTokenWithoutReporter,
    #[error("a token bound to an agent is a system principal, not a person")]
    AgentTokenPerson,
    #[error("a `scraper` token is the monitoring system's and holds `scraper` alone, not `{0}`: its scrapes are the evidence that monitoring is in place")]
    ScraperWithOtherRoles(Role),
    #[error("a `scraper` token is a system principal (the monitoring system), not a person")]
    ScraperPerson,
}

/// The separation-of-duties rules a local token must follow.
pub fn check_token_request(req: &TokenRequest, oidc: bool) -> Result<(), TokenPolicyError> {
    if req.roles.is_empty() {
        return Err(TokenPolicyError::NoRoles);
    }
    let governing = req.roles.iter().copied().find(|r| r.governs());
    if oidc {
        if let Some(r) = req.roles.iter().copied().find(|r| r.is_approver()) {
            return Err(TokenPolicyError::ApproverRoleNeedsOidc(r));
        }
    }
    if let (true, Some(r)) = (req.roles.contains(&Role::Reporter), governing) {
        return Err(TokenPolicyError::ReporterThatGoverns(r));
    }
    if let (PrincipalKind::System, Some(r)) = (req.kind, governing) {
        return Err(TokenPolicyError::SystemThatGoverns(r));
    }
    if req.agent.is_some() {
        if let Some(r) = req
            .roles
            .iter()
            .copied()
            .find(|r| !matches!(r, Role::Reporter | Role::Viewer))
        {
            return Err(TokenPolicyError::AgentTokenRole(r));
        }
        if !req.roles.contains(&Role::Reporter) {
            return Err(TokenPolicyError::AgentTokenWithoutReporter);
        }
        if req.kind == PrincipalKind::Person {
            return Err(TokenPolicyError::AgentTokenPerson);
        }
    }
    if req.roles.contains(&Role::Scraper) {
        if let Some(r) = req.roles.iter().copied().find(|r| *r != Role::Scraper) {
            return Err(TokenPolicyError::ScraperWithOtherRoles(r));
        }
        if req.kind == PrincipalKind::Person {
            return Err(TokenPolicyError::ScraperPerson);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_unknown_roles_are_named() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .contains("unknown role `root`"));
    }

    fn principal(roles: &[Role], agent: Option<&str>) -> Principal {
        Principal {
            id: "p".into(),
            kind: PrincipalKind::default_for(roles),
            roles: roles.to_vec(),
            credential: Credential::Token {
                id: 1,
                name: "t".into(),
            },
            agent: agent.map(str::to_string),
        }
    }

    #[test]
    fn admin_holds_every_role_but_names_only_its_own() {
        let admin = principal(&[Role::Admin], None);
        assert!(admin.holds(Role::ExecSponsor));
        assert!(!admin.names(Role::ExecSponsor));
        assert!(!principal(&[Role::Viewer], None).holds(Role::Reporter));
    }

    #[test]
    fn only_the_monitoring_systems_own_token_is_monitoring() {
        assert!(principal(&[Role::Scraper], None).is_monitoring());
        let admin = principal(&[Role::Admin], None);
        assert!(admin.holds(Role::Scraper) && !admin.is_monitoring());
        let person = Principal {
            kind: PrincipalKind::Person,
            ..principal(&[Role::Scraper], None)
        };
        assert!(!person.is_monitoring());
    }

    #[test]
    fn a_bound_principal_acts_only_for_its_agent() {
        let bound = principal(&[Role::Reporter], Some("a1"));
        assert_eq!(bound.act_for(None).unwrap().as_deref(), Some("a1"));
        assert_eq!(bound.act_for(Some("a1")).unwrap().as_deref(), Some("a1"));
        assert!(bound
            .act_for(Some("a2"))
            .unwrap_err()
            .to_string()
            .contains("bound to agent `a1`; it cannot act for agent `a2`"));
        assert!(bound.check_workflow_owner("w", "a2").is_err());
        assert!(bound.check_workflow_owner("w", "a1").is_ok());
        let unbound = principal(&[Role::Reporter], None);
        assert_eq!(unbound.act_for(None).unwrap(), None);
        assert_eq!(unbound.act_for(Some("x")).unwrap().as_deref(), Some("x"));
        assert!(unbound.check_workflow_owner("w", "x").is_ok());
    }

    fn request(roles: &[Role], kind: PrincipalKind, agent: Option<&str>) -> TokenRequest {
        TokenRequest {
            name: "t".into(),
            roles: roles.to_vec(),
            principal: "p".into(),
            principal_named: true,
            kind,
            agent: agent.map(str::to_string),
        }
    }

    #[test]
    fn token_requests_keep_the_governed_and_the_governing_apart() {
        use PrincipalKind::{Person, System};
        let ok = |roles: &[Role], kind, agent, oidc| {
            check_token_request(&request(roles, kind, agent), oidc)
        };
        assert!(ok(&[Role::TechLead, Role::OpsLead], Person, None, false).is_ok());
        assert_eq!(
            ok(&[Role::TechLead], Person, None, true),
            Err(TokenPolicyError::ApproverRoleNeedsOidc(Role::TechLead))
        );
        assert!(ok(&[Role::Operator], Person, None, true).is_ok());
        assert_eq!(
            ok(&[Role::Reporter, Role::TechLead], Person, None, false),
            Err(TokenPolicyError::ReporterThatGoverns(Role::TechLead))
        );
        assert_eq!(
            ok(&[Role::Admin], System, None, false),
            Err(TokenPolicyError::SystemThatGoverns(Role::Admin))
        );
        assert!(ok(&[Role::Reporter], System, Some("a"), false).is_ok());
        assert_eq!(
            ok(&[Role::Viewer], System, Some("a"), false),
            Err(TokenPolicyError::AgentTokenWithoutReporter)
        );
        assert_eq!(
            ok(&[Role::Reporter], Person, Some("a"), false),
            Err(TokenPolicyError::AgentTokenPerson)
        );
        assert_eq!(ok(&[], System, None, false), Err(TokenPolicyError::NoRoles));
        assert!(ok(&[Role::Scraper], System, None, false).is_ok());
        assert_eq!(
            ok(&[Role::Scraper, Role::Viewer], System, None, false),
            Err(TokenPolicyError::ScraperWithOtherRoles(Role::Viewer))
        );
        assert_eq!(
            ok(&[Role::Scraper], Person, None, false),
            Err(TokenPolicyError::ScraperPerson)
        );
        assert_eq!(PrincipalKind::default_for(&[Role::Scraper]), System);
        assert_eq!(PrincipalKind::default_for(&[Role::Reporter]), System);
        assert_eq!(
            PrincipalKind::default_for(&[Role::Viewer, Role::OpsLead]),
            Person
        );
    }
}
