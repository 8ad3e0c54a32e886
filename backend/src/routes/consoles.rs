//! `/api/v1/machines/{id}/console`: a one-time ticket, then the console's websocket.
//!
//! The websocket is refused before a byte reaches the node unless the Origin is the console's
//! own, the session is valid, and the ticket is this user's for this machine and kind; the
//! ticket is burnt whatever happens. Refusals after the upgrade close the socket with a code
//! from `corral_api::console::close` and a reason the page shows.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use corral_api::console::{ConsoleKind, ConsoleTicket, ConsoleTicketRequest, SerialHello, TermSize, close};
use corral_api::machine::MachineState;
use corral_api::session::Role;
use corral_api::{ErrorBody, MachineId, paths};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{Json, Path, Query, WsUpgrade};
use crate::app::machines::machine_get;
use crate::app::on_node::client_of;
use crate::auth::{Actor, origin_allowed};
use crate::client_addr::ClientIp;
use crate::consoles::relay::{close_frame, relay};
use crate::error::{ApiError, ApiResult};
use crate::nodes::NodeError;
use crate::policy::TargetMachine;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(console_ticket)).routes(routes!(console_socket))
}

/// A one-time ticket to open the machine's VNC or serial console (operators), valid 30 s.
#[utoipa::path(post, path = "/api/v1/machines/{id}/console", tag = "consoles",
    params(("id" = MachineId, Path)), request_body = ConsoleTicketRequest,
    responses((status = 201, body = ConsoleTicket), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn console_ticket(
    State(state): State<AppState>,
    actor: Actor,
    TargetMachine(m): TargetMachine,
    Json(req): Json<ConsoleTicketRequest>,
) -> ApiResult<Response> {
    actor.require_machine(&m, Role::Operator)?;
    let id = m.id;
    if !matches!(m.state, MachineState::Running | MachineState::Paused | MachineState::Rebooting) {
        return Err(ApiError::Conflict(format!("{} is {}: start it to open its console", m.name, m.state)));
    }
    let (ticket, ttl) = state.tickets.issue(actor.id, id, req.kind);
    let expires = time::OffsetDateTime::now_utc() + ttl;
    let body = ConsoleTicket {
        ticket,
        kind: req.kind,
        expires_at: expires.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        path: paths::console_socket(id, req.kind.as_str()),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ConsoleQuery {
    /// The ticket from `POST /api/v1/machines/{id}/console`.
    ticket: String,
    /// Serial: the first byte wanted (what a reconnecting page has seen); default: as much
    /// history as the node keeps.
    #[serde(default)]
    offset: Option<u64>,
    /// Serial: take the console over from whoever has it.
    #[serde(default)]
    takeover: bool,
    /// Shell: the terminal's columns at first (1–1000, default 80); later sizes come as
    /// `{"resize": {"cols": …, "rows": …}}` text frames.
    #[serde(default)]
    #[param(minimum = 1, maximum = 1000)]
    cols: Option<u16>,
    /// Shell: the terminal's rows at first (1–500, default 24).
    #[serde(default)]
    #[param(minimum = 1, maximum = 500)]
    rows: Option<u16>,
}

impl ConsoleQuery {
    fn size(&self) -> TermSize {
        TermSize { cols: self.cols.unwrap_or(80), rows: self.rows.unwrap_or(24) }
    }
}

/// The console's websocket: binary frames both ways (RFB for `vnc`; for `serial`, a first
/// text frame `{"offset": n}` and then the line's bytes; for `shell`, a terminal's bytes).
/// The page may send `{"resize": {"cols": …, "rows": …}}` text frames; a shell takes the size,
/// the others ignore it.
#[utoipa::path(get, path = "/api/v1/machines/{id}/console/{kind}", tag = "consoles",
    params(("id" = MachineId, Path), ("kind" = ConsoleKind, Path), ConsoleQuery),
    responses((status = 101, description = "the console's websocket"), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn console_socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    actor: Actor,
    Path((id, kind)): Path<(MachineId, ConsoleKind)>,
    Query(q): Query<ConsoleQuery>,
    ClientIp(client): ClientIp,
    WsUpgrade(ws): WsUpgrade,
) -> ApiResult<Response> {
    // Browsers do not apply CORS to websockets: the Origin check is ours to make.
    if !origin_allowed(&state, &headers) {
        return Err(ApiError::BadOrigin);
    }
    if !q.size().is_sane() {
        return Err(ApiError::Validation {
            field: "cols".into(),
            message: "1–1000 columns and 1–500 rows".into(),
        });
    }
    let slot = state.sockets.take(actor.id)?;
    let changes = state.access.subscribe();
    let max = crate::sockets::CONSOLE_MESSAGE_MAX;
    let ws = ws.max_message_size(max).max_frame_size(max);
    let ws = if kind == ConsoleKind::Vnc { ws.protocols(["binary"]) } else { ws };
    let source = client.map(|ip| ip.to_string());
    Ok(ws.on_upgrade(move |socket| async move {
        open(state, Session { actor, changes, source }, id, kind, q, socket).await;
        drop(slot);
    }))
}

/// Who opened a console, as the upgrade found them.
struct Session {
    actor: Actor,
    /// Subscribed before the upgrade, so no revocation in between is missed.
    changes: tokio::sync::broadcast::Receiver<corral_api::UserId>,
    source: Option<String>,
}

async fn open(
    state: AppState,
    session: Session,
    id: MachineId,
    kind: ConsoleKind,
    q: ConsoleQuery,
    mut ws: WebSocket,
) {
    let Session { actor, changes, source } = session;
    let refuse = |code: u16, reason: String| close_frame(code, reason);
    if let Err(e) = state.tickets.redeem(&q.ticket, actor.id, id, kind) {
        let _ = ws.send(refuse(close::TICKET_INVALID, e.to_string())).await;
        return;
    }
    let m = match machine_get(&state, &actor, id).await {
        Ok(m) => m,
        Err(_) => {
            let _ = ws.send(refuse(close::TICKET_INVALID, "no such machine".into())).await;
            return;
        }
    };
    let client = match client_of(&state, m.node_id, &m.node_name) {
        Ok(c) => c,
        Err(e) => {
            let _ = ws.send(refuse(close::NODE_UNREACHABLE, e.to_string())).await;
            return;
        }
    };
    let claim = match kind {
        // A screen is shared, and every shell is its viewer's own.
        ConsoleKind::Vnc | ConsoleKind::Shell => None,
        ConsoleKind::Serial => match state.serial_writers.claim(id, &actor.username, q.takeover) {
            Ok(c) => Some(c),
            Err(holder) => {
                let reason = format!("{holder} is using the serial console; take it over to type");
                let _ = ws.send(refuse(close::IN_USE, reason)).await;
                return;
            }
        },
    };
    let opened = match kind {
        ConsoleKind::Vnc => client.vnc_stream(id).await.map(|s| (None, s)),
        ConsoleKind::Serial => {
            client.serial_stream(id, q.offset.unwrap_or(0)).await.map(|(o, s)| (Some(o), s))
        }
        ConsoleKind::Shell => client.shell_stream(id, q.size()).await.map(|s| (None, s)),
    };
    let (offset, stream) = match opened {
        Ok(o) => o,
        Err(NodeError::Api { body, .. }) => {
            let _ = ws.send(refuse(close::MACHINE_STOPPED, body.message)).await;
            return;
        }
        Err(e) => {
            let _ = ws.send(refuse(close::NODE_UNREACHABLE, format!("node {}: {e}", m.node_name))).await;
            return;
        }
    };
    tracing::info!(machine = %id, user = %actor.username, kind = kind.as_str(), "console opened");
    let entry = crate::store::audit::NewEntry {
        user_id: Some(actor.id),
        username: Some(actor.username.clone()),
        token_id: actor.token.clone(),
        tenant_id: m.tenant_id,
        action: "console.open".into(),
        target: Some(format!("{}:{id}", kind.as_str())),
        machine_id: Some(id),
        result: "ok".into(),
        source,
    };
    crate::audit::record(&state, entry).await;
    if let Some(offset) = offset {
        let hello = serde_json::to_string(&SerialHello { offset }).unwrap_or_default();
        if ws.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
    }
    // The claim lives as long as the relay: dropping it frees the console.
    let mut claim = claim;
    let kicked = claim.as_mut().and_then(|c| c.kicked.take());
    let (fresh, _) = tokio::sync::watch::channel(actor.clone());
    let tenant = m.tenant_id;
    let stop = async {
        let taken = async move {
            match kicked {
                Some(rx) => rx.await.unwrap_or_else(|_| "taken over".into()),
                None => std::future::pending().await,
            }
        };
        // The rule of the ticket route, held for as long as the console is open.
        let may_use = |a: &Actor| a.role_in(tenant).is_some_and(|r| r >= Role::Operator);
        tokio::select! {
            reason = taken => (close::TAKEN_OVER, reason),
            reason = crate::access::until_revoked(&state, changes, &fresh, may_use) => (close::ACCESS_REVOKED, reason),
        }
    };
    relay(ws, stream, kind == ConsoleKind::Shell, stop).await;
    drop(claim);
    tracing::info!(machine = %id, user = %actor.username, kind = kind.as_str(), "console closed");
}
