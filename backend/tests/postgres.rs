//! The same backend on a real PostgreSQL: migrations, the queries that differ between the two
//! databases (sums, upserts, unique violations), sessions, and a machine's life cycle.
//!
//! `scripts/test.sh` starts a throwaway PostgreSQL and sets `CORRAL_TEST_POSTGRES_URL` (a URL
//! whose user may create databases) and `CORRAL_REQUIRE_POSTGRES=1`, so in the test command
//! this test cannot be skipped. Run alone without the variable, it says it skipped.

mod common;

use axum::http::StatusCode;
use common::TestApp;

/// A fresh PostgreSQL database, or `None` (saying so) to skip.
async fn fresh_database() -> Option<String> {
    let url = common::fresh_postgres().await;
    if url.is_none() {
        eprintln!("skipped: set CORRAL_TEST_POSTGRES_URL to run against PostgreSQL");
    }
    url
}

#[tokio::test]
async fn machine_life_cycle_on_postgres() {
    let Some(url) = fresh_database().await else { return };
    let app = TestApp::start_on(Some(url)).await;
    let admin = app.login_admin().await;
    let body =
        serde_json::json!({ "name": "pg-1", "vcpus": 2, "memory_mib": 256, "disk_gib": 3 }).to_string();
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    app.wait_state(&admin, &id, "stopped").await;

    // Sums come back as BIGINT, not NUMERIC (which the Any driver cannot read).
    let r = app.call("GET", "/api/v1/nodes", Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body[0]["usage"]["vcpus"], 2);
    assert_eq!(r.body[0]["usage"]["memory_mib"], 256);

    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&body)).await;
    assert_eq!(r.code(), "already_exists", "unique violations are recognised on PostgreSQL too");

    app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&admin), None).await;
    app.wait_state(&admin, &id, "running").await;
    let r = app.call("DELETE", &format!("/api/v1/machines/{id}?force=true"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    app.wait_for(|| async {
        app.call("GET", &format!("/api/v1/machines/{id}"), Some(&admin), None).await.status
            == StatusCode::NOT_FOUND
    })
    .await;

    // Sessions live in PostgreSQL: logout ends them there.
    app.call("DELETE", "/api/v1/session", Some(&admin), None).await;
    assert_eq!(app.call("GET", "/api/v1/session", Some(&admin), None).await.status, StatusCode::UNAUTHORIZED);
}
