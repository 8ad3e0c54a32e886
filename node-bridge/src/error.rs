//! The bridge's one error type, mapped to the shared error body.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_api::{ErrorBody, ErrorCode, MachineId};

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("{field}: {message}")]
    Validation { field: &'static str, message: String },
    #[error("machine {0} not found")]
    MachineNotFound(MachineId),
    #[error("image {0} not found")]
    ImageNotFound(String),
    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),
    /// Another operation holds the machine (e.g. a snapshot in progress).
    #[error("{0}")]
    Busy(String),
    /// A host command failed in a way the operator can act on; the detail is shown.
    #[error("{0}")]
    Host(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    InsufficientCapacity(String),
    #[error("not found")]
    RouteNotFound,
    #[error("this method is not allowed on this path")]
    MethodNotAllowed,
    /// A host-side failure; its cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<corral_api::validate::FieldError> for BridgeError {
    fn from(e: corral_api::validate::FieldError) -> Self {
        Self::Validation { field: e.field, message: e.message }
    }
}

impl From<std::io::Error> for BridgeError {
    fn from(e: std::io::Error) -> Self {
        Self::Internal(e.into())
    }
}

impl BridgeError {
    /// The status and error body this error is answered with (internal causes are logged
    /// here, never put in the body).
    pub fn status_and_body(&self) -> (StatusCode, ErrorBody) {
        let (status, code) = match self {
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest),
            Self::Validation { .. } => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::ValidationFailed),
            Self::MachineNotFound(_)
            | Self::ImageNotFound(_)
            | Self::SnapshotNotFound(_)
            | Self::RouteNotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            Self::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidRequest),
            Self::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Busy),
            Self::Host(detail) => {
                tracing::error!(%detail, "host command failed");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
            Self::InsufficientCapacity(_) => {
                (StatusCode::INSUFFICIENT_STORAGE, ErrorCode::InsufficientCapacity)
            }
            Self::Internal(cause) => {
                tracing::error!(error = ?cause, "request failed");
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        let mut body = ErrorBody::new(code, self.to_string());
        if let Self::Validation { field, .. } = self {
            body.field = Some((*field).to_string());
        }
        (status, body)
    }
}

impl IntoResponse for BridgeError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        (status, axum::Json(body)).into_response()
    }
}
