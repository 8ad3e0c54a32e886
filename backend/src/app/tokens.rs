//! API tokens: `corral_<id>_<secret>`. The id is public (it names the token in lists and
//! logs); only the SHA-256 of the 32-byte secret is stored, so a database leak holds no
//! usable token. A token acts as its user, with that user's roles at the time of each
//! request; a read-only token may only read; a disabled user's tokens stop at once.

use base64::Engine;
use corral_api::token::{ApiToken, ApiTokenCreate, ApiTokenCreated};
use corral_api::validate;
use sha2::Digest;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::tokens;

const PREFIX: &str = "corral_";

/// Tokens one person may hold: plenty for scripts, bounded for the database.
pub const PER_USER: usize = 100;

fn sha256_hex(secret: &str) -> String {
    sha2::Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::Rng::fill(&mut rand::rngs::OsRng, &mut b[..]);
    b
}

pub async fn token_create(
    state: &AppState,
    actor: &Actor,
    req: ApiTokenCreate,
) -> Result<ApiTokenCreated, ApiError> {
    if actor.token.is_some() {
        return Err(ApiError::Forbidden("tokens cannot make tokens: log in to do that".into()));
    }
    validate::token_name(&req.name)?;
    if let Some(days) = req.expires_in_days {
        validate::token_days(days)?;
    }
    if tokens::tokens_of(&state.db, actor.id).await?.len() >= PER_USER {
        return Err(ApiError::Conflict(format!("you hold {PER_USER} tokens already: revoke some first")));
    }
    let id: String = random_bytes::<6>().iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>());
    let expires_at = req.expires_in_days.map(|d| {
        let t = time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(d));
        t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
    });
    tokens::token_insert(
        &state.db,
        &id,
        actor.id,
        &req.name,
        &sha256_hex(&secret),
        req.read_only,
        expires_at.as_deref(),
    )
    .await?;
    tracing::info!(user = %actor.username, token = %id, read_only = req.read_only, "token created");
    let info = tokens::token_by_id(&state.db, &id)
        .await?
        .map(|(t, _)| t)
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("token {id} vanished")))?;
    Ok(ApiTokenCreated { token: format!("{PREFIX}{id}_{secret}"), info })
}

pub async fn token_list(state: &AppState, actor: &Actor) -> Result<Vec<ApiToken>, ApiError> {
    Ok(tokens::tokens_of(&state.db, actor.id).await?)
}

pub async fn token_revoke(state: &AppState, actor: &Actor, id: &str) -> Result<(), ApiError> {
    if tokens::token_delete(&state.db, actor.id, id).await? {
        tracing::info!(user = %actor.username, token = %id, "token revoked");
        state.access.changed(actor.id);
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("token {id}")))
    }
}

/// Whether the token `id` of `user` still exists and has not expired.
pub async fn token_stands(state: &AppState, id: &str, user: corral_api::UserId) -> Result<bool, ApiError> {
    Ok(match tokens::token_by_id(&state.db, id).await? {
        Some((token, _)) => token.user_id == user && !expired(&token),
        None => false,
    })
}

fn expired(token: &ApiToken) -> bool {
    let Some(expires) = &token.expires_at else { return false };
    let fmt = &time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(expires, fmt).map(|t| t <= time::OffsetDateTime::now_utc()).unwrap_or(true)
}

/// The user a bearer token acts as, and whether it is read-only. Every failure is the same
/// 401, so a caller learns nothing about which tokens exist.
pub async fn authenticate(state: &AppState, bearer: &str) -> Result<(Actor, bool), ApiError> {
    let (id, secret) =
        bearer.strip_prefix(PREFIX).and_then(|rest| rest.split_once('_')).ok_or(ApiError::Unauthenticated)?;
    let (token, want) = tokens::token_by_id(&state.db, id).await?.ok_or(ApiError::Unauthenticated)?;
    if sha256_hex(secret) != want {
        return Err(ApiError::Unauthenticated);
    }
    if expired(&token) {
        return Err(ApiError::Unauthenticated);
    }
    let mut actor = Actor::load(state, token.user_id).await?.ok_or(ApiError::Unauthenticated)?;
    actor.token = Some(token.id.clone());
    if let Err(e) = tokens::token_touch(&state.db, &token.id).await {
        tracing::warn!(token = %token.id, error = %e, "recording token use");
    }
    Ok((actor, token.read_only))
}
