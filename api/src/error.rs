//! The one error body every API of Corral returns, with a stable machine-readable code.
//!
//! The `message` is written for the person at the other end; internal causes (SQL errors,
//! socket errors) are logged by the server and never appear here.

use serde::{Deserialize, Serialize};

/// Stable error codes. Clients branch on these, never on messages; adding a variant is fine,
/// renaming one is a breaking change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request could not be parsed (malformed JSON, unknown field, wrong type).
    InvalidRequest,
    /// The request parsed but a field breaks a rule; `field` names it.
    ValidationFailed,
    /// No session or token, or it expired.
    Unauthenticated,
    /// Wrong username or password.
    LoginFailed,
    /// The caller may see the resource but not do this to it.
    Forbidden,
    /// No such resource, or the caller may not see it.
    NotFound,
    /// The resource is in a state that does not allow this (e.g. deleting a running machine).
    Conflict,
    /// A resource with this name already exists.
    AlreadyExists,
    /// No node has room for the request.
    InsufficientCapacity,
    /// The node that holds the resource does not answer.
    NodeUnreachable,
    /// Too many requests or a busy resource; retry later.
    Busy,
    /// The tenant's quota does not allow this; `field` names the limit, the message says by
    /// how much.
    QuotaExceeded,
    /// Too many failed logins for this account or from this address; `Retry-After` says
    /// when to try again.
    TooManyAttempts,
    /// Mutating requests must come from the console's own origin.
    BadOrigin,
    /// The request's body is larger than the route accepts.
    PayloadTooLarge,
    /// Something broke on our side; the server log has the cause.
    Internal,
}

impl ErrorCode {
    /// The code as it is written on the wire (`not_found`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::ValidationFailed => "validation_failed",
            Self::Unauthenticated => "unauthenticated",
            Self::LoginFailed => "login_failed",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::AlreadyExists => "already_exists",
            Self::InsufficientCapacity => "insufficient_capacity",
            Self::NodeUnreachable => "node_unreachable",
            Self::Busy => "busy",
            Self::QuotaExceeded => "quota_exceeded",
            Self::TooManyAttempts => "too_many_attempts",
            Self::BadOrigin => "bad_origin",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status this code is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest => 400,
            Self::ValidationFailed => 422,
            Self::Unauthenticated | Self::LoginFailed => 401,
            Self::Forbidden | Self::BadOrigin | Self::QuotaExceeded => 403,
            Self::NotFound => 404,
            Self::Conflict | Self::AlreadyExists => 409,
            Self::InsufficientCapacity => 507,
            Self::NodeUnreachable | Self::Busy => 503,
            Self::TooManyAttempts => 429,
            Self::PayloadTooLarge => 413,
            Self::Internal => 500,
        }
    }
}

/// The body of every error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    /// A sentence for a human.
    pub message: String,
    /// The request field at fault, for `validation_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None }
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ErrorBody {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_is_the_wire_spelling() {
        use ErrorCode::*;
        let all = [
            InvalidRequest,
            ValidationFailed,
            Unauthenticated,
            LoginFailed,
            Forbidden,
            NotFound,
            Conflict,
            AlreadyExists,
            InsufficientCapacity,
            NodeUnreachable,
            Busy,
            QuotaExceeded,
            TooManyAttempts,
            BadOrigin,
            PayloadTooLarge,
            Internal,
        ];
        for c in all {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
