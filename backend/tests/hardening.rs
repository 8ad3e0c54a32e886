//! What a stranger or a tenant sends cannot fill the database, hide an action from its
//! tenant's audit log, or break a request (issue 10's findings 1, 2, 9 and 11, one test each).

mod common;

use common::TestApp;
use corral_api::session::Role;
use hyper::StatusCode;

/// Rows in the audit log and the bytes their text fields hold.
async fn audit_size(app: &TestApp) -> (i64, i64) {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(username, '')) + LENGTH(COALESCE(target, '')) \
         + LENGTH(action) + LENGTH(result) + LENGTH(COALESCE(source, ''))), 0) FROM audit_log",
    )
    .fetch_one(&app.state.db)
    .await
    .unwrap();
    row
}

fn login_body(username: &str) -> String {
    serde_json::json!({ "username": username, "password": "not it" }).to_string()
}

#[tokio::test]
async fn a_stranger_cannot_grow_the_audit_log() {
    let app = TestApp::start().await;
    let before = audit_size(&app).await;

    // 1.9 MB: refused before it is read whole.
    let huge = login_body(&"u".repeat(1_900_000));
    for _ in 0..5 {
        let r = app.call("POST", "/api/v1/session", None, Some(&huge)).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            "{:?}",
            r.body
        );
    }
    // Under the body cap but longer than any username: refused, nothing recorded.
    let long = login_body(&"u".repeat(60_000));
    let r = app.call("POST", "/api/v1/session", None, Some(&long)).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"), "{:?}", r.body);
    assert_eq!(audit_size(&app).await, before, "refused logins store nothing");

    // Mutations without a login are counted, not stored.
    let id = uuid::Uuid::new_v4();
    app.state.refused.take();
    for path in [format!("/api/v1/machines/{id}/start"), "/api/v1/machines".into(), "/api/v1/tokens".into()] {
        let r = app.call("POST", &path, None, Some("{}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
    }
    assert_eq!(audit_size(&app).await, before);
    assert_eq!(app.state.refused.take(), 3, "each refusal is counted for the log");

    // A failed login that is recorded holds a bounded username.
    let r = app.call("POST", "/api/v1/session", None, Some(&login_body(&"v".repeat(64)))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let (rows, bytes) = audit_size(&app).await;
    assert_eq!(rows, before.0 + 1);
    assert!(bytes - before.1 < 300, "one failed login costs {} bytes", bytes - before.1);
}

#[tokio::test]
async fn a_path_id_in_another_spelling_is_refused_and_nothing_runs() {
    let app = TestApp::start().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let id = app.machine(&olive, "web").await;

    let spellings = [
        format!("%{:02X}{}", id.as_bytes()[0], &id[1..]),
        id.to_uppercase(),
        id.replace('-', ""),
        format!("urn:uuid:{id}"),
    ];
    for spelled in &spellings {
        let r = app.call("POST", &format!("/api/v1/machines/{spelled}/start"), Some(&olive), None).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::BAD_REQUEST, "invalid_request"),
            "{spelled}: {:?}",
            r.body
        );
        // Had the start run, its answer would already have moved the row on.
        assert_eq!(app.machine_state(&olive, &id).await, "stopped", "{spelled}");
    }

    // The plain spelling runs and is in the owner's view of her tenant, with the machine.
    let r = app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    let r = app.call("GET", &format!("/api/v1/audit?tenant_id={tenant}"), Some(&olive), None).await;
    let trail: Vec<corral_api::audit::AuditEntry> = serde_json::from_value(r.body).unwrap();
    let starts: Vec<_> = trail.iter().filter(|e| e.action == "machine.start").collect();
    assert_eq!(starts.len(), 1, "{trail:?}");
    assert_eq!(starts[0].machine_id.map(|m| m.to_string()), Some(id.clone()));
    assert_eq!(starts[0].target.as_deref(), Some(format!("machine:{id}").as_str()));
    assert!(trail.iter().all(|e| e.tenant_id == Some(tenant)), "{trail:?}");
}

