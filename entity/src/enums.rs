//! The closed vocabularies stored in enum columns: statuses, categories, tiers, impact/cost
//! levels, roles, exception kinds, share platforms and event kinds.
//!
//! Every enum has one canonical spelling, SCREAMING_SNAKE_CASE (`TO_ADDRESS`), used by serde, by
//! `as_str`/`FromStr`/`Display` and by the database, where it is stored as a plain string column
//! (`DeriveActiveEnum` with `rs_type = "String"`, no native database enum), so the columns are
//! typed in Rust without any change to the schema or the stored values. Parsing the canonical
//! spelling is strict. The domain's rules over these vocabularies (ranking weights, lenient
//! normalisers for Microsoft Graph exports, role order) live in the server's `domain::enums`.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A string did not name any variant of the enum `kind`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} value {value:?}")]
pub struct UnknownValue {
    /// Name of the enum that was being parsed, e.g. `"Status"`.
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
}

/// Defines a fieldless enum together with its canonical string spelling, `ALL`, `as_str`,
/// `FromStr`, `Display` and its database mapping, so the spelling is written once and can't drift
/// between them.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug,
            Clone,
            Copy,
            PartialEq,
            Eq,
            Hash,
            PartialOrd,
            Ord,
            Serialize,
            Deserialize,
            EnumIter,
            DeriveActiveEnum,
        )]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        // The migrations create these columns with `string(..)`, i.e. `String(StringLen::None)`.
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
        pub enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $text)] $variant, )+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: [Self; <[&str]>::len(&[$($text),+])] = [$(Self::$variant),+];

            /// The canonical SCREAMING_SNAKE_CASE spelling.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownValue;

            /// Parses the exact canonical spelling (case-sensitive).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err(UnknownValue { kind: stringify!($name), value: s.to_owned() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a tenant stands on one improvement action (SPEC §2).
    pub enum Status {
        /// Default; partial credit for progress.
        ToAddress => "TO_ADDRESS",
        /// The tenant intends to do it; partial credit for progress.
        Planned => "PLANNED",
        /// The tenant accepts the risk; earns nothing.
        RiskAccepted => "RISK_ACCEPTED",
        /// Covered by a third-party product; earns full points.
        ResolvedThirdParty => "RESOLVED_THIRD_PARTY",
        /// Covered by another mitigation; earns full points.
        ResolvedAlternateMitigation => "RESOLVED_ALTERNATE_MITIGATION",
        /// Fully implemented; set by the system only.
        Completed => "COMPLETED",
    }
}

string_enum! {
    /// The area of security a control belongs to.
    pub enum Category {
        /// Identities and sign-in.
        Identity => "IDENTITY",
        /// Managed devices.
        Device => "DEVICE",
        /// Applications.
        Apps => "APPS",
        /// Data protection.
        Data => "DATA",
        /// Infrastructure.
        Infrastructure => "INFRASTRUCTURE",
    }
}

string_enum! {
    /// How fundamental a control is; drives the complexity term of the ranking (SPEC §4).
    pub enum Tier {
        /// Baseline protection.
        Core => "CORE",
        /// Additional layers.
        DefenseInDepth => "DEFENSE_IN_DEPTH",
        /// Advanced protection.
        Advanced => "ADVANCED",
    }
}

string_enum! {
    /// A low/moderate/high rating, used for a control's `userImpact` and `implementationCost`.
    pub enum Level {
        /// Low.
        Low => "LOW",
        /// Moderate.
        Moderate => "MODERATE",
        /// High.
        High => "HIGH",
        /// Not rated by the vendor.
        Unknown => "UNKNOWN",
    }
}

string_enum! {
    /// What kind of work a control asks for.
    pub enum ActionType {
        /// Change a configuration.
        Config => "CONFIG",
        /// Review something periodically.
        Review => "REVIEW",
        /// Change how people behave.
        Behavior => "BEHAVIOR",
    }
}

string_enum! {
    /// Reach of a vulnerability-management exception on a device action.
    pub enum ExceptionScope {
        /// The whole tenant; changes the action's status.
        Global => "GLOBAL",
        /// Some devices only; recorded, status stays `TO_ADDRESS`.
        DeviceGroup => "DEVICE_GROUP",
    }
}

string_enum! {
    /// Why a vulnerability-management exception was granted.
    pub enum ExceptionJustification {
        /// A third-party product covers it.
        ThirdPartyControl => "THIRD_PARTY_CONTROL",
        /// Another mitigation covers it.
        AlternateMitigation => "ALTERNATE_MITIGATION",
        /// The risk is accepted.
        RiskAccepted => "RISK_ACCEPTED",
        /// Remediation is planned.
        PlannedRemediation => "PLANNED_REMEDIATION",
    }
}

string_enum! {
    /// A principal's role in one tenant. Declaration order is privilege order, which `Ord` and
    /// the server's `RoleExt::allows` rely on.
    pub enum Role {
        /// Read-only access.
        Reader => "READER",
        /// Can change actions (statuses, notes, tags, shares).
        Operator => "OPERATOR",
        /// Everything, including imports and tenant settings.
        Admin => "ADMIN",
    }
}

