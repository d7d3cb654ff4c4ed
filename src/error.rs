//! One error type with stable client-facing codes (SPEC §10). Internal errors are masked for
//! clients: they carry only `INTERNAL` and the request id, and are logged once with their cause.
//!
//! A failure to reach the database (connection refused, reset or lost, the pool's wait for a
//! connection timed out, the server shutting down or starting, SQLite busy past its timeout) is
//! not a defect but a retryable unavailability: `SERVICE_UNAVAILABLE`, with `retryAfterSeconds`,
//! wherever the error started ([`AppError::from`] on `DbErr` and on `anyhow::Error` looks through
//! the cause chain, and an `Internal` error caused by one is answered the same).

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
    /// The database cannot be reached right now; the cause is logged, never shown.
    Unavailable(anyhow::Error),
    Internal(anyhow::Error),
}

/// Seconds a client is asked to wait before retrying after `SERVICE_UNAVAILABLE`.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

impl From<anyhow::Error> for AppError {
    fn from(err: anyhow::Error) -> Self {
        if err.chain().any(is_unavailable) {
            AppError::Unavailable(err)
        } else {
            AppError::Internal(err)
        }
    }
}

/// Whether an error (one link of a cause chain) says the database could not be reached, as
/// opposed to a statement it refused: `DbErr` and sqlx errors of connections and pools, and the
/// SQLSTATEs of a server that is gone, shutting down, starting or out of connections.
pub fn is_unavailable(err: &(dyn std::error::Error + 'static)) -> bool {
    if let Some(db) = err.downcast_ref::<DbErr>() {
        return match db {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(sea_orm::RuntimeErr::SqlxError(e))
            | DbErr::Query(sea_orm::RuntimeErr::SqlxError(e)) => sqlx_unavailable(e),
            _ => false,
        };
    }
    if let Some(e) = err.downcast_ref::<sea_orm::sqlx::Error>() {
        return sqlx_unavailable(e);
    }
    false
}

fn sqlx_unavailable(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_) | Error::Tls(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => true,
        // A connection cut mid-message shows up as a protocol error.
        Error::Protocol(_) => true,
        Error::Database(db) => db.code().is_some_and(|code| unavailable_sqlstate(&code)),
        _ => false,
    }
}

/// PostgreSQL: class 08 (connection exception), 57P01–57P03 (admin/crash shutdown, cannot
/// connect now), 53300 (too many connections). SQLite: SQLITE_BUSY and SQLITE_LOCKED with their
/// extended codes (another process held the database past the busy timeout).
fn unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "5" | "6" | "261" | "262" | "517" | "773"
        )
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
            AppError::Unavailable(_) => self.unavailable_message(),
            AppError::Internal(_) if self.is_unavailable() => self.unavailable_message(),
            AppError::Internal(_) => "internal error".into(),
        }
    }

    fn unavailable_message(&self) -> String {
        format!(
            "the database cannot be reached right now; retry in {UNAVAILABLE_RETRY_AFTER_SECS} s \
             (see README, \"Retrying\")"
        )
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
            AppError::Unavailable(_) => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) if self.is_unavailable() => "SERVICE_UNAVAILABLE",
            AppError::Internal(_) => "INTERNAL",
        }
    }

    /// Whether this error fails a whole request rather than one item of it (a bulk change's
    /// item, a user error): authentication, authorisation, an unreachable database and internal
    /// errors stay top-level (SPEC §10).
    pub fn fails_the_whole_request(&self) -> bool {
        matches!(
            self,
            AppError::Unauthenticated
                | AppError::Forbidden { .. }
                | AppError::Unavailable(_)
                | AppError::Internal(_)
        )
    }

    /// Whether this is the database's unavailability (retryable), however it was wrapped.
    pub fn is_unavailable(&self) -> bool {
        match self {
            AppError::Unavailable(_) => true,
            AppError::Internal(cause) => cause.chain().any(is_unavailable),
            _ => false,
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
        AppError::from(anyhow::Error::new(err).context("database error"))
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
        // An internal error made from a cause that is an unavailability (a `DbErr` wrapped by
        // hand) is answered as the unavailability it is.
        if let AppError::Internal(cause) = self
            && cause.chain().any(is_unavailable)
        {
            return AppError::Unavailable(anyhow::anyhow!("{cause:#}")).extend();
        }
        let message = match self {
            AppError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                self.message()
            }
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
            if let AppError::Unavailable(_) = self {
                e.set("retryAfterSeconds", UNAVAILABLE_RETRY_AFTER_SECS);
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sqlx;
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    use std::sync::Arc;

    fn code_of(err: &AppError) -> String {
        let extended = err.extend();
        match extended.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(async_graphql::Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    fn io(kind: std::io::ErrorKind) -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(kind))
    }

    #[test]
    fn an_unreachable_database_is_service_unavailable_however_it_is_wrapped() {
        let causes = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed),
            DbErr::Conn(RuntimeErr::Internal("connection refused".into())),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(io(
                std::io::ErrorKind::ConnectionReset,
            )))),
            DbErr::Exec(RuntimeErr::SqlxError(Arc::new(io(
                std::io::ErrorKind::UnexpectedEof,
            )))),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::PoolTimedOut))),
        ];
        for cause in causes {
            let shown = format!("{cause}");
            let direct = AppError::from(cause.clone());
            assert!(direct.is_unavailable(), "{shown}");
            assert_eq!(code_of(&direct), "SERVICE_UNAVAILABLE", "{shown}");
            let extended = direct.extend();
            let retry = extended
                .extensions
                .as_ref()
                .and_then(|x| x.get("retryAfterSeconds"));
            assert_eq!(
                retry,
                Some(&async_graphql::Value::from(UNAVAILABLE_RETRY_AFTER_SECS))
            );
            // Wrapped by hand in an internal error with context: still an unavailability.
            let wrapped = AppError::Internal(anyhow::Error::new(cause.clone()).context("reading the tenant"));
            assert!(wrapped.is_unavailable(), "{shown}");
            assert_eq!(code_of(&wrapped), "SERVICE_UNAVAILABLE", "{shown}");
            // Through anyhow's conversion.
            let converted = AppError::from(anyhow::Error::new(cause).context("loading"));
            assert!(matches!(converted, AppError::Unavailable(_)), "{shown}");
        }
    }

    #[test]
    fn a_refused_statement_or_a_defect_stays_internal() {
        let causes = [
            DbErr::Custom("unexpected".into()),
            DbErr::RecordNotFound("tenant".into()),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(sqlx::Error::RowNotFound))),
            DbErr::Query(RuntimeErr::Internal("syntax error at or near".into())),
        ];
        for cause in causes {
            let shown = format!("{cause}");
            let err = AppError::from(cause);
            assert!(!err.is_unavailable(), "{shown}");
            assert_eq!(code_of(&err), "INTERNAL", "{shown}");
        }
        assert_eq!(code_of(&AppError::Internal(anyhow::anyhow!("a bug"))), "INTERNAL");
    }

    #[test]
    fn connection_sqlstates_are_unavailable_and_others_are_not() {
        for code in ["08006", "08001", "57P01", "57P02", "57P03", "53300", "5", "517"] {
            assert!(unavailable_sqlstate(code), "{code}");
        }
        for code in ["23505", "40001", "42601", "22021", "19", "2067"] {
            assert!(!unavailable_sqlstate(code), "{code}");
        }
    }
}