#[tokio::test]
async fn what_does_not_exist_is_404_for_everyone_and_worded_alike() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let missing = uuid::Uuid::new_v4();
    let me =
        app.call("GET", "/api/v1/session", Some(&olive), None).await.body["id"].as_str().unwrap().to_string();

    // A tenant that does not exist: 404, not a database error, admins included.
    let r = app
        .call(
            "PUT",
            &format!("/api/v1/tenants/{missing}/members/{me}"),
            Some(&admin),
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);
    let r = app.call("PUT", &format!("/api/v1/tenants/{missing}/quota"), Some(&admin), Some("{}")).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);

    // Another tenant's machine reads exactly like one that does not exist.
    let body = serde_json::json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
    let theirs = app.call("POST", "/api/v1/machines", Some(&sam), Some(&body)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = app.call("POST", &format!("/api/v1/machines/{theirs}/start"), Some(&olive), None).await;
    let none = app.call("POST", &format!("/api/v1/machines/{missing}/start"), Some(&olive), None).await;
    assert_eq!((other.status, none.status), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(
        other.body["message"].as_str().unwrap().replace(&theirs, "ID"),
        none.body["message"].as_str().unwrap().replace(&missing.to_string(), "ID")
    );
}

#[tokio::test]
async fn tenants_see_of_a_node_only_its_name_state_and_room() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    corral::store::nodes::node_note_rule_break(&app.state.db, app.node_id, "a test").await.unwrap();

    let as_admin = app.call("GET", "/api/v1/nodes", Some(&admin), None).await.body[0].clone();
    assert!(as_admin["address"].as_str().unwrap().starts_with("unix:"), "{as_admin}");
    assert_eq!(as_admin["rule_breaks"], 1);
    for r in [
        app.call("GET", "/api/v1/nodes", Some(&olive), None).await.body[0].clone(),
        app.call("GET", &format!("/api/v1/nodes/{}", app.node_id), Some(&olive), None).await.body,
    ] {
        assert_eq!((r["name"].as_str(), r["status"].as_str()), (Some("node-1"), Some("online")), "{r}");
        for hidden in ["address", "host_key", "presented_host_key", "last_error", "last_rule_break"] {
            assert!(r[hidden].is_null(), "{hidden}: {r}");
        }
        assert_eq!((r["rule_breaks"].as_u64(), r["host"]["hostname"].as_str()), (Some(0), Some("")), "{r}");
        assert!(r["host"]["memory_mib"].as_u64().unwrap() > 0, "room is shown: {r}");
    }
}

