//! Tenants, members and users: who may manage whom, the last owner, disabling a user (their
//! session stops at once), renaming and deleting tenants and users, and changing one's own
//! password.

mod common;

use common::TestApp;
use corral_api::session::Role;
use corral_testkit::people::PASSWORD;
use hyper::StatusCode;
use serde_json::json;

#[tokio::test]
async fn admins_make_tenants_and_users_and_owners_manage_their_members() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let r = app.call("POST", "/api/v1/tenants", Some(&admin), Some(r#"{"name":"acme"}"#)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let acme = r.body["id"].as_str().unwrap().to_string();
    let r = app.call("POST", "/api/v1/tenants", Some(&admin), Some(r#"{"name":"acme"}"#)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_exists"));
    let r = app.call("POST", "/api/v1/tenants", Some(&admin), Some(r#"{"name":"Bad Name"}"#)).await;
    assert_eq!(r.body["field"], "name");

    // An admin creates the owner; the generated password is shown once and works.
    let body = json!({"username": "olga", "tenant_id": acme, "role": "owner"}).to_string();
    let r = app.call("POST", "/api/v1/users", Some(&admin), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let password = r.body["password"].as_str().unwrap().to_string();
    assert_eq!(r.body["user"]["memberships"][0]["role"], "owner");
    let olga = app.login("olga", &password).await;

    // The owner creates a member of her tenant, with a password she chose.
    let body =
        json!({"username": "vera", "password": "a long enough pw", "tenant_id": acme, "role": "viewer"})
            .to_string();
    let r = app.call("POST", "/api/v1/users", Some(&olga), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert!(r.body["password"].is_null(), "nothing generated, nothing shown");
    let vera_id = r.body["user"]["id"].as_str().unwrap().to_string();
    let vera = app.login("vera", "a long enough pw").await;

    // What owners may not do: admins, users outside their tenant, other tenants.
    let (other, other_tenant) = app.user_in_new_tenant("sam", Role::Owner).await;
    for (body, status) in [
        (
            json!({"username": "root2", "is_admin": true, "tenant_id": acme, "role": "owner"}),
            StatusCode::FORBIDDEN,
        ),
        (json!({"username": "loner"}), StatusCode::FORBIDDEN),
        (
            json!({"username": "x", "tenant_id": other_tenant.to_string(), "role": "viewer"}),
            StatusCode::NOT_FOUND,
        ),
        (json!({"username": "x", "tenant_id": acme}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"username": "y", "password": "short", "tenant_id": acme, "role": "viewer"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let r = app.call("POST", "/api/v1/users", Some(&olga), Some(&body.to_string())).await;
        assert_eq!(r.status, status, "{body}: {:?}", r.body);
    }
    // A viewer sees the members but changes nothing; a stranger sees no such tenant.
    let members = format!("/api/v1/tenants/{acme}/members");
    let r = app.call("GET", &members, Some(&vera), None).await;
    assert_eq!((r.status, r.body.as_array().map(Vec::len)), (StatusCode::OK, Some(2)));
    let promote = format!("{members}/{vera_id}");
    let r = app.call("PUT", &promote, Some(&vera), Some(r#"{"role":"owner"}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call("GET", &members, Some(&other), None).await.status, StatusCode::NOT_FOUND);
    let r = app.call("GET", "/api/v1/tenants", Some(&other), None).await;
    assert!(r.body.as_array().unwrap().iter().all(|t| t["name"] != "acme"), "{:?}", r.body);
    assert_eq!(app.call("GET", "/api/v1/users", Some(&olga), None).await.status, StatusCode::FORBIDDEN);

    // The owner promotes, and a tenant never loses its last owner.
    let r = app.call("PUT", &promote, Some(&olga), Some(r#"{"role":"operator"}"#)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let olga_id =
        app.call("GET", "/api/v1/session", Some(&olga), None).await.body["id"].as_str().unwrap().to_string();
    let r = app.call("PUT", &format!("{members}/{olga_id}"), Some(&olga), Some(r#"{"role":"viewer"}"#)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "conflict"));
    let r = app.call("DELETE", &format!("{members}/{olga_id}"), Some(&olga), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(app.call("DELETE", &promote, Some(&olga), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call("GET", &members, Some(&vera), None).await.status,
        StatusCode::NOT_FOUND,
        "vera is out"
    );
    let r = app.call("GET", "/api/v1/tenants", Some(&admin), None).await;
    let acme_row = r.body.as_array().unwrap().iter().find(|t| t["name"] == "acme").unwrap().clone();
    assert_eq!(acme_row["members"], 1);
}

/// Admins rename tenants (names stay unique) and delete them once they hold no machine; the
/// members lose the membership, the quota goes, the audit log keeps the tenant's entries.
/// Admins delete users (not themselves); the name stays in the log.
#[tokio::test]
async fn admins_rename_and_delete_empty_tenants_and_delete_users() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (_, other) = app.user_in_new_tenant("sam", Role::Owner).await;
    let path = format!("/api/v1/tenants/{tenant}");
    let other_name = app
        .call("GET", "/api/v1/tenants", Some(&admin), None)
        .await
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == other.to_string())
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_string();

    let r = app.call("PATCH", &path, Some(&olive), Some(r#"{"name":"mine"}"#)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "owners do not rename their tenant");
    let taken = json!({"name": other_name}).to_string();
    let r = app.call("PATCH", &path, Some(&admin), Some(&taken)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "already_exists"), "{:?}", r.body);
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"name":"Not A Name"}"#)).await;
    assert_eq!((r.status, r.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("name")));
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"name":"acme-renamed"}"#)).await;
    assert_eq!((r.status, r.body["name"].as_str()), (StatusCode::OK, Some("acme-renamed")), "{:?}", r.body);
    let me = app.call("GET", "/api/v1/session", Some(&olive), None).await;
    assert_eq!(me.body["memberships"][0]["tenant_name"], "acme-renamed", "{:?}", me.body);

    // A tenant with a machine stays, and says why.
    let quota = format!("{path}/quota");
    assert_eq!(app.call("PUT", &quota, Some(&admin), Some(r#"{"vcpus":8}"#)).await.status, StatusCode::OK);
    let m = app.machine(&olive, "keeper").await;
    let r = app.call("DELETE", &path, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("1 machine"), "{:?}", r.body);
    assert_eq!(app.call("DELETE", &path, Some(&olive), None).await.status, StatusCode::FORBIDDEN);
    let r = app.call("DELETE", &format!("/api/v1/machines/{m}"), Some(&olive), None).await;
    assert!(r.status.is_success(), "{:?}", r.body);
    app.wait_for(|| async {
        app.call("GET", &format!("/api/v1/machines/{m}"), Some(&admin), None).await.status
            == StatusCode::NOT_FOUND
    })
    .await;

    assert_eq!(app.call("DELETE", &path, Some(&admin), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call("DELETE", &path, Some(&admin), None).await.status, StatusCode::NOT_FOUND);
    let me = app.call("GET", "/api/v1/session", Some(&olive), None).await;
    assert_eq!(me.body["memberships"], json!([]), "the membership went with the tenant");
    assert_eq!(app.call("GET", &quota, Some(&admin), None).await.status, StatusCode::NOT_FOUND);
    let r = app.call("GET", &format!("/api/v1/audit?tenant_id={tenant}"), Some(&admin), None).await;
    let actions: Vec<&str> = r.body.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"tenant.update") && actions.contains(&"machine.create"), "{actions:?}");

    // Users: admins delete others, never themselves; the log keeps the name.
    let olive_id = me.body["id"].as_str().unwrap().to_string();
    let admin_id =
        app.call("GET", "/api/v1/session", Some(&admin), None).await.body["id"].as_str().unwrap().to_string();
    let r = app.call("DELETE", &format!("/api/v1/users/{admin_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.call("DELETE", &format!("/api/v1/users/{olive_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(app.call("GET", "/api/v1/session", Some(&olive), None).await.status, StatusCode::UNAUTHORIZED);
    let users = app.call("GET", "/api/v1/users", Some(&admin), None).await;
    assert!(users.body.as_array().unwrap().iter().all(|u| u["username"] != "olive"), "{:?}", users.body);
    let r = app.call("GET", &format!("/api/v1/audit?user_id={olive_id}"), Some(&admin), None).await;
    assert!(!r.body.as_array().unwrap().is_empty(), "the deleted user's entries stay");
    let r = app.call("DELETE", &format!("/api/v1/users/{olive_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_disabled_user_is_cut_off_at_once() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Owner).await;
    let sam_id =
        app.call("GET", "/api/v1/session", Some(&sam), None).await.body["id"].as_str().unwrap().to_string();
    assert_eq!(app.call("GET", "/api/v1/machines", Some(&sam), None).await.status, StatusCode::OK);
    let path = format!("/api/v1/users/{sam_id}");
    let r = app.call("PATCH", &path, Some(&admin), Some(r#"{"disabled":true}"#)).await;
    assert_eq!((r.status, r.body["disabled"].as_bool()), (StatusCode::OK, Some(true)), "{:?}", r.body);
    assert_eq!(app.call("GET", "/api/v1/machines", Some(&sam), None).await.status, StatusCode::UNAUTHORIZED);
    let login = json!({"username": "sam", "password": PASSWORD}).to_string();
    assert_eq!(
        app.call("POST", "/api/v1/session", None, Some(&login)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Enabled again: the old session stays ended; a new login works.
    app.call("PATCH", &path, Some(&admin), Some(r#"{"disabled":false}"#)).await;
    assert_eq!(app.call("GET", "/api/v1/machines", Some(&sam), None).await.status, StatusCode::UNAUTHORIZED);
    let sam = app.login("sam", PASSWORD).await;
    let admin_id =
        app.call("GET", "/api/v1/session", Some(&admin), None).await.body["id"].as_str().unwrap().to_string();
    let r = app
        .call("PATCH", &format!("/api/v1/users/{admin_id}"), Some(&admin), Some(r#"{"disabled":true}"#))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "no locking yourself out");
    assert_eq!(
        app.call("PATCH", &path, Some(&sam), Some(r#"{"is_admin":true}"#)).await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn users_change_their_own_password() {
    let app = TestApp::start().await;
    let (sam, _) = app.user_in_new_tenant("sam", Role::Viewer).await;
    let change = |current: &str, new: &str| json!({"current": current, "new": new}).to_string();
    let r = app
        .call("POST", "/api/v1/session/password", Some(&sam), Some(&change("wrong", "a brand new secret")))
        .await;
    assert_eq!((r.status, r.body["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("current")));
    let r = app.call("POST", "/api/v1/session/password", Some(&sam), Some(&change(PASSWORD, "short"))).await;
    assert_eq!(r.body["field"], "password");
    let r = app
        .call("POST", "/api/v1/session/password", Some(&sam), Some(&change(PASSWORD, "a brand new secret")))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    let old = json!({"username": "sam", "password": PASSWORD}).to_string();
    assert_eq!(app.call("POST", "/api/v1/session", None, Some(&old)).await.status, StatusCode::UNAUTHORIZED);
    app.login("sam", "a brand new secret").await;
    let r =
        app.call("POST", "/api/v1/session/password", None, Some(&change("x", "a brand new secret"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}
