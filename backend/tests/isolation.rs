//! What one tenant does stays out of another's view: the task list, the events socket
//! (machines and tasks) and the audit log, each checked with a second tenant's owner who is
//! busy at the same time, and with a check that the view is alive (so an empty one proves
//! something).

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use corral_api::session::Role;
use corral_testkit::socket::{self, Opener};
use futures::StreamExt;
use hyper::StatusCode;
use tokio_tungstenite::tungstenite::Message;

async fn create(app: &TestApp, cookie: &str, name: &str) -> String {
    let body = serde_json::json!({"name": name, "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
    let r = app.call("POST", "/api/v1/machines", Some(cookie), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn tasks_and_the_audit_log_show_only_the_callers_tenants() {
    let app = TestApp::start().await;
    let (olive, a) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (sam, b) = app.user_in_new_tenant("sam", Role::Owner).await;
    let (hers, his) = (create(&app, &olive, "hers").await, create(&app, &sam, "his").await);
    app.wait_state(&olive, &hers, "stopped").await;
    app.wait_state(&sam, &his, "stopped").await;

    let tasks = app.call("GET", "/api/v1/tasks", Some(&olive), None).await.body;
    let tasks = tasks.as_array().unwrap();
    assert!(tasks.iter().any(|t| t["machine_id"] == hers.as_str()), "her own create is listed: {tasks:?}");
    assert!(tasks.iter().all(|t| t["tenant_id"] == a.to_string()), "only her tenant's tasks: {tasks:?}");

    // Sam owns a tenant too, but not hers: her entries are not his to read.
    let trail = app.call("GET", "/api/v1/audit", Some(&sam), None).await.body;
    let trail = trail.as_array().unwrap();
    assert!(trail.iter().any(|e| e["machine_id"] == his.as_str()), "his own create is there: {trail:?}");
    assert!(trail.iter().all(|e| e["tenant_id"] == b.to_string()), "only his tenant's entries: {trail:?}");
    let r = app.call("GET", &format!("/api/v1/audit?tenant_id={a}"), Some(&sam), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.call("GET", &format!("/api/v1/audit?machine_id={hers}"), Some(&sam), None).await;
    assert_eq!((r.status, r.body.as_array().map(Vec::len)), (StatusCode::OK, Some(0)));
}

#[tokio::test]
async fn the_events_socket_carries_only_the_callers_machines_and_tasks() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let origin = format!("http://{host}");
    let how = Opener { cookie: Some(&olive), origin: Some(&origin), ..Opener::default() };
    let mut ws = socket::open(&format!("ws://{host}/api/v1/events"), how).await.expect("the events socket");

    // Sam is busy first; then Olive, whose own events prove the socket is alive.
    let his = create(&app, &sam, "his").await;
    app.wait_state(&sam, &his, "stopped").await;
    let hers = create(&app, &olive, "hers").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen_hers = false;
    while !seen_hers {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, ws.next()).await;
        let Ok(Some(Ok(Message::Text(text)))) = msg else {
            panic!("no event about her own machine within 10 s (last: {msg:?})");
        };
        assert!(!text.contains(&his), "an event about another tenant's machine or task: {text}");
        seen_hers |= text.contains(&hers);
    }
}
