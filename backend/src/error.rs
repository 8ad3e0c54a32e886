//! `ApiError`: the backend's one error type and its mapping to status codes and the shared
//! error body. The internal cause of an `Internal` error is logged here, never sent.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corral_api::{ErrorBody, ErrorCode};

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
