//! `GET /api/v1/events`: a websocket that pushes `Event`s (JSON text frames) to a browser tab.
//!
//! Every message is checked against the user's permissions before it is sent; the user is
//! reloaded every `RECHECK` so a disabled user or a lost membership stops the flow. A tab that
//! falls behind is closed with code 1013 (try again): it has missed events, so it must
//! reconnect and fetch afresh rather than show a silently stale list.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use corral_api::ErrorBody;
use corral_api::event::Event;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Actor, origin_allowed};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

const RECHECK: Duration = Duration::from_secs(30);

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
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    // Browsers do not apply CORS to websockets: the Origin check is ours to make.
    if !origin_allowed(&state, &headers) {
        return Err(ApiError::BadOrigin);
    }
    Ok(ws.on_upgrade(move |socket| pump(state, actor, socket)))
}

fn visible(actor: &Actor, ev: &Event) -> bool {
    match ev {
        Event::MachineUpdated { machine } => actor.may_see(machine),
        // The tab cannot tell a removal it may see from one it may not; telling it an id it
        // never had is harmless, and ids are random.
        Event::MachineRemoved { .. } => true,
        Event::NodeUpdated { .. } => true,
        Event::TaskUpdated { task } => actor.role_in(task.tenant_id).is_some(),
    }
}

async fn pump(state: AppState, mut actor: Actor, mut socket: WebSocket) {
    let mut rx = state.events.subscribe();
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.reset();
    let close =
        |code: u16, reason: &'static str| Message::Close(Some(CloseFrame { code, reason: reason.into() }));
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) if visible(&actor, &ev) => {
                    let ev = match ev {
                        Event::NodeUpdated { node } => Event::NodeUpdated { node: crate::app::nodes::node_view(&actor, node) },
                        other => other,
                    };
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    let _ = socket.send(close(1013, "fell behind; reconnect")).await;
                    return;
                }
                Err(RecvError::Closed) => {
                    let _ = socket.send(close(1001, "server shutting down")).await;
                    return;
                }
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Pings are answered by axum; the tab sends nothing else we need.
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => match Actor::load(&state, actor.id).await {
                Ok(Some(fresh)) => actor = fresh,
                Ok(None) => {
                    let _ = socket.send(close(1008, "session ended")).await;
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "rechecking events user"),
            },
        }
    }
}
