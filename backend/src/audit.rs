//! The audit trail: every mutation through the API is recorded by the policy gate (who,
//! tenant, action, target, result, time, source address) with what the gate itself loaded,
//! so the trail names the same machine and tenant the handler acted on. Logins, failed
//! logins and console openings are recorded where they happen. Recording never fails a
//! request: a database error is logged instead.
//!
//! What a stranger can make the trail store is bounded: requests refused for want of a
//! login are only counted ([`Refused`]) and summed up in the log now and then; every field
//! of an entry is clipped to a few dozen characters (`store::audit::append`); entries older
//! than the retention period are pruned.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::{Method, StatusCode};
use axum::response::Response;
use corral_api::{ErrorCode, MachineId, TenantId};

use crate::error::ApiError;
use crate::policy::{Authorized, Need};
use crate::state::AppState;
use crate::store::audit::{self, NewEntry};

/// What a create made, put in its response's extensions by the handler so the trail can
/// name the new machine and its tenant (the request's path names neither).
#[derive(Clone, Copy, Debug)]
pub struct Made {
    pub machine_id: MachineId,
    pub tenant_id: Option<TenantId>,
}

/// Requests refused because they came without a valid login: counted, never stored.
#[derive(Clone, Default)]
pub struct Refused(Arc<AtomicU64>);

impl Refused {
    pub fn note(&self, why: &ApiError) {
        self.0.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(error = %why, "refused a request without a valid login");
    }

    /// The count since the last call.
    pub fn take(&self) -> u64 {
        self.0.swap(0, Ordering::Relaxed)
    }
}

/// How a call ended, as the trail records it: read off the response's head (the error code
/// and what a create made travel in its extensions), never its body.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    status: StatusCode,
    code: Option<ErrorCode>,
    made: Option<Made>,
}

impl Outcome {
    pub fn of(resp: &Response) -> Self {
        Self {
            status: resp.status(),
            code: resp.extensions().get::<ErrorCode>().copied(),
            made: resp.extensions().get::<Made>().copied(),
        }
    }
}

/// Records a call the gate admitted or refused (only mutations of logged-in callers: reads
/// change nothing, and public routes record themselves).
pub async fn record_call(state: &AppState, source: Option<String>, call: &Authorized, outcome: Outcome) {
    let method = call.rule.method;
    let mutates = method != Method::GET.as_str() && method != Method::HEAD.as_str();
    if !mutates || call.rule.need == Need::Public {
        return;
    }
    let Outcome { status, code, made } = outcome;
    let result = if status.is_success() {
        "ok".to_string()
    } else {
        format!("{} {}", status.as_u16(), code.map(|c| c.as_str()).unwrap_or_default()).trim().to_string()
    };
    let actor = call.actor.as_ref();
    let made = made.as_ref();
    let machine_id = made.map(|m| m.machine_id).or_else(|| call.params.machine());
    let entry = NewEntry {
        user_id: actor.map(|a| a.id),
        username: actor.map(|a| a.username.clone()),
        token_id: actor.and_then(|a| a.token.clone()),
        tenant_id: made.and_then(|m| m.tenant_id).or(call.tenant),
        action: call.rule.action.to_string(),
        target: match made {
            Some(m) => Some(format!("machine:{}", m.machine_id)),
            None => call.params.target(),
        },
        machine_id,
        result,
        source,
    };
    record(state, entry).await;
}

/// Records something that is not a plain mutation (a login, a console opening).
pub async fn record(state: &AppState, entry: NewEntry) {
    if let Err(e) = audit::append(&state.db, &entry).await {
        tracing::error!(error = %e, action = %entry.action, "recording an audit entry");
    }
}
