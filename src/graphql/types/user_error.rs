//! `userErrors { field message code }`: business-rule and validation failures of mutations.

use crate::error::AppError;
use async_graphql::SimpleObject;

/// A business-rule or validation failure; nothing was written.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// Path to the offending input field (e.g. `["input", "status"]`), empty when not tied to one.
    pub field: Vec<String>,
    /// What went wrong, for people.
    pub message: String,
    /// Stable code: `BAD_USER_INPUT`, `CONFLICT`, `STATUS_LOCKED`, `DEVICE_STATUS_MANAGED_EXTERNALLY`,
    /// `NOTHING_TO_UNDO`, `NOT_FOUND`, …
    pub code: String,
}

impl UserError {
    pub fn new(field: &[&str], message: impl Into<String>, code: &str) -> Self {
        UserError {
            field: field.iter().map(|s| s.to_string()).collect(),
            message: message.into(),
            code: code.to_string(),
        }
    }
}

/// Splits a service result into the payload value or user errors. Authentication and
/// authorisation failures and internal errors stay top-level errors (SPEC §10).
pub fn split<T>(result: Result<T, AppError>) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    match result {
        Ok(v) => Ok((Some(v), Vec::new())),
        Err(
            e @ (AppError::Unauthenticated
            | AppError::Forbidden { .. }
            | AppError::Internal(_)
            | AppError::RateLimited { .. }),
        ) => Err(e.into()),
        Err(AppError::BadUserInput { field, message }) => {
            let mut path = vec!["input".to_string()];
            path.extend(field);
            Ok((
                None,
                vec![UserError {
                    field: path,
                    message,
                    code: "BAD_USER_INPUT".into(),
                }],
            ))
        }
        Err(e) => Ok((
            None,
            vec![UserError {
                field: vec!["input".into()],
                message: e.message(),
                code: e.code().into(),
            }],
        )),
    }
}
