//! Revocation reaches open connections (issue 10, finding 6): a console open on a sim
//! machine's serial line closes within a second of each way its user's access can end, and
//! so does an events socket; a password change ends the user's other sessions.

mod common;

use std::time::{Duration, Instant};

use common::TestApp;
use corral_api::console::close;
use corral_api::session::Role;
use corral_testkit::people::PASSWORD;
use corral_testkit::serial::Serial;
use corral_testkit::socket::{self, Opener, Socket};
use futures::{SinkExt, StreamExt};
use hyper::StatusCode;
use tokio_tungstenite::tungstenite::Message;

/// How a request authenticates: a session cookie or a bearer token.
enum Cred<'a> {
    Cookie(&'a str),
    Bearer(&'a str),
}

impl Cred<'_> {
    fn header(&self) -> (&'static str, String) {
        match self {
            Cred::Cookie(c) => ("cookie", c.to_string()),
            Cred::Bearer(t) => ("authorization", format!("Bearer {t}")),
        }
    }
}

/// Opens `path` as `cred`, from the console's own origin; a refused upgrade is its status.
async fn try_open(host: &str, path: &str, cred: &Cred<'_>) -> Result<Socket, u16> {
    let origin = format!("http://{host}");
    let how = match cred {
        Cred::Cookie(c) => Opener { cookie: Some(c), origin: Some(&origin), ..Opener::default() },
        Cred::Bearer(t) => Opener { bearer: Some(t), origin: Some(&origin), ..Opener::default() },
    };
    socket::open(&format!("ws://{host}{path}"), how).await
}

async fn open(host: &str, path: &str, cred: &Cred<'_>) -> Socket {
    try_open(host, path, cred).await.unwrap_or_else(|status| panic!("{path} refused: {status}"))
}

