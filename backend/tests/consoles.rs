//! Console tickets and the console websocket's refusals, over a real TCP listener. The sim
//! node has serial consoles but no screens, so a VNC ticket that gets through is seen closing
//! with the node's refusal (4002), and one that does not with "ticket invalid" (4001).

mod common;

use std::time::Duration;

use common::TestApp;
use corral_api::console::close;
use corral_api::session::Role;
use corral_testkit::socket::{self, Opener};
use hyper::StatusCode;

/// Opens a console websocket and returns how it was closed (code, reason), or the HTTP
/// status that refused the upgrade.
async fn close_of(host: &str, path: &str, cookie: Option<&str>, origin: &str) -> Result<(u16, String), u16> {
    let how = Opener { cookie, origin: Some(origin), ..Opener::default() };
    let mut ws = socket::open(&format!("ws://{host}{path}"), how).await?;
    let frame = socket::closed(&mut ws, Duration::from_secs(10)).await;
    Ok((frame.code.into(), frame.reason.to_string()))
}

async fn ticket(app: &TestApp, cookie: &str, id: &str, kind: &str) -> (String, String) {
    let r = app
        .call(
            "POST",
            &format!("/api/v1/machines/{id}/console"),
            Some(cookie),
            Some(&format!(r#"{{"kind":"{kind}"}}"#)),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let path = r.body["path"].as_str().unwrap().to_string();
    assert_eq!(path, format!("/api/v1/machines/{id}/console/{kind}"));
    (r.body["ticket"].as_str().unwrap().to_string(), path)
}

#[tokio::test]
async fn tickets_are_for_operators_of_running_machines() {
    let app = TestApp::start().await;
    let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (stranger, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let (viewer, _) = app.user_in(tenant, "vic", Role::Viewer).await;
    let id = app.running_machine(&owner, "vm").await;
    let path = format!("/api/v1/machines/{id}/console");
    let vnc = Some(r#"{"kind":"vnc"}"#);
    assert_eq!(app.call("POST", &path, Some(&viewer), vnc).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call("POST", &path, Some(&stranger), vnc).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call("POST", &path, None, vnc).await.status, StatusCode::UNAUTHORIZED);
    let r = app.call("POST", &path, Some(&owner), Some(r#"{"kind":"telnet"}"#)).await;
    assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{:?}", r.body);
    let r = app.call("POST", &path, Some(&owner), vnc).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["ticket"].as_str().unwrap().len(), 43, "32 bytes, base64url");

    app.call("POST", &format!("/api/v1/machines/{id}/force-stop"), Some(&owner), None).await;
    app.wait_state(&owner, &id, "stopped").await;
    let r = app.call("POST", &path, Some(&owner), vnc).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "{:?}", r.body);
}

#[tokio::test]
async fn the_websocket_refuses_every_wrong_ticket_before_the_node() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let origin = format!("http://{host}");
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let a = app.running_machine(&olive, "a").await;
    let b = app.running_machine(&olive, "b").await;
    let sams = app.running_machine(&sam, "s").await;

    // A good ticket reaches the node (the sim has no screens: it says so).
    let (t, path) = ticket(&app, &olive, &a, "vnc").await;
    let url = format!("{path}?ticket={t}");
    let (code, reason) = close_of(&host, &url, Some(&olive), &origin).await.unwrap();
    assert_eq!(code, close::MACHINE_STOPPED, "{reason}");
    assert!(reason.contains("no graphical console"), "{reason}");
    // Used once: never again.
    let (code, reason) = close_of(&host, &url, Some(&olive), &origin).await.unwrap();
    assert_eq!((code, reason.as_str()), (close::TICKET_INVALID, "unknown or already used ticket"));

    let refused = |code: u16, reason: &str| code == close::TICKET_INVALID && !reason.is_empty();
    // Another user's ticket, for another machine, for another kind, made up.
    // Another tenant's machine does not exist for olive: refused before the upgrade.
    let (t, _) = ticket(&app, &sam, &sams, "serial").await;
    let r =
        close_of(&host, &format!("/api/v1/machines/{sams}/console/serial?ticket={t}"), Some(&olive), &origin)
            .await;
    assert_eq!(r, Err(404));
    let (t, _) = ticket(&app, &olive, &a, "vnc").await;
    let (code, reason) =
        close_of(&host, &format!("/api/v1/machines/{b}/console/vnc?ticket={t}"), Some(&olive), &origin)
            .await
            .unwrap();
    assert!(refused(code, &reason) && reason.contains("another"), "{code} {reason}");
    let (t, _) = ticket(&app, &olive, &a, "vnc").await;
    let (code, reason) =
        close_of(&host, &format!("/api/v1/machines/{a}/console/serial?ticket={t}"), Some(&olive), &origin)
            .await
            .unwrap();
    assert!(refused(code, &reason), "{code} {reason}");
    let (code, _) =
        close_of(&host, &format!("/api/v1/machines/{a}/console/vnc?ticket=made-up"), Some(&olive), &origin)
            .await
            .unwrap();
    assert_eq!(code, close::TICKET_INVALID);

    // No session, or another origin: refused before the upgrade, and the ticket is not even read.
    let (t, path) = ticket(&app, &olive, &a, "vnc").await;
    let url = format!("{path}?ticket={t}");
    assert_eq!(close_of(&host, &url, None, &origin).await, Err(401));
    assert_eq!(close_of(&host, &url, Some(&olive), "http://evil.example").await, Err(403));
    let (code, _) = close_of(&host, &url, Some(&olive), &origin).await.unwrap();
    assert_eq!(code, close::MACHINE_STOPPED, "still good after the refusals above");
}