#[tokio::test]
async fn sessions_are_stored_by_a_hash_of_their_id() {
    use sha2::Digest;
    let app = TestApp::start().await;
    let cookie = app.login_admin().await;
    let id = cookie.trim_start_matches("corral_session=");
    let stored: Vec<(String,)> =
        sqlx::query_as("SELECT id FROM sessions").fetch_all(&app.state.db).await.unwrap();
    let hash: String = sha2::Sha256::digest(id.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
    assert!(stored.iter().all(|(s,)| s != id), "the cookie's id is not in the database");
    assert!(stored.iter().any(|(s,)| *s == hash), "{stored:?}");
    assert_eq!(app.call("GET", "/api/v1/session", Some(&cookie), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_create_is_the_same_request_by_someone_still_allowed() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let key = [("idempotency-key", "form-1")];
    let base = serde_json::json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1});
    let create = |body: serde_json::Value, cookie: String| {
        let app = &app;
        async move {
            app.call_with("POST", "/api/v1/machines", Some(&cookie), Some(&body.to_string()), &key).await
        }
    };
    let first = create(base.clone(), olive.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
    let id = first.body["id"].as_str().unwrap().to_string();
    let again = create(base.clone(), olive.clone()).await;
    assert_eq!((again.status, again.body["id"].as_str()), (StatusCode::OK, Some(id.as_str())));

    let mut other_asks = Vec::new();
    for (field, value) in [
        ("port_forwards", serde_json::json!([{"protocol": "tcp", "host_port": 2222, "guest_port": 22}])),
        ("boot_order", serde_json::json!(["disk"])),
        ("cdrom", serde_json::json!("x.iso")),
        ("host_bridge", serde_json::json!("br0")),
        ("tenant_id", serde_json::json!(tenant)),
    ] {
        let mut body = base.clone();
        body[field] = value;
        other_asks.push((field, body));
    }
    for (field, body) in other_asks {
        let r = create(body, olive.clone()).await;
        assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"), "{field}: {:?}", r.body);
    }

    // Someone else's key of the same name is their own.
    let (sam, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let theirs = create(base.clone(), sam).await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:?}", theirs.body);
    assert_ne!(theirs.body["id"].as_str(), Some(id.as_str()));

    // Once olive has left the tenant, her old key tells her nothing.
    let (_, _) = app.user_in_new_tenant("otto", Role::Viewer).await;
    let otto = app
        .call("GET", "/api/v1/users", Some(&admin), None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["username"] == "otto")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let me =
        app.call("GET", "/api/v1/session", Some(&olive), None).await.body["id"].as_str().unwrap().to_string();
    let members = format!("/api/v1/tenants/{tenant}/members");
    let r = app.call("PUT", &format!("{members}/{otto}"), Some(&admin), Some(r#"{"role":"owner"}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(
        app.call("DELETE", &format!("{members}/{me}"), Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = create(base.clone(), olive.clone()).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);
    assert!(r.body.get("name").is_none() && !r.body.to_string().contains("\"web\""), "{:?}", r.body);
}

#[tokio::test]
async fn the_owner_logs_in_while_an_attacker_hammers_the_account() {
    let app = TestApp::start().await;
    let wrong = serde_json::json!({"username": "admin", "password": "guess"}).to_string();
    let (mut failed, mut held_off) = (0, 0);
    for _ in 0..40 {
        let r = app.call_from("10.0.0.66", "POST", "/api/v1/session", Some(&wrong)).await;
        match r.status {
            StatusCode::UNAUTHORIZED => failed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                held_off += 1;
                assert!(r.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
            }
            other => panic!("{other}: {:?}", r.body),
        }
    }
    assert!(failed <= 5 && held_off >= 35, "{failed} tried, {held_off} held off");
    // The real admin, from their own address, is not held up at all.
    let right = serde_json::json!({"username": "admin", "password": app.admin_password}).to_string();
    let r = app.call_from("10.0.0.7", "POST", "/api/v1/session", Some(&right)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // The trail says where each came from.
    let admin = common::session_cookie(&r.headers).unwrap();
    let trail = app.call("GET", "/api/v1/audit", Some(&admin), None).await.body;
    let sources: Vec<&str> = trail.as_array().unwrap().iter().filter_map(|e| e["source"].as_str()).collect();
    assert!(sources.contains(&"10.0.0.66") && sources.contains(&"10.0.0.7"), "{sources:?}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_is_the_one_it_forwarded_for() {
    let app = TestApp::start().await;
    let mut state = app.state.clone();
    state.proxies.trusted = vec!["127.0.0.1/32".parse::<ipnet::IpNet>().unwrap()].into();
    let router = corral::routes::build_router(state, &corral::routes::RouterOptions::default());
    let wrong = serde_json::json!({"username": "nobody", "password": "guess"}).to_string();
    let xff = [("x-forwarded-for", "203.0.113.9")];
    let r =
        common::send(&router, Some("127.0.0.1"), "POST", "/api/v1/session", None, Some(&wrong), &xff).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Anyone else's header is only a claim.
    let r =
        common::send(&router, Some("192.0.2.50"), "POST", "/api/v1/session", None, Some(&wrong), &xff).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let admin = app.login_admin().await;
    let trail = app.call("GET", "/api/v1/audit", Some(&admin), None).await.body;
    let sources: Vec<&str> = trail.as_array().unwrap().iter().filter_map(|e| e["source"].as_str()).collect();
    assert!(sources.contains(&"203.0.113.9") && sources.contains(&"192.0.2.50"), "{sources:?}");
    assert!(!sources.contains(&"127.0.0.1"), "{sources:?}");
}

#[tokio::test]
async fn every_limit_the_document_states_is_enforced() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let olive_id =
        app.call("GET", "/api/v1/session", Some(&olive), None).await.body["id"].as_str().unwrap().to_string();
    let refused = |r: &common::Resp, what: &str| {
        assert!(
            r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {} {:?}",
            r.status,
            r.body
        );
    };
    // A body that is not an object, even one serde could read as the struct.
    let r = app.call("PATCH", &format!("/api/v1/users/{olive_id}"), Some(&admin), Some("[null, null]")).await;
    refused(&r, "array body");
    assert_eq!(r.code(), "invalid_request");
    // Numbers past their maximum.
    let r = app
        .call(
            "PUT",
            &format!("/api/v1/tenants/{tenant}/quota"),
            Some(&admin),
            Some(&format!(r#"{{"vcpus":{}}}"#, i64::MAX)),
        )
        .await;
    refused(&r, "quota of 2^63-1");
    assert_eq!(r.body["field"], "vcpus");
    let r = app.call("GET", "/api/v1/audit?limit=1001", Some(&admin), None).await;
    refused(&r, "a page over the maximum");
    assert_eq!(app.call("GET", "/api/v1/audit?limit=1000", Some(&admin), None).await.status, StatusCode::OK);
    // A snapshot name QEMU would take for an id.
    let body = serde_json::json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
    let id = app.call("POST", "/api/v1/machines", Some(&olive), Some(&body)).await.body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app
        .call("POST", &format!("/api/v1/machines/{id}/snapshots"), Some(&olive), Some(r#"{"name":"1"}"#))
        .await;
    refused(&r, "snapshot named 1");
    // An import's checksum is hex.
    let import = serde_json::json!({"node_id": app.node_id, "name": "x.raw", "source": "/tmp/x.raw", "sha256": "nope"});
    let r = app.call("POST", "/api/v1/images", Some(&admin), Some(&import.to_string())).await;
    refused(&r, "sha256 not hex");
    assert_eq!(r.body["field"], "sha256");
}

#[tokio::test]
async fn a_word_taken_before_a_delete_does_not_bring_the_machine_back() {
    use corral::nodes::reconciler::take_machine_report;
    use corral::store::machines::{IfUnknown, machine_get, machine_set_state};
    use corral_api::machine::MachineState;
    let app = TestApp::start().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let node = app.state.nodes.get(app.node_id).unwrap();

    // A listing that says `stopped`, applied while the row is deleting: the row stays so.
    let web = app.machine(&olive, "web").await;
    let before = node.machine_get(web.parse().unwrap()).await.unwrap();
    machine_set_state(&app.state.db, before.id, MachineState::Deleting).await.unwrap();
    take_machine_report(&app.state, app.node_id, &before, IfUnknown::Adopt).await.unwrap();
    let row = machine_get(&app.state.db, before.id).await.unwrap().unwrap();
    assert_eq!(row.state, MachineState::Deleting);
    let r = app.call("DELETE", &format!("/api/v1/machines/{web}"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    gone(&app, &olive, &web).await;

    // An answer to a request sent before the delete, arriving after the removal: the row
    // does not come back (not even as an unmanaged machine).
    let db = app.machine(&olive, "db").await;
    let before = node.machine_get(db.parse().unwrap()).await.unwrap();
    let r = app.call("DELETE", &format!("/api/v1/machines/{db}"), Some(&olive), None).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    gone(&app, &olive, &db).await;
    take_machine_report(&app.state, app.node_id, &before, IfUnknown::Skip).await.unwrap();
    assert_eq!(machine_get(&app.state.db, before.id).await.unwrap(), None);
}

/// Waits until `who` no longer finds machine `id`.
async fn gone(app: &TestApp, who: &str, id: &str) {
    app.wait_for(|| async {
        app.call("GET", &format!("/api/v1/machines/{id}"), Some(who), None).await.status
            == StatusCode::NOT_FOUND
    })
    .await
}

#[tokio::test]
async fn what_review_found_stays_fixed() {
    use tower_sessions::session_store::SessionStore;
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;

    // A method a route does not have is 405, not a refusal that looks like a missing rule.
    let r = app.call("PUT", "/api/v1/machines", Some(&admin), Some("{}")).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{:?}", r.body);
    assert_eq!(app.call("HEAD", "/api/v1/machines", None, None).await.status, StatusCode::UNAUTHORIZED);
    // HEAD takes the GET rule, so who may GET may HEAD.
    assert_eq!(app.call("HEAD", "/api/v1/machines", Some(&olive), None).await.status, StatusCode::OK);

    // A bad path parameter is quoted, clipped to 40 characters and marked as clipped.
    let long = "x".repeat(39) + "yz!";
    let some_id = uuid::Uuid::new_v4();
    let r =
        app.call("DELETE", &format!("/api/v1/machines/{some_id}/snapshots/{long}"), Some(&olive), None).await;
    let msg = r.body["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with(&format!("\"{}y…\" is not a name", "x".repeat(39))), "{msg}");
    let r = app.call("DELETE", &format!("/api/v1/machines/{some_id}/snapshots/a!"), Some(&olive), None).await;
    let msg = r.body["message"].as_str().unwrap_or_default();
    assert!(msg.starts_with("\"a!\" is not a name"), "{msg}");

    // An admin naming a tenant that does not exist: 404, and nothing half-made.
    let missing = uuid::Uuid::new_v4();
    let body = serde_json::json!({"name": "web", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "tenant_id": missing});
    let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&body.to_string())).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);
    let body = serde_json::json!({"username": "ghost", "tenant_id": missing, "role": "viewer"});
    let r = app.call("POST", "/api/v1/users", Some(&admin), Some(&body.to_string())).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"), "{:?}", r.body);
    assert!(corral::store::users::user_by_username(&app.state.db, "ghost").await.unwrap().is_none());

    // Disabling ends the sessions for good: enabling again does not bring them back.
    let me =
        app.call("GET", "/api/v1/session", Some(&olive), None).await.body["id"].as_str().unwrap().to_string();
    for disabled in [true, false] {
        let body = serde_json::json!({"disabled": disabled}).to_string();
        assert_eq!(
            app.call("PATCH", &format!("/api/v1/users/{me}"), Some(&admin), Some(&body)).await.status,
            StatusCode::OK
        );
    }
    assert_eq!(app.call("GET", "/api/v1/session", Some(&olive), None).await.status, StatusCode::UNAUTHORIZED);

    // A request that ends after its session did does not write the session back.
    let store = corral::store::sessions::DbSessionStore::new(app.state.db.clone());
    let mut record = tower_sessions::session::Record {
        id: Default::default(),
        data: Default::default(),
        expiry_date: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
    };
    store.create(&mut record).await.unwrap();
    store.delete(&record.id).await.unwrap();
    store.save(&record).await.unwrap();
    assert!(store.load(&record.id).await.unwrap().is_none(), "a save after the end is not a new session");
}
