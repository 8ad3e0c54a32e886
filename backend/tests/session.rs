//! Logging in and out through the router: wrong passwords, cookies, id cycling, logout.

mod common;

use axum::http::StatusCode;
use common::{TestApp, session_cookie};
use corral_testkit::people::PASSWORD;

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_clear_401() {
    let app = TestApp::start().await;
    for (user, pw) in [("admin", "wrong"), ("nobody", "wrong")] {
        let body = serde_json::json!({ "username": user, "password": pw }).to_string();
        let r = app.call("POST", "/api/v1/session", None, Some(&body)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert_eq!(r.code(), "login_failed");
        assert_eq!(r.body["message"], "wrong username or password");
        assert!(session_cookie(&r.headers).is_none(), "no session for a failed login");
    }
}

#[tokio::test]
async fn session_cookie_is_http_only_and_strict() {
    let app = TestApp::start().await;
    let body = serde_json::json!({ "username": "admin", "password": app.admin_password }).to_string();
    let r = app.call("POST", "/api/v1/session", None, Some(&body)).await;
    let raw = r.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
    assert!(raw.contains("HttpOnly"), "{raw}");
    assert!(raw.contains("SameSite=Strict"), "{raw}");
    assert_eq!(r.body["username"], "admin");
    assert_eq!(r.body["is_admin"], true);
}

#[tokio::test]
async fn me_needs_a_session_and_logout_ends_it_on_the_server() {
    let app = TestApp::start().await;
    let r = app.call("GET", "/api/v1/session", None, None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"));

    let cookie = app.login_admin().await;
    let r = app.call("GET", "/api/v1/session", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["memberships"][0]["tenant_name"], "default");

    let r = app.call("DELETE", "/api/v1/session", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    // The same cookie, replayed after logout, is worth nothing.
    let r = app.call("GET", "/api/v1/session", Some(&cookie), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_cycles_the_session_id() {
    let app = TestApp::start().await;
    let first = app.login_admin().await;
    let body = serde_json::json!({ "username": "admin", "password": app.admin_password }).to_string();
    let r = app.call("POST", "/api/v1/session", Some(&first), Some(&body)).await;
    let second = session_cookie(&r.headers).expect("a new id");
    assert_ne!(first, second);
    let r = app.call("GET", "/api/v1/session", Some(&first), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "the old id no longer works");
    let r = app.call("GET", "/api/v1/session", Some(&second), None).await;
    assert_eq!(r.status, StatusCode::OK);
}

#[tokio::test]
async fn malformed_login_bodies_get_400() {
    let app = TestApp::start().await;
    for body in ["{", r#"{"username":"admin"}"#, r#"{"username":"admin","password":"x","otp":1}"#] {
        let r = app.call("POST", "/api/v1/session", None, Some(body)).await;
        assert_eq!((r.status, r.code()), (StatusCode::BAD_REQUEST, "invalid_request"), "{body}");
    }
}

/// Five wrong passwords lock the account for a while, even against the right one, with a
/// clear message and Retry-After; other accounts are not affected.
#[tokio::test]
async fn failed_logins_are_rate_limited_per_account() {
    let app = TestApp::start().await;
    let (_, _) = app.user_in_new_tenant("olive", corral_api::session::Role::Viewer).await;
    let (_, _) = app.user_in_new_tenant("sam", corral_api::session::Role::Viewer).await;
    let login = |user: &str, pw: &str| serde_json::json!({"username": user, "password": pw}).to_string();
    // The free tries, and one more that starts the waits.
    for _ in 0..=corral::login_guard::FREE_TRIES {
        let r = app.call("POST", "/api/v1/session", None, Some(&login("olive", "wrong"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = app.call("POST", "/api/v1/session", None, Some(&login("olive", PASSWORD))).await;
    assert_eq!((r.status, r.code()), (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"), "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("try again in"), "{:?}", r.body);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&wait), "{wait}");
    let r = app.call("POST", "/api/v1/session", None, Some(&login("sam", PASSWORD))).await;
    assert_eq!(r.status, StatusCode::OK, "another account logs in");
}

/// The session row's end (unix seconds), from the database; there is one session.
async fn session_end(app: &TestApp) -> i64 {
    let ends: Vec<i64> =
        sqlx::query_scalar("SELECT expiry_date FROM sessions").fetch_all(&app.state.db).await.unwrap();
    assert_eq!(ends.len(), 1, "{ends:?}");
    ends[0]
}

async fn set_session_end(app: &TestApp, end: i64) {
    sqlx::query("UPDATE sessions SET expiry_date = $1").bind(end).execute(&app.state.db).await.unwrap();
}

/// A session ends after 12 hours unused; each request moves its end 12 hours on, and an
/// ended one is refused at once (before the sweep removes its row).
#[tokio::test]
async fn a_session_ends_after_twelve_idle_hours_and_each_request_moves_the_end() {
    let app = TestApp::start().await;
    let now = || time::OffsetDateTime::now_utc().unix_timestamp();
    let twelve_hours = 12 * 3600;
    let cookie = app.login_admin().await;
    let end = session_end(&app).await;
    assert!((end - (now() + twelve_hours)).abs() < 60, "ends {}s from now", end - now());

    // Used an hour before its end: the end moves 12 hours on again.
    set_session_end(&app, now() + 3600).await;
    assert_eq!(app.call("GET", "/api/v1/session", Some(&cookie), None).await.status, StatusCode::OK);
    let end = session_end(&app).await;
    assert!((end - (now() + twelve_hours)).abs() < 60, "ends {}s from now", end - now());

    // A request whose only change is an end moved less than the slack writes nothing: the
    // row keeps the end it had (reads are not database writes).
    let within = now() + twelve_hours - corral::store::sessions::EXPIRY_SLACK_SECS / 2;
    set_session_end(&app, within).await;
    for _ in 0..3 {
        assert_eq!(app.call("GET", "/api/v1/session", Some(&cookie), None).await.status, StatusCode::OK);
    }
    assert_eq!(session_end(&app).await, within, "rewritten for an end a few seconds on");

    // Past its end it is worth nothing, and the sweep removes it.
    set_session_end(&app, now() - 1).await;
    let r = app.call("GET", "/api/v1/session", Some(&cookie), None).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let store = corral::store::sessions::DbSessionStore::new(app.state.db.clone());
    assert_eq!(store.delete_expired().await.unwrap(), 1);
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sessions").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(left, 0);
}
