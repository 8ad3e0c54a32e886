//! `GET /api/v1/events`: a websocket that pushes `Event`s (JSON text frames) to a browser tab.
//!
//! Every message is checked against the user's permissions before it is sent; the user is
//! reloaded whenever their access changes (and every `access::RECHECK`), so a disabled user,
//! a lost membership or an ended session stops the flow at once. A tab that
//! falls behind is closed with code 1013 (try again): it has missed events, so it must
//! reconnect and fetch afresh rather than show a silently stale list.

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderMap;
use axum::response::Response;
use corral_api::ErrorBody;
use corral_api::event::Event;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::WsUpgrade;
use crate::auth::{Actor, origin_allowed};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events_socket))
}

/// Upgrade to a websocket of `Event`s for the machines and nodes the user may see.
#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    responses((status = 101, description = "websocket of Event JSON messages", body = Event),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn events_socket(
    State(state): State<AppState>,
    headers: HeaderMap,
    actor: Actor,
    WsUpgrade(ws): WsUpgrade,
) -> ApiResult<Response> {
    // Browsers do not apply CORS to websockets: the Origin check is ours to make.
    if !origin_allowed(&state, &headers) {
        return Err(ApiError::BadOrigin);
    }
    let slot = state.sockets.take(actor.id)?;
    let changes = state.access.subscribe();
    let ws = ws
        .max_message_size(crate::sockets::EVENTS_MESSAGE_MAX)
        .max_frame_size(crate::sockets::EVENTS_MESSAGE_MAX);
    Ok(ws.on_upgrade(move |socket| async move {
        pump(state, actor, changes, socket).await;
        drop(slot);
    }))
}

fn visible(actor: &Actor, ev: &Event) -> bool {
    match ev {
        Event::MachineUpdated { machine } => actor.may_see(machine),
        // The tab cannot tell a removal it may see from one it may not; telling it an id it
        // never had is harmless, and ids are random.
        Event::MachineRemoved { .. } => true,
        Event::NodeUpdated { .. } => true,
        Event::Sampled { .. } => true,
        Event::TaskUpdated { task } => actor.role_in(task.tenant_id).is_some(),
    }
}

async fn pump(
    state: AppState,
    actor: Actor,
    changes: tokio::sync::broadcast::Receiver<corral_api::UserId>,
    mut socket: WebSocket,
) {
    let mut rx = state.events.subscribe();
    let close = |code: u16, reason: String| Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    // The watcher keeps `actor` fresh (roles change what is visible) and ends the socket when
    // the session or token it came with no longer stands.
    let (fresh, current) = tokio::sync::watch::channel(actor);
    let revoked = crate::access::until_revoked(&state, changes, &fresh, |_| true);
    tokio::pin!(revoked);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    let actor = current.borrow().clone();
                    if !visible(&actor, &ev) {
                        continue;
                    }
                    let ev = match ev {
                        Event::NodeUpdated { node } => Event::NodeUpdated { node: crate::app::nodes::node_view(&actor, node) },
                        other => other,
                    };
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    let _ = socket.send(close(1013, "fell behind; reconnect".into())).await;
                    return;
                }
                Err(RecvError::Closed) => {
                    let _ = socket.send(close(1001, "server shutting down".into())).await;
                    return;
                }
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Pings are answered by axum; the tab sends nothing else we need.
                Some(Ok(_)) => {}
            },
            reason = &mut revoked => {
                let _ = socket.send(close(1008, reason)).await;
                return;
            }
        }
    }
}