string_enum! {
    /// Which controls apply to a tenant (SPEC §1 Applicability).
    pub enum CatalogSource {
        /// The service catalog's controls of the tenant's enabled services (the default).
        ServiceCatalog => "SERVICE_CATALOG",
        /// Exactly the controls of the tenant's latest Microsoft Graph export, so its score is
        /// the vendor's (set by the first Graph import or sync).
        MicrosoftGraph => "MICROSOFT_GRAPH",
    }
}

string_enum! {
    /// Where a share link is sent.
    pub enum SharePlatform {
        /// A bare link.
        Link => "LINK",
        /// Email.
        Email => "EMAIL",
        /// Microsoft Teams.
        Teams => "TEAMS",
        /// Microsoft Planner.
        Planner => "PLANNER",
    }
}

string_enum! {
    /// What an `ActionEvent` records.
    pub enum EventKind {
        /// A user changed the status.
        StatusChanged => "STATUS_CHANGED",
        /// Implementation progress changed.
        ProgressChanged => "PROGRESS_CHANGED",
        /// Progress reached 1 and the system completed the action.
        Completed => "COMPLETED",
        /// A completed action fell below full progress.
        Regressed => "REGRESSED",
        /// A `reviewBy` date passed and the status returned to `TO_ADDRESS`.
        Expired => "EXPIRED",
        /// A vulnerability-management exception was recorded.
        ExceptionRecorded => "EXCEPTION_RECORDED",
        /// A note was added.
        NoteAdded => "NOTE_ADDED",
        /// A note was edited.
        NoteEdited => "NOTE_EDITED",
        /// A note was deleted.
        NoteDeleted => "NOTE_DELETED",
        /// A tag was attached.
        TagAdded => "TAG_ADDED",
        /// A tag was detached.
        TagRemoved => "TAG_REMOVED",
        /// A share link was created.
        Shared => "SHARED",
        /// A share link was revoked.
        ShareRevoked => "SHARE_REVOKED",
        /// A previous change was undone.
        Undone => "UNDONE",
        /// The action was written by an import.
        Imported => "IMPORTED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// as_str, FromStr, Display, serde and the database mapping must all agree on one spelling
    /// per variant.
    fn check_round_trips<T>(all: &[T])
    where
        T: Copy
            + std::fmt::Debug
            + PartialEq
            + FromStr<Err = UnknownValue>
            + std::fmt::Display
            + Serialize
            + for<'de> Deserialize<'de>
            + ActiveEnum<Value = String>,
    {
        for v in all {
            let text = v.to_string();
            assert_eq!(T::from_str(&text).as_ref(), Ok(v), "FromStr of {text}");
            let json = serde_json::to_string(v).expect("serialize");
            assert_eq!(json, format!("\"{text}\""), "serde spelling of {v:?}");
            let back: T = serde_json::from_str(&json).expect("deserialize");
            assert_eq!(back, *v, "serde round trip of {v:?}");
            assert_eq!(v.to_value(), text, "database spelling of {v:?}");
            assert_eq!(
                T::try_from_value(&text).ok().as_ref(),
                Some(v),
                "database read of {text}"
            );
        }
    }

    #[test]
    fn every_enum_round_trips_through_its_canonical_spelling() {
        check_round_trips(&Status::ALL);
        check_round_trips(&Category::ALL);
        check_round_trips(&Tier::ALL);
        check_round_trips(&Level::ALL);
        check_round_trips(&ActionType::ALL);
        check_round_trips(&ExceptionScope::ALL);
        check_round_trips(&ExceptionJustification::ALL);
        check_round_trips(&Role::ALL);
        check_round_trips(&CatalogSource::ALL);
        check_round_trips(&SharePlatform::ALL);
        check_round_trips(&EventKind::ALL);
    }

    #[test]
    fn canonical_spellings_are_screaming_snake_case() {
        assert_eq!(Status::ToAddress.as_str(), "TO_ADDRESS");
        assert_eq!(
            Status::ResolvedAlternateMitigation.as_str(),
            "RESOLVED_ALTERNATE_MITIGATION"
        );
        assert_eq!(Tier::DefenseInDepth.as_str(), "DEFENSE_IN_DEPTH");
        assert_eq!(EventKind::ExceptionRecorded.as_str(), "EXCEPTION_RECORDED");
        assert_eq!(Status::ALL.len(), 6);
        assert_eq!(EventKind::ALL.len(), 15);
    }

    #[test]
    fn parsing_is_strict_and_names_the_enum_in_the_error() {
        let err = Status::from_str("to_address").expect_err("lower case is not canonical");
        assert_eq!(err.kind, "Status");
        assert_eq!(err.value, "to_address");
        assert_eq!(err.to_string(), "unknown Status value \"to_address\"");
        assert!(Level::from_str("").is_err());
    }
}
