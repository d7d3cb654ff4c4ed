//! The closed vocabularies of the domain: statuses, categories, tiers, impact/cost levels, roles,
//! exception kinds, share platforms and event kinds.
//!
//! The enums themselves are defined in the entity crate (`entity::enums`), because they are the
//! types of database columns; they are re-exported here so the rest of the server names them as
//! domain types. Every enum has one canonical spelling, SCREAMING_SNAKE_CASE (`TO_ADDRESS`), used
//! by serde, by `as_str`/`FromStr`/`Display` and therefore by the database and the GraphQL layer
//! alike. Parsing the canonical spelling is strict.
//!
//! The rules over them live here, as extension traits (a type's inherent methods can only be
//! defined in its own crate): ranking weights, role order, and the lenient normalisers
//! (`LevelExt::normalize`, `TierExt::normalize`, …) that exist only for the spellings found in
//! Microsoft Graph exports (SPEC §9).

pub use entity::enums::*;

/// Lower-cases and drops whitespace, underscores and hyphens, so `Defense In Depth`,
/// `DefenseInDepth` and `defense_in_depth` compare equal.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The ranking and import rules of [`Tier`].
pub trait TierExt: Sized {
    /// Complexity term of the ranking formula: CORE = 1, DEFENSE_IN_DEPTH = 2, ADVANCED = 3.
    fn complexity(self) -> u32;

    /// Lenient parse for imported data: case-insensitive, whitespace/underscores/hyphens ignored.
    fn normalize(s: &str) -> Option<Self>;
}

impl TierExt for Tier {
    fn complexity(self) -> u32 {
        match self {
            Self::Core => 1,
            Self::DefenseInDepth => 2,
            Self::Advanced => 3,
        }
    }

    fn normalize(s: &str) -> Option<Tier> {
        match squash(s).as_str() {
            "core" => Some(Self::Core),
            "defenseindepth" => Some(Self::DefenseInDepth),
            "advanced" => Some(Self::Advanced),
            _ => None,
        }
    }
}

/// The ranking and import rules of [`Level`].
pub trait LevelExt {
    /// Ranking weight: LOW = 1, MODERATE = 2, HIGH = 3, UNKNOWN = 2 (an unrated control is
    /// treated as average rather than favoured or penalised).
    fn weight(self) -> u32;

    /// Lenient parse for imported data: `Low`, `Moderate`/`Medium`, `High` in any case; anything
    /// else (including empty) is `UNKNOWN`, because a missing rating must not fail an import.
    fn normalize(s: &str) -> Self;
}

impl LevelExt for Level {
    fn weight(self) -> u32 {
        match self {
            Self::Low => 1,
            Self::Moderate | Self::Unknown => 2,
            Self::High => 3,
        }
    }

    fn normalize(s: &str) -> Level {
        match squash(s).as_str() {
            "low" => Self::Low,
            "moderate" | "medium" => Self::Moderate,
            "high" => Self::High,
            _ => Self::Unknown,
        }
    }
}

/// The import rules of [`Category`].
pub trait CategoryExt: Sized {
    /// Lenient parse for imported data: case-insensitive, whitespace/underscores/hyphens ignored.
    fn normalize(s: &str) -> Option<Self>;
}

impl CategoryExt for Category {
    fn normalize(s: &str) -> Option<Category> {
        match squash(s).as_str() {
            "identity" => Some(Self::Identity),
            "device" => Some(Self::Device),
            "apps" => Some(Self::Apps),
            "data" => Some(Self::Data),
            "infrastructure" => Some(Self::Infrastructure),
            _ => None,
        }
    }
}

/// The import and scoring rules of [`Status`].
pub trait StatusExt: Copy {
    /// Maps a Microsoft Graph `controlStateUpdates[].state` (case-insensitive) to a status:
    /// `Default` → TO_ADDRESS, `Ignored` → RISK_ACCEPTED, `ThirdParty` → RESOLVED_THIRD_PARTY,
    /// `Reviewed` → RESOLVED_ALTERNATE_MITIGATION. Unknown states give `None`.
    fn from_graph_state(s: &str) -> Option<Self>;

