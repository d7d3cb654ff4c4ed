//! One error type with stable client-facing codes (SPEC §10). Internal errors are masked for
//! clients: they carry only `INTERNAL` and the request id, and are logged once with their cause.

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

/// Errors of the service layer, mapped once to GraphQL `extensions.code`.
///
/// It deliberately does not implement `Display`: async-graphql converts any `Display` error into
/// a bare message, and that blanket conversion would silently drop the code. Without it, `?` in
/// a resolver goes through our own `From` below.
#[derive(Debug)]
pub enum AppError {
    Unauthenticated,
    Forbidden {
        needed: &'static str,
    },
    NotFound(&'static str),
    BadUserInput {
        field: Vec<String>,
        message: String,
    },
    Conflict(String),
    /// A business rule refused the change (`STATUS_LOCKED`, `DEVICE_STATUS_MANAGED_EXTERNALLY`,
    /// `NOTHING_TO_UNDO`, …).
    Rule {
        code: &'static str,
        message: String,
    },
    RateLimited {
        retry_after_secs: u64,
    },
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        AppError::Internal(err)
    }
}

impl AppError {
    /// The message for clients (internal errors are masked).
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthenticated => {
                "authentication required: send `Authorization: Bearer <token>` with a valid token".into()
            }
            AppError::Forbidden {
                needed: "SERVICE_ADMIN",
            } => "only a SERVICE_ADMIN may do this (a service-wide role; no tenant role allows it)".into(),
            AppError::Forbidden { needed } => {
                format!("your role on this tenant does not allow this operation (needs {needed})")
            }
            AppError::NotFound(what) => format!("{what} not found"),
            AppError::BadUserInput { message, .. } => message.clone(),
            AppError::Conflict(message) => message.clone(),
            AppError::Rule { message, .. } => message.clone(),
            AppError::RateLimited { retry_after_secs } => {
                format!("too many requests; retry after {retry_after_secs} s")
            }
            AppError::Internal(_) => "internal error".into(),
        }
    }

    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated => "UNAUTHENTICATED",
            AppError::Forbidden { .. } => "FORBIDDEN",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::BadUserInput { .. } => "BAD_USER_INPUT",
            AppError::Conflict(_) => "CONFLICT",
            AppError::Rule { code, .. } => code,
            AppError::RateLimited { .. } => "RATE_LIMITED",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// A validation error on one input field.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        AppError::BadUserInput {
            field: field.split('.').map(str::to_string).collect(),
            message: message.into(),
        }
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        // PostgreSQL refuses NUL in text (SQLSTATE 22021, "invalid byte sequence for encoding
        // UTF8: 0x00"). Every text input is checked before it reaches the database; this is the
        // backstop for a lookup argument (a slug, an id) that still carries one: bad input, not
        // an internal error.
        if is_nul_in_text(&err) {
            return AppError::bad_input("input", "text must not contain NUL characters");
        }
        AppError::Internal(anyhow::Error::new(err).context("database error"))
    }
}

fn is_nul_in_text(err: &DbErr) -> bool {
    let sql_err = match err {
        DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) | DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    sql_err
        .as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| code == "22021")
}

impl ErrorExtensions for AppError {
    fn extend(&self) -> async_graphql::Error {
        let message = match self {
            AppError::Internal(cause) => {
                // Logged here, once, with the whole cause chain; the client sees only the code
                // and the request id (added by the HTTP layer) to quote when reporting it.
                tracing::error!(error = format!("{cause:#}"), "internal error");
                "internal error".to_string()
            }
            other => other.message(),
        };
        async_graphql::Error::new(message).extend_with(|_, e| {
            e.set("code", self.code());
            if let AppError::RateLimited { retry_after_secs } = self {
                e.set("retryAfterSeconds", *retry_after_secs);
            }
            if let AppError::BadUserInput { field, .. } = self {
                e.set("field", field.join("."));
            }
        })
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        err.extend()
    }
}

/// Result alias of the service layer.
pub type AppResult<T> = Result<T, AppError>;
