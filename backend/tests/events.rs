//! The events websocket over a real TCP listener: a user sees changes to their own machines
//! and not to other tenants'; a session is required and the Origin must be ours.

mod common;

use std::time::Duration;

use common::TestApp;
use corral_api::event::Event;
use corral_api::session::Role;
use corral_testkit::socket::{self, Opener, Socket};
use futures::StreamExt;
use tokio_tungstenite::tungstenite::Message;

async fn open(host: &str, cookie: Option<&str>, origin: &str) -> Result<Socket, u16> {
    socket::open(
        &format!("ws://{host}/api/v1/events"),
        Opener { cookie, origin: Some(origin), ..Opener::default() },
    )
    .await
}

/// Machine events received within `window`, as (name, state).
async fn machine_events(ws: &mut Socket, window: Duration) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if let Message::Text(t) = msg
            && let Ok(Event::MachineUpdated { machine }) = serde_json::from_str::<Event>(&t)
        {
            seen.push((machine.name, machine.state.as_str().to_string()));
        }
    }
    seen
}

#[tokio::test]
async fn users_see_their_machines_change_and_nothing_of_others() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let origin = format!("http://{host}");
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let mut olive_ws = open(&host, Some(&olive), &origin).await.unwrap();
    let mut sam_ws = open(&host, Some(&sam), &origin).await.unwrap();

    let body =
        serde_json::json!({ "name": "olives-vm", "vcpus": 1, "memory_mib": 128, "disk_gib": 1 }).to_string();
    let r = app.call("POST", "/api/v1/machines", Some(&olive), Some(&body)).await;
    assert_eq!(r.status, axum::http::StatusCode::CREATED);

    let seen = machine_events(&mut olive_ws, Duration::from_millis(800)).await;
    assert!(seen.contains(&("olives-vm".into(), "stopped".into())), "{seen:?}");
    // Sam's socket is alive (his own machine shows up on it) and carried nothing of Olive's
    // before it: an empty window on a dead socket would prove nothing.
    let body =
        serde_json::json!({ "name": "sams-vm", "vcpus": 1, "memory_mib": 128, "disk_gib": 1 }).to_string();
    assert_eq!(
        app.call("POST", "/api/v1/machines", Some(&sam), Some(&body)).await.status,
        axum::http::StatusCode::CREATED
    );
    let seen = machine_events(&mut sam_ws, Duration::from_millis(1500)).await;
    assert!(seen.contains(&("sams-vm".into(), "stopped".into())), "sam's own machine: {seen:?}");
    assert!(seen.iter().all(|(name, _)| name == "sams-vm"), "sam saw {seen:?}");
}

#[tokio::test]
async fn the_socket_needs_a_session_and_our_origin() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let admin = app.login_admin().await;
    assert_eq!(open(&host, None, &format!("http://{host}")).await.err(), Some(401));
    assert_eq!(open(&host, Some(&admin), "http://evil.example").await.err(), Some(403));
    assert!(open(&host, Some(&admin), &format!("http://{host}")).await.is_ok());
}
