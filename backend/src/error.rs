//! `ApiError`: the backend's one error type and its mapping to status codes and the shared
//! error body. The internal cause of an `Internal` error is logged here, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corral_api::{ErrorBody, ErrorCode};

use crate::nodes::NodeError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    #[error("log in first")]
    Unauthenticated,
    #[error("wrong username or password")]
    LoginFailed,
    #[error("{0}")]
    Forbidden(String),
    /// Also for what exists but the caller may not see (404, not 403).
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    InsufficientCapacity(String),
    /// The node tried and failed; its words are passed on.
    #[error("node {node}: {message}")]
    NodeFailed { node: String, message: String },
    #[error("node {node} is unreachable: {reason}")]
    NodeUnreachable { node: String, reason: String },
    #[error("this request must come from the console's own origin")]
    BadOrigin,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// The resource is busy with another operation; retry shortly.
    #[error("{0}")]
    Busy(String),
    /// A tenant limit; `field` names it.
    #[error("{message}")]
    QuotaExceeded { field: String, message: String },
    /// Failed logins are being refused for a while.
    #[error("{message}")]
    TooManyAttempts { message: String, retry_after_secs: u64 },
    #[error("the request body is larger than this route accepts ({0} bytes at most)")]
    PayloadTooLarge(usize),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_) => ErrorCode::InvalidRequest,
            Self::Validation { .. } => ErrorCode::ValidationFailed,
            Self::Unauthenticated => ErrorCode::Unauthenticated,
            Self::LoginFailed => ErrorCode::LoginFailed,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::InsufficientCapacity(_) => ErrorCode::InsufficientCapacity,
            Self::NodeUnreachable { .. } => ErrorCode::NodeUnreachable,
            Self::NodeFailed { .. } => ErrorCode::Internal,
            Self::BadOrigin => ErrorCode::BadOrigin,
            Self::MethodNotAllowed => ErrorCode::InvalidRequest,
            Self::Busy(_) => ErrorCode::Busy,
            Self::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::PayloadTooLarge(_) => ErrorCode::PayloadTooLarge,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthenticated | Self::LoginFailed => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) | Self::BadOrigin => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) | Self::AlreadyExists(_) => StatusCode::CONFLICT,
            Self::InsufficientCapacity(_) => StatusCode::INSUFFICIENT_STORAGE,
            Self::NodeUnreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::NodeFailed { .. } => StatusCode::BAD_GATEWAY,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::QuotaExceeded { .. } => StatusCode::FORBIDDEN,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        Self::Internal(e.into())
    }

    /// Maps a node's answer to ours: its refusals keep their meaning, link failures become 503.
    pub fn from_node(node: &str, e: NodeError) -> Self {
        match e {
            NodeError::Api { status, body } => match body.code {
                ErrorCode::Conflict => ApiError::Conflict(body.message),
                ErrorCode::Busy => ApiError::Busy(body.message),
                ErrorCode::InsufficientCapacity => {
                    ApiError::InsufficientCapacity(format!("{node}: {}", body.message))
                }
                // The bridge's messages are whole sentences; strip what our own variants add.
                ErrorCode::NotFound => {
                    ApiError::NotFound(body.message.trim_end_matches(" not found").to_string())
                }
                ErrorCode::ValidationFailed => {
                    let field = body.field.unwrap_or_default();
                    let message =
                        body.message.strip_prefix(&format!("{field}: ")).unwrap_or(&body.message).to_string();
                    ApiError::Validation { field, message }
                }
                // The node's own failure with a detail an operator can act on (a QEMU that would
                // not start, a full disk): shown, marked as the node's.
                ErrorCode::Internal if body.message != "internal error" => {
                    ApiError::NodeFailed { node: node.to_string(), message: body.message }
                }
                _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                    ApiError::NodeUnreachable { node: node.to_string(), reason: body.message }
                }
                _ => ApiError::internal(anyhow::anyhow!("node {node} answered {status}: {}", body.message)),
            },
            NodeError::Protocol(msg) => ApiError::internal(anyhow::anyhow!("node {node}: {msg}")),
            e @ (NodeError::Unreachable(_) | NodeError::Timeout(_)) => {
                ApiError::NodeUnreachable { node: node.to_string(), reason: e.to_string() }
            }
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl From<corral_api::validate::FieldError> for ApiError {
    fn from(e: corral_api::validate::FieldError) -> Self {
        Self::Validation { field: e.field.to_string(), message: e.message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let mut body = ErrorBody::new(self.code(), self.to_string());
        if let Self::Validation { field, message } = &self {
            body.field = Some(field.clone());
            body.message = format!("{field}: {message}");
        }
        if let Self::QuotaExceeded { field, .. } = &self {
            body.field = Some(field.clone());
        }
        let mut resp = (self.status(), axum::Json(body)).into_response();
        // For the audit trail, which records the code without reading the body.
        resp.extensions_mut().insert(self.code());
        if matches!(self, Self::NodeUnreachable { .. } | Self::Busy(_)) {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Self::TooManyAttempts { retry_after_secs, .. } = &self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nodes_own_failure_keeps_its_words_and_link_failures_become_503() {
        let failed = NodeError::Api {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody::new(ErrorCode::Internal, "QEMU did not start: cannot allocate memory"),
        };
        let e = ApiError::from_node("n1", failed);
        assert_eq!(e.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(e.to_string(), "node n1: QEMU did not start: cannot allocate memory");
        let hidden = NodeError::Api {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: ErrorBody::new(ErrorCode::Internal, "internal error"),
        };
        assert_eq!(ApiError::from_node("n1", hidden).status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cut = ApiError::from_node("n1", NodeError::Unreachable("connection reset".into()));
        assert_eq!((cut.status(), cut.code()), (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::NodeUnreachable));
        let busy = NodeError::Api {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: ErrorBody::new(ErrorCode::Busy, "snapshot in progress"),
        };
        assert_eq!(ApiError::from_node("n1", busy).code(), ErrorCode::Busy);
    }
}
