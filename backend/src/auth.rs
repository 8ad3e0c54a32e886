//! Who is asking, and may they: passwords (argon2id), the session's user (`Actor`), role
//! checks, and the Origin check that keeps other sites from acting with a user's cookie.

use std::collections::HashMap;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use corral_api::machine::Machine;
use corral_api::session::{Me, Role};
use corral_api::{TenantId, UserId};
use rand::Rng;
use tower_sessions::Session;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::machines::Visibility;
use crate::store::users;

/// The session key holding the logged-in user's id.
pub const SESSION_USER_KEY: &str = "user_id";

pub fn password_hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

/// Checks a password against a stored hash; an unreadable hash never matches.
pub fn password_verify(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

/// Password checks that may run at once (each takes a core for tens of milliseconds).
pub static PASSWORD_CHECKS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Burns the same time as a real check, so "no such user" cannot be told from "wrong
/// password" by timing.
pub fn password_verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| password_hash("not-a-password").unwrap_or_default());
    let _ = password_verify(password, hash);
}

/// A random password of 20 letters and digits (~119 bits).
pub fn password_generate() -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// The logged-in user of this request, loaded fresh from the database each time so a
/// disabled user or a changed role takes effect at once.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: UserId,
    pub username: String,
    pub is_admin: bool,
    pub roles: HashMap<TenantId, Role>,
    pub me: Me,
    /// The API token the request came with (its id), if it did not come with a session.
    pub token: Option<String>,
    /// The session it came with (its id's hash), if it did.
    pub session: Option<String>,
}

impl Actor {
    pub async fn load(state: &AppState, id: UserId) -> Result<Option<Actor>, ApiError> {
        let Some(user) = users::user_by_id(&state.db, id).await? else { return Ok(None) };
        if user.disabled {
            return Ok(None);
        }
        let memberships = users::memberships_of(&state.db, id).await?;
        Ok(Some(Actor {
            id,
            username: user.username.clone(),
            is_admin: user.is_admin,
            roles: memberships.iter().map(|m| (m.tenant_id, m.role)).collect(),
            me: Me { id, username: user.username, is_admin: user.is_admin, memberships },
            token: None,
            session: None,
        }))
    }

    /// The same person loaded afresh, if the credential they came with still stands (the
    /// session was not ended, the token not revoked or expired) and they are still enabled.
    pub async fn reload(&self, state: &AppState) -> Result<Option<Actor>, ApiError> {
        let stands = match (&self.session, &self.token) {
            (Some(hash), _) => crate::store::sessions::session_user(&state.db, hash).await? == Some(self.id),
            (None, Some(token)) => crate::app::tokens::token_stands(state, token, self.id).await?,
            (None, None) => true,
        };
        if !stands {
            return Ok(None);
        }
        Ok(Actor::load(state, self.id).await?.map(|fresh| Actor {
            token: self.token.clone(),
            session: self.session.clone(),
            ..fresh
        }))
    }

    pub fn visibility(&self) -> Visibility {
        if self.is_admin {
            Visibility::All
        } else {
            Visibility::Tenants(self.roles.keys().copied().collect())
        }
    }

    /// The caller's role over a tenant's resources; global admins act as owners everywhere.
    pub fn role_in(&self, tenant: Option<TenantId>) -> Option<Role> {
        if self.is_admin {
            return Some(Role::Owner);
        }
        tenant.and_then(|t| self.roles.get(&t).copied())
    }

    pub fn may_see(&self, m: &Machine) -> bool {
        self.role_in(m.tenant_id).is_some()
    }

    /// Requires `needed` over the machine: 404 if the caller may not even see it, 403 if they
    /// may see but not do this.
    pub fn require_machine(&self, m: &Machine, needed: Role) -> Result<(), ApiError> {
        match self.role_in(m.tenant_id) {
            None => Err(ApiError::NotFound(format!("machine {}", m.id))),
            Some(r) if r < needed => Err(ApiError::Forbidden(format!(
                "your role in this tenant ({}) may not do this; it needs {}",
                r.as_str(),
                needed.as_str()
            ))),
            Some(_) => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // Already loaded by the policy middleware for this request.
        if let Some(actor) = parts.extensions.get::<Actor>() {
            return Ok(actor.clone());
        }
        // A script's token, never a session: nothing is stored, no cookie is set.
        if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let bearer = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthenticated)?;
            let (actor, read_only) = crate::app::tokens::authenticate(state, bearer.trim()).await?;
            let reads = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
            if read_only && !reads {
                return Err(ApiError::Forbidden("this token is read-only".into()));
            }
            return Ok(actor);
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| ApiError::internal(anyhow::anyhow!("session layer: {msg}")))?;
        let user: Option<UserId> = session
            .get(SESSION_USER_KEY)
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!("reading session: {e}")))?;
        let Some(user) = user else { return Err(ApiError::Unauthenticated) };
        match Actor::load(state, user).await? {
            Some(actor) => {
                Ok(Actor { session: session.id().map(|id| crate::store::sessions::id_hash(&id)), ..actor })
            }
            None => {
                // The user was removed or disabled: end the session for good.
                let _ = session.flush().await;
                Err(ApiError::Unauthenticated)
            }
        }
    }
}

/// Whether the request's `Origin` (if any) is the console's own. Requests without one come
/// from scripts, not from a browser page, and cannot ride a user's cookie cross-site.
pub fn origin_allowed(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    match &state.public_origin {
        Some(public) => origin == public,
        None => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
            origin == format!("http://{host}") || origin == format!("https://{host}")
        }
    }
}

/// Middleware: mutating requests must come from our own origin.
pub async fn origin_check(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let safe = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !safe && !origin_allowed(&state, req.headers()) {
        return ApiError::BadOrigin.into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_hashes_are_salted() {
        let h1 = password_hash("hunter2").unwrap();
        let h2 = password_hash("hunter2").unwrap();
        assert_ne!(h1, h2);
        assert!(h1.starts_with("$argon2id$"));
        assert!(password_verify("hunter2", &h1));
        assert!(!password_verify("hunter3", &h1));
        assert!(!password_verify("hunter2", "garbage"));
    }

    #[test]
    fn generated_passwords_are_long_and_differ() {
        let (a, b) = (password_generate(), password_generate());
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
    }
}