    /// Whether the status is a claim whose points do not come from implementation
    /// (`RISK_ACCEPTED`, `RESOLVED_THIRD_PARTY`, `RESOLVED_ALTERNATE_MITIGATION`).
    fn is_claim(self) -> bool;
}

impl StatusExt for Status {
    fn from_graph_state(s: &str) -> Option<Status> {
        match squash(s).as_str() {
            "default" => Some(Self::ToAddress),
            "ignored" => Some(Self::RiskAccepted),
            "thirdparty" => Some(Self::ResolvedThirdParty),
            "reviewed" => Some(Self::ResolvedAlternateMitigation),
            _ => None,
        }
    }

    fn is_claim(self) -> bool {
        matches!(
            self,
            Self::RiskAccepted | Self::ResolvedThirdParty | Self::ResolvedAlternateMitigation
        )
    }
}

/// The authorisation rule of [`Role`]: declaration order is privilege order.
pub trait RoleExt {
    /// Whether a principal holding `self` may do something that needs `needed`.
    fn allows(self, needed: Role) -> bool;
}

impl RoleExt for Role {
    fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_complexities_follow_the_ranking_table() {
        let cases = [
            (Level::Low, 1),
            (Level::Moderate, 2),
            (Level::High, 3),
            (Level::Unknown, 2),
        ];
        for (level, w) in cases {
            assert_eq!(level.weight(), w, "weight of {level}");
        }
        let cases = [(Tier::Core, 1), (Tier::DefenseInDepth, 2), (Tier::Advanced, 3)];
        for (tier, c) in cases {
            assert_eq!(tier.complexity(), c, "complexity of {tier}");
        }
    }

    #[test]
    fn roles_allow_their_own_level_and_below() {
        let cases = [
            (Role::Reader, Role::Reader, true),
            (Role::Reader, Role::Operator, false),
            (Role::Reader, Role::Admin, false),
            (Role::Operator, Role::Reader, true),
            (Role::Operator, Role::Operator, true),
            (Role::Operator, Role::Admin, false),
            (Role::Admin, Role::Reader, true),
            (Role::Admin, Role::Operator, true),
            (Role::Admin, Role::Admin, true),
        ];
        for (held, needed, expected) in cases {
            assert_eq!(held.allows(needed), expected, "{held} doing {needed}");
        }
    }

    #[test]
    fn graph_levels_normalise_leniently() {
        let cases = [
            ("Low", Level::Low),
            ("low", Level::Low),
            ("LOW", Level::Low),
            ("Moderate", Level::Moderate),
            ("moderate", Level::Moderate),
            ("Medium", Level::Moderate),
            ("High", Level::High),
            ("", Level::Unknown),
            ("Severe", Level::Unknown),
        ];
        for (input, expected) in cases {
            assert_eq!(Level::normalize(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn graph_tiers_normalise_leniently() {
        let cases = [
            ("Core", Some(Tier::Core)),
            ("core", Some(Tier::Core)),
            ("Defense In Depth", Some(Tier::DefenseInDepth)),
            ("DefenseInDepth", Some(Tier::DefenseInDepth)),
            ("defense_in_depth", Some(Tier::DefenseInDepth)),
            ("DEFENSE_IN_DEPTH", Some(Tier::DefenseInDepth)),
            ("Advanced", Some(Tier::Advanced)),
            ("Basic", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(Tier::normalize(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn graph_categories_normalise_case_insensitively() {
        let cases = [
            ("Identity", Some(Category::Identity)),
            ("device", Some(Category::Device)),
            ("APPS", Some(Category::Apps)),
            ("Data", Some(Category::Data)),
            ("Infrastructure", Some(Category::Infrastructure)),
            ("Network", None),
        ];
        for (input, expected) in cases {
            assert_eq!(Category::normalize(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn graph_states_map_to_statuses() {
        let cases = [
            ("Default", Some(Status::ToAddress)),
            ("default", Some(Status::ToAddress)),
            ("Ignored", Some(Status::RiskAccepted)),
            ("ThirdParty", Some(Status::ResolvedThirdParty)),
            ("thirdparty", Some(Status::ResolvedThirdParty)),
            ("Reviewed", Some(Status::ResolvedAlternateMitigation)),
            ("Completed", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(Status::from_graph_state(input), expected, "input {input:?}");
        }
    }
}
