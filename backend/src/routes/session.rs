//! `/api/v1/session`: log in, see who you are, log out.

use axum::extract::State;
use axum::http::StatusCode;
use corral_api::ErrorBody;
use corral_api::session::{LoginRequest, Me};
use tower_sessions::Session;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::auth::{self, Actor, SESSION_USER_KEY};
use crate::client_addr::ClientIp;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::users;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(session_get, session_create, session_delete))
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/v1/session", tag = "session",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn session_get(actor: Actor) -> Json<Me> {
    Json(actor.me)
}

/// Log in. The session id is replaced on success, so an id planted before login is useless.
#[utoipa::path(post, path = "/api/v1/session", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many failed logins; Retry-After says when to try again")))]
async fn session_create(
    State(state): State<AppState>,
    session: Session,
    ClientIp(client): ClientIp,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Json<Me>> {
    // No account has a longer name or password: refused before anything is counted or stored.
    corral_api::validate::login(&req)?;
    let attempt = crate::store::audit::NewEntry {
        username: Some(req.username.clone()),
        action: "session.login".into(),
        target: Some(format!("user:{}", req.username)),
        source: client.map(|ip| ip.to_string()),
        ..Default::default()
    };
    if let Err((message, retry_after_secs)) = state.login_guard.attempt(&req.username, client) {
        // Counted, not stored: a throttled stranger costs the audit log nothing more.
        let e = ApiError::TooManyAttempts { message, retry_after_secs };
        state.refused.note(&e);
        return Err(e);
    }
    let user = users::user_by_username(&state.db, &req.username).await?;
    // argon2 takes tens of milliseconds of CPU: off the async workers. Every path pays it, so
    // timing tells nothing about whether the user exists or is disabled.
    let hash = user.as_ref().map(|u| u.password_hash.clone());
    // argon2 takes a core for tens of milliseconds: a few at a time, so a burst of logins
    // cannot take every core (and the real owner's login with them).
    let _permit = auth::PASSWORD_CHECKS.acquire().await.map_err(ApiError::internal)?;
    let ok = tokio::task::spawn_blocking(move || match hash {
        Some(hash) => auth::password_verify(&req.password, &hash),
        None => {
            auth::password_verify_dummy(&req.password);
            false
        }
    })
    .await
    .map_err(ApiError::internal)?;
    let user = match user {
        Some(u) if ok && !u.disabled => u,
        other => {
            let entry = crate::store::audit::NewEntry {
                user_id: other.map(|u| u.id),
                result: "401 login_failed".into(),
                ..attempt
            };
            crate::audit::record(&state, entry).await;
            return Err(ApiError::LoginFailed);
        }
    };
    let session_err = |e: tower_sessions::session::Error| ApiError::internal(anyhow::anyhow!("session: {e}"));
    session.cycle_id().await.map_err(session_err)?;
    session.insert(SESSION_USER_KEY, user.id).await.map_err(session_err)?;
    let actor = Actor::load(&state, user.id).await?.ok_or(ApiError::LoginFailed)?;
    tracing::info!(user = %actor.username, "login");
    state.login_guard.succeeded(&req.username, client);
    let entry = crate::store::audit::NewEntry { user_id: Some(actor.id), result: "ok".into(), ..attempt };
    crate::audit::record(&state, entry).await;
    Ok(Json(actor.me))
}

/// Log out: the session ends on the server, not only in the browser.
#[utoipa::path(delete, path = "/api/v1/session", tag = "session",
    responses((status = 204, description = "logged out")))]
async fn session_delete(State(state): State<AppState>, session: Session) -> ApiResult<StatusCode> {
    let session_err = |e: tower_sessions::session::Error| ApiError::internal(anyhow::anyhow!("session: {e}"));
    let user: Option<corral_api::UserId> = session.get(SESSION_USER_KEY).await.map_err(session_err)?;
    session.flush().await.map_err(session_err)?;
    // Consoles and event sockets opened with this session close now.
    if let Some(user) = user {
        state.access.changed(user);
    }
    Ok(StatusCode::NO_CONTENT)
}
