//! Who may do what: the roles a token can hold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// A role held by an API token. `admin` may do everything; the four
/// approver roles may approve or reject expansion proposals that need them.
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
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Viewer,
        Role::Reporter,
        Role::Operator,
        Role::Admin,
        Role::TechLead,
        Role::OpsLead,
        Role::ProductLead,
        Role::ExecSponsor,
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
                format!("unknown role `{s}` (expected viewer, reporter, operator, admin, tech_lead, ops_lead, product_lead or exec_sponsor)")
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

/// The authenticated caller: a token's name and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub name: String,
    pub roles: Vec<Role>,
}

impl Principal {
    /// `admin` holds every role, approver roles included: the one account
    /// that can always unblock the program.
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Whether the token itself names `role`, without admin's stand-in.
    pub fn names(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
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

    #[test]
    fn admin_holds_every_role() {
        let admin = Principal {
            token_id: 1,
            name: "a".into(),
            roles: vec![Role::Admin],
        };
        assert!(admin.holds(Role::ExecSponsor));
        let viewer = Principal {
            token_id: 2,
            name: "v".into(),
            roles: vec![Role::Viewer],
        };
        assert!(!viewer.holds(Role::Reporter));
    }
}
