//! API tokens: shown once, stored hashed, work as `Authorization: Bearer` on REST routes,
//! read-only ones only read, revoked, expired and disabled users' tokens stop, and a token
//! never opens a browser session.

mod common;

use common::TestApp;
use corral_api::session::Role;
use hyper::StatusCode;

async fn token(app: &TestApp, cookie: &str, body: &str) -> (String, String) {
    let r = app.call("POST", "/api/v1/tokens", Some(cookie), Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    (r.body["token"].as_str().unwrap().to_string(), r.body["info"]["id"].as_str().unwrap().to_string())
}

async fn with_bearer(
    app: &TestApp,
    method: &str,
    uri: &str,
    token: &str,
    body: Option<&str>,
) -> common::Resp {
    let auth = format!("Bearer {token}");
    app.call_with(method, uri, None, body, &[("authorization", &auth)]).await
}

#[tokio::test]
async fn tokens_act_as_their_user_within_their_scope() {
    let app = TestApp::start().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (full, full_id) = token(&app, &olive, r#"{"name":"ci"}"#).await;
    assert!(full.starts_with(&format!("corral_{full_id}_")) && full.len() > 50, "{full}");
    let (reader, _) =
        token(&app, &olive, r#"{"name":"dashboard","read_only":true,"expires_in_days":30}"#).await;

    // Listed without secrets, and stored hashed: no column holds the secret.
    let r = app.call("GET", "/api/v1/tokens", Some(&olive), None).await;
    let listed = r.body.to_string();
    assert!(listed.contains("dashboard") && !listed.contains(&full[20..]), "{listed}");
    // The secret is all after the id (it may hold '_' itself: a tail after the last one can
    // be a few characters that any hash may contain by chance).
    let secret = full.strip_prefix(&format!("corral_{full_id}_")).unwrap();
    assert!(secret.len() >= 32, "{full}");
    let rows: Vec<(String, String, String, String)> =
        sqlx::query_as("SELECT id, user_id, name, secret_sha256 FROM api_tokens")
            .fetch_all(&app.state.db)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2);
    for (id, user, name, hash) in &rows {
        assert!(![id, user, name, hash].iter().any(|v| v.contains(secret)), "{rows:?}");
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "a SHA-256: {hash}");
    }

    // A full token creates; a read-only one reads but may not create.
    let vm = r#"{"name":"scripted","vcpus":1,"memory_mib":128,"disk_gib":1}"#;
    let r = with_bearer(&app, "POST", "/api/v1/machines", &full, Some(vm)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.headers.get("set-cookie").is_none(), "a token never opens a session");
    let r = with_bearer(&app, "GET", "/api/v1/machines", &reader, None).await;
    assert_eq!((r.status, r.body.as_array().map(Vec::len)), (StatusCode::OK, Some(1)));
    let r = with_bearer(&app, "POST", "/api/v1/machines", &reader, Some(vm)).await;
    assert_eq!(
        (r.status, r.body["message"].as_str()),
        (StatusCode::FORBIDDEN, Some("this token is read-only"))
    );
    let r = with_bearer(&app, "POST", "/api/v1/tokens", &full, Some(r#"{"name":"child"}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "tokens cannot make tokens");
    // The refused requests made nothing: one machine, two tokens.
    let db = &app.state.db;
    let count = |table: &'static str| async move {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        sqlx::query_scalar::<_, i64>(&sql).fetch_one(db).await.unwrap()
    };
    assert_eq!((count("machines").await, count("api_tokens").await), (1, 2));

    // Wrong secrets, made-up tokens and other schemes are all the same 401.
    for bad in [format!("{}x", &full[..full.len() - 1]), "corral_nope_nope".into(), "nonsense".into()] {
        assert_eq!(
            with_bearer(&app, "GET", "/api/v1/machines", &bad, None).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let r = app
        .call_with("GET", "/api/v1/machines", None, None, &[("authorization", "Basic b2xpdmU6eA==")])
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Revoked: gone at once.
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/tokens/{full_id}"), Some(&olive), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        with_bearer(&app, "GET", "/api/v1/machines", &full, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.call("DELETE", &format!("/api/v1/tokens/{full_id}"), Some(&olive), None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn expired_tokens_and_disabled_users_stop() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Viewer).await;
    let (t, id) = token(&app, &sam, r#"{"name":"short","expires_in_days":1}"#).await;
    assert_eq!(with_bearer(&app, "GET", "/api/v1/session", &t, None).await.status, StatusCode::OK);
    // Expire it behind its back.
    sqlx::query("UPDATE api_tokens SET expires_at = '2000-01-01T00:00:00Z' WHERE id = $1")
        .bind(&id)
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(with_bearer(&app, "GET", "/api/v1/session", &t, None).await.status, StatusCode::UNAUTHORIZED);

    let (t, _) = token(&app, &sam, r#"{"name":"long"}"#).await;
    let me = with_bearer(&app, "GET", "/api/v1/session", &t, None).await;
    let sam_id = me.body["id"].as_str().unwrap().to_string();
    app.call("PATCH", &format!("/api/v1/users/{sam_id}"), Some(&admin), Some(r#"{"disabled":true}"#)).await;
    assert_eq!(with_bearer(&app, "GET", "/api/v1/session", &t, None).await.status, StatusCode::UNAUTHORIZED);
    let r =
        app.call("POST", "/api/v1/tokens", Some(&admin), Some(r#"{"name":"x","expires_in_days":0}"#)).await;
    assert_eq!(r.body["field"], "expires_in_days");
}
