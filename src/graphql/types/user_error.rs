//! `userErrors { field message code }`: business-rule and validation failures of mutations.

use crate::domain::rules::NothingToUndo;
use crate::error::AppError;
use async_graphql::{Enum, SimpleObject};

/// A business-rule or validation failure; nothing was written.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// Path to the offending input field (e.g. `["input", "status"]`), empty when not tied to one.
    pub field: Vec<String>,
    /// What went wrong, for people.
    pub message: String,
    /// What went wrong, for programs: stable across releases.
    pub code: UserErrorCode,
}

/// Why a mutation wrote nothing: the `code` of a `UserError`. Authentication, authorisation and
/// internal failures are never user errors: they are top-level errors with `extensions.code`
/// (`UNAUTHENTICATED`, `FORBIDDEN`, `RATE_LIMITED`, `INTERNAL`).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum UserErrorCode {
    /// An input value is invalid (out of range, malformed, too long, `COMPLETED` asked for by
    /// hand, …); `field` names it.
    BadUserInput,
    /// Something the input names does not exist or is not accessible to the caller.
    NotFound,
    /// The action changed since the `expectedVersion` given, or the change clashes with what
    /// exists (e.g. a duplicate name).
    Conflict,
    /// The action is COMPLETED: its status cannot be changed by hand.
    StatusLocked,
    /// The status of a DEVICE action changes only through `recordDeviceException`.
    DeviceStatusManagedExternally,
    /// `undoActionStatus` found no change of the caller's it may undo (the message says why).
    NothingToUndo,
    /// The tenant requires approval for RISK_ACCEPTED (`riskAcceptanceRequiresApproval`): use
    /// `requestRiskAcceptance`.
    ApprovalRequired,
    /// The requester of a risk acceptance cannot approve or reject it: another ADMIN must.
    SelfApproval,
}

impl UserErrorCode {
    /// The code of an error that is a user error; `None` for the errors that stay top-level
    /// (authentication, authorisation, rate limits, an unreachable database and internal errors;
    /// SPEC §10).
    pub fn of(error: &AppError) -> Option<UserErrorCode> {
        match error {
            AppError::BadUserInput { .. } => Some(Self::BadUserInput),
            AppError::NotFound(_) => Some(Self::NotFound),
            AppError::Conflict(_) => Some(Self::Conflict),
            AppError::Rule { code, .. } => match *code {
                "BAD_USER_INPUT" => Some(Self::BadUserInput),
                "STATUS_LOCKED" => Some(Self::StatusLocked),
                "DEVICE_STATUS_MANAGED_EXTERNALLY" => Some(Self::DeviceStatusManagedExternally),
                NothingToUndo::CODE => Some(Self::NothingToUndo),
                crate::service::workflow::risk::APPROVAL_REQUIRED => Some(Self::ApprovalRequired),
                crate::service::workflow::risk::SELF_APPROVAL => Some(Self::SelfApproval),
                _ => None,
            },
            AppError::Unauthenticated
            | AppError::Forbidden { .. }
            | AppError::RateLimited { .. }
            | AppError::Unavailable(_)
            | AppError::Internal(_) => None,
        }
    }
}

/// Splits a service result into the payload value or user errors. Authentication and
/// authorisation failures and internal errors stay top-level errors (SPEC §10).
pub fn split<T>(result: Result<T, AppError>) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    match result {
        Ok(v) => Ok((Some(v), Vec::new())),
        Err(e) => {
            let Some(code) = UserErrorCode::of(&e) else {
                return Err(e.into());
            };
            let mut field = vec!["input".to_string()];
            if let AppError::BadUserInput { field: path, .. } = &e {
                field.extend(path.iter().cloned());
            }
            Ok((
                None,
                vec![UserError {
                    field,
                    message: e.message(),
                    code,
                }],
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rules::RuleViolation;

    #[test]
    fn every_rule_violation_is_a_user_error_with_its_own_code() {
        let violations = [
            RuleViolation::CompletedIsSystemOnly,
            RuleViolation::StatusLocked,
            RuleViolation::DeviceStatusManagedExternally,
        ];
        for v in violations {
            let e = AppError::Rule {
                code: v.code(),
                message: v.message(),
            };
            let code = UserErrorCode::of(&e).unwrap_or_else(|| panic!("{} has no UserErrorCode", v.code()));
            assert_eq!(
                async_graphql::InputType::to_value(&code).to_string(),
                v.code(),
                "{v:?}"
            );
        }
        let undo = AppError::Rule {
            code: NothingToUndo::CODE,
            message: String::new(),
        };
        assert_eq!(UserErrorCode::of(&undo), Some(UserErrorCode::NothingToUndo));
        for (code, expected) in [
            (
                crate::service::workflow::risk::APPROVAL_REQUIRED,
                UserErrorCode::ApprovalRequired,
            ),
            (
                crate::service::workflow::risk::SELF_APPROVAL,
                UserErrorCode::SelfApproval,
            ),
        ] {
            let e = AppError::Rule {
                code,
                message: String::new(),
            };
            assert_eq!(UserErrorCode::of(&e), Some(expected));
            assert_eq!(async_graphql::InputType::to_value(&expected).to_string(), code);
        }
    }

    #[test]
    fn authorisation_and_internal_failures_are_not_user_errors() {
        for e in [
            AppError::Unauthenticated,
            AppError::Forbidden { needed: "ADMIN" },
            AppError::RateLimited { retry_after_secs: 1 },
            AppError::Internal(anyhow::anyhow!("boom")),
        ] {
            assert_eq!(UserErrorCode::of(&e), None, "{}", e.code());
        }
    }
}