/// Opens `machine`'s serial console as `cred` and reads until the guest's prompt, so the
/// relay is known to be up.
async fn serial_console(app: &TestApp, host: &str, machine: &str, cred: &Cred<'_>) -> Socket {
    let (k, v) = cred.header();
    let r = app
        .call_with(
            "POST",
            &format!("/api/v1/machines/{machine}/console"),
            None,
            Some(r#"{"kind":"serial"}"#),
            &[(k, &v)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let path = format!("{}?ticket={}", r.body["path"].as_str().unwrap(), r.body["ticket"].as_str().unwrap());
    let mut ws = open(host, &path, cred).await;
    let offset = socket::hello(&mut ws).await;
    let mut serial = Serial::new(ws, offset);
    serial.expect("# ", Duration::from_secs(5)).await;
    serial.into_line()
}

/// Waits for the socket's close frame: (code, reason, time it took since `since`).
async fn closed(ws: &mut Socket, since: Instant) -> (u16, String, Duration) {
    let f = socket::closed(ws, Duration::from_secs(5)).await;
    (f.code.into(), f.reason.to_string(), since.elapsed())
}

/// An operator in `tenant`; returns (user id, cookie).
async fn operator(app: &TestApp, name: &str, tenant: corral_api::TenantId) -> (String, String) {
    let (cookie, user) = app.user_in(tenant, name, Role::Operator).await;
    (user.to_string(), cookie)
}

fn assert_revoked((code, reason, took): (u16, String, Duration), case: &str) {
    assert_eq!(code, close::ACCESS_REVOKED, "{case}: {reason}");
    assert!(took < Duration::from_secs(1), "{case}: closed after {took:?}");
}

#[tokio::test]
async fn a_console_closes_within_a_second_of_each_revocation() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let admin = app.login_admin().await;
    let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let members = format!("/api/v1/tenants/{tenant}/members");

    // Disabled by an admin.
    let m = app.running_machine(&owner, "m1").await;
    let (id, cookie) = operator(&app, "dora", tenant).await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&cookie)).await;
    let t = Instant::now();
    let r =
        app.call("PATCH", &format!("/api/v1/users/{id}"), Some(&admin), Some(r#"{"disabled":true}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_revoked(closed(&mut ws, t).await, "disabled");

    // Deleted by an admin: the console closes; the audit log keeps the user's name.
    let m = app.running_machine(&owner, "m0").await;
    let (id, cookie) = operator(&app, "gone", tenant).await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&cookie)).await;
    let t = Instant::now();
    let r = app.call("DELETE", &format!("/api/v1/users/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_revoked(closed(&mut ws, t).await, "deleted");
    assert_eq!(
        app.call("GET", "/api/v1/session", Some(&cookie), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = app.call("GET", &format!("/api/v1/audit?user_id={id}"), Some(&admin), None).await;
    let actions: Vec<&str> = r.body.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"console.create"), "{actions:?}");
    assert!(r.body.as_array().unwrap().iter().all(|e| e["username"] == "gone"), "{:?}", r.body);

    // Removed from the tenant.
    let m = app.running_machine(&owner, "m2").await;
    let (id, cookie) = operator(&app, "remy", tenant).await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&cookie)).await;
    let t = Instant::now();
    let r = app.call("DELETE", &format!("{members}/{id}"), Some(&owner), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_revoked(closed(&mut ws, t).await, "removed");

    // Demoted to viewer.
    let m = app.running_machine(&owner, "m3").await;
    let (id, cookie) = operator(&app, "dean", tenant).await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&cookie)).await;
    let t = Instant::now();
    let r = app.call("PUT", &format!("{members}/{id}"), Some(&owner), Some(r#"{"role":"viewer"}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_revoked(closed(&mut ws, t).await, "demoted");

    // Logged out.
    let m = app.running_machine(&owner, "m4").await;
    let (_, cookie) = operator(&app, "lou", tenant).await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&cookie)).await;
    let t = Instant::now();
    assert_eq!(
        app.call("DELETE", "/api/v1/session", Some(&cookie), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_revoked(closed(&mut ws, t).await, "logged out");

    // Its token revoked.
    let m = app.running_machine(&owner, "m5").await;
    let (_, cookie) = operator(&app, "toby", tenant).await;
    let r = app.call("POST", "/api/v1/tokens", Some(&cookie), Some(r#"{"name":"script"}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (token, token_id) =
        (r.body["token"].as_str().unwrap().to_string(), r.body["info"]["id"].as_str().unwrap().to_string());
    let mut ws = serial_console(&app, &host, &m, &Cred::Bearer(&token)).await;
    let t = Instant::now();
    let r = app.call("DELETE", &format!("/api/v1/tokens/{token_id}"), Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_revoked(closed(&mut ws, t).await, "token revoked");

    // A password change ends the user's other sessions, and their consoles.
    let m = app.running_machine(&owner, "m6").await;
    let (_, here) = operator(&app, "pat", tenant).await;
    let elsewhere = app.login("pat", PASSWORD).await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&elsewhere)).await;
    let t = Instant::now();
    let change = serde_json::json!({"current": PASSWORD, "new": "a-new-password-1"}).to_string();
    let r = app.call("POST", "/api/v1/session/password", Some(&here), Some(&change)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_revoked(closed(&mut ws, t).await, "password changed elsewhere");
    assert_eq!(
        app.call("GET", "/api/v1/session", Some(&elsewhere), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.call("GET", "/api/v1/session", Some(&here), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_events_socket_closes_when_its_session_ends() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let (_, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (_, cookie) = operator(&app, "ed", tenant).await;
    let mut ws = open(&host, "/api/v1/events", &Cred::Cookie(&cookie)).await;
    // The socket works: a ping is answered.
    ws.send(Message::Ping(vec![1].into())).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap() {
            Some(Ok(Message::Pong(_))) => break,
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
    let t = Instant::now();
    assert_eq!(
        app.call("DELETE", "/api/v1/session", Some(&cookie), None).await.status,
        StatusCode::NO_CONTENT
    );
    let (code, reason, took) = closed(&mut ws, t).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(took < Duration::from_secs(1), "closed after {took:?}");
}

#[tokio::test]
async fn a_person_holds_a_bounded_number_of_sockets_with_bounded_messages() {
    let app = TestApp::start().await;
    let host = app.serve().await;
    let (owner, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (_, cookie) = operator(&app, "sol", tenant).await;
    let mut held = Vec::new();
    for _ in 0..corral::sockets::PER_USER {
        held.push(open(&host, "/api/v1/events", &Cred::Cookie(&cookie)).await);
    }
    let one_too_many = try_open(&host, "/api/v1/events", &Cred::Cookie(&cookie)).await;
    assert_eq!(one_too_many.err(), Some(429), "one socket too many is refused");
    held.pop();
    held.push(open(&host, "/api/v1/events", &Cred::Cookie(&cookie)).await);
    drop(held);

    // A message past the console's cap ends the console instead of being read whole.
    let m = app.running_machine(&owner, "big").await;
    let mut ws = serial_console(&app, &host, &m, &Cred::Cookie(&owner)).await;
    let _ = ws.send(Message::Binary(vec![b'x'; corral::sockets::CONSOLE_MESSAGE_MAX + 1].into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => continue,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the console stayed open after an oversized message");
}
