//! The audit trail of a journey (log in, create, start, console ticket, rename, stop, delete)
//! is complete and in order, names who and which tenant, records refusals and failed logins,
//! filters per machine, user and tenant, exports as JSON lines, and is for owners and admins.

mod common;

use common::TestApp;
use corral_api::audit::AuditEntry;
use corral_api::session::Role;
use hyper::StatusCode;

async fn trail(app: &TestApp, cookie: &str, query: &str) -> Vec<AuditEntry> {
    let r = app.call("GET", &format!("/api/v1/audit{query}"), Some(cookie), None).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut v: Vec<AuditEntry> = serde_json::from_value(r.body).unwrap();
    v.reverse(); // oldest first, as things happened
    v
}

#[tokio::test]
async fn a_journey_leaves_a_complete_ordered_trail() {
    let app = TestApp::start().await;
    let bad = serde_json::json!({"username": "olive", "password": "not it"}).to_string();
    assert_eq!(app.call("POST", "/api/v1/session", None, Some(&bad)).await.status, StatusCode::UNAUTHORIZED);
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (viewer_of_other, _) = app.user_in_new_tenant("vic", Role::Viewer).await;

    let id = app.machine(&olive, "web").await;
    let m = format!("/api/v1/machines/{id}");
    app.call("POST", &format!("{m}/start"), Some(&olive), None).await;
    app.wait_state(&olive, &id, "running").await;
    app.call("POST", &format!("{m}/console"), Some(&olive), Some(r#"{"kind":"vnc"}"#)).await;
    // A second snapshot of the same name is refused: the refusal is part of the trail.
    app.call("POST", &format!("{m}/snapshots"), Some(&olive), Some(r#"{"name":"s1"}"#)).await;
    app.call("POST", &format!("{m}/snapshots"), Some(&olive), Some(r#"{"name":"s1"}"#)).await;
    app.call("PATCH", &m, Some(&olive), Some(r#"{"name":"Bad Name"}"#)).await; // refused: recorded too
    app.call("POST", &format!("{m}/force-stop"), Some(&olive), None).await;
    app.wait_state(&olive, &id, "stopped").await;
    app.call("DELETE", &m, Some(&olive), None).await;

    let admin = app.login_admin().await;
    let all = trail(&app, &admin, "").await;
    let actions: Vec<(&str, &str)> = all.iter().map(|e| (e.action.as_str(), e.result.as_str())).collect();
    let journey: Vec<(&str, &str)> =
        actions.iter().copied().filter(|(a, _)| !a.starts_with("session")).collect();
    assert_eq!(
        journey,
        [
            // The admin makes olive and vic, each in a tenant of their own.
            ("tenant.create", "ok"),
            ("user.create", "ok"),
            ("tenant.create", "ok"),
            ("user.create", "ok"),
            ("machine.create", "ok"),
            ("machine.start", "ok"),
            ("console.create", "ok"),
            ("snapshot.create", "ok"),
            ("snapshot.create", "409 conflict"),
            ("machine.update", "422 validation_failed"),
            ("machine.force_stop", "ok"),
            ("machine.delete", "ok"),
        ],
        "{actions:?}"
    );
    assert_eq!(actions[0], ("session.login", "401 login_failed"), "a failed login comes first");
    let mine: Vec<&AuditEntry> =
        all.iter().filter(|e| e.action.starts_with("machine.") || e.action.starts_with("console.")).collect();
    for e in &mine {
        assert_eq!(e.username.as_deref(), Some("olive"), "{e:?}");
        assert_eq!(e.tenant_id, Some(tenant), "{e:?}");
        assert_eq!(e.machine_id.map(|m| m.to_string()).as_deref(), Some(id.as_str()), "{e:?}");
    }
    assert!(all.windows(2).all(|w| w[0].seq < w[1].seq));

    // Filters, the owner's view, and what others may not see.
    let by_machine = trail(&app, &admin, &format!("?machine_id={id}")).await;
    assert_eq!(by_machine.len(), 8);
    let owner_view = trail(&app, &olive, &format!("?tenant_id={tenant}")).await;
    assert_eq!(owner_view.len(), 8, "the owner sees her tenant's entries");
    let r = app.call("GET", &format!("/api/v1/audit?tenant_id={tenant}"), Some(&viewer_of_other), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(trail(&app, &viewer_of_other, "").await.is_empty(), "a viewer owns no tenant");

    let r = app.call("GET", &format!("/api/v1/audit/export?machine_id={id}"), Some(&admin), None).await;
    assert_eq!(r.headers["content-type"], "application/x-ndjson");
    let text = r.body.as_str().unwrap().to_string();
    let lines: Vec<AuditEntry> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 8);
}

#[tokio::test]
async fn an_admins_act_in_a_tenant_is_in_its_trail_with_the_address_it_came_from() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let id = app.machine(&olive, "web").await;

    // The admin is in no tenant, yet what they do to olive's machine is olive's to review.
    let path = format!("/api/v1/machines/{id}");
    let rename = Some(r#"{"name":"web-2"}"#);
    let r = common::send(&app.router, Some("127.0.0.5"), "PATCH", &path, Some(&admin), rename, &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let owner_view = trail(&app, &olive, &format!("?tenant_id={tenant}")).await;
    let update = owner_view.iter().find(|e| e.action == "machine.update").expect("the rename in her trail");
    assert_eq!(
        (update.username.as_deref(), update.tenant_id, update.source.as_deref()),
        (Some("admin"), Some(tenant), Some("127.0.0.5")),
        "{update:?}"
    );
}

/// A member's act refused by the gate is in their tenant's trail; a stranger's probe of the
/// same machine is not (it would let anyone fill an owner's view).
#[tokio::test]
async fn a_members_refusal_is_in_the_tenants_trail_and_a_strangers_probe_is_not() {
    let app = TestApp::start().await;
    let (olive, tenant) = app.user_in_new_tenant("olive", Role::Owner).await;
    let (vera, _) = app.user_in(tenant, "vera", Role::Viewer).await;
    let (vic, _) = app.user_in_new_tenant("vic", Role::Owner).await;
    let id = app.machine(&olive, "web").await;
    let stop = format!("/api/v1/machines/{id}/force-stop");
    assert_eq!(app.call("POST", &stop, Some(&vera), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call("POST", &stop, Some(&vic), None).await.status, StatusCode::NOT_FOUND);
    let seen = trail(&app, &olive, &format!("?tenant_id={tenant}")).await;
    let refused: Vec<_> = seen.iter().filter(|e| e.action == "machine.force_stop").collect();
    assert_eq!(refused.len(), 1, "vera's refusal, not vic's probe: {seen:?}");
    assert_eq!((refused[0].username.as_deref(), refused[0].result.as_str()), (Some("vera"), "403 forbidden"));
}

/// The log filters by action (one, or every action of a kind) and by time (whole seconds, in
/// any offset); a filter that is not one is a 422 naming it.
#[tokio::test]
async fn the_trail_filters_by_action_and_time() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let (olive, _) = app.user_in_new_tenant("olive", Role::Owner).await;
    let id = app.machine(&olive, "web").await;
    app.call("POST", &format!("/api/v1/machines/{id}/start"), Some(&olive), None).await;
    app.wait_state(&olive, &id, "running").await;

    let actions = |entries: Vec<AuditEntry>| entries.into_iter().map(|e| e.action).collect::<Vec<_>>();
    assert_eq!(actions(trail(&app, &admin, "?action=machine.start").await), ["machine.start"]);
    let kind = actions(trail(&app, &admin, "?action=machine.").await);
    assert_eq!(kind, ["machine.create", "machine.start"], "every machine action, no other");

    let all = trail(&app, &admin, "").await;
    let first = all.first().unwrap().at.clone();
    let last = all.last().unwrap().at.clone();
    assert_eq!(trail(&app, &admin, &format!("?since={first}")).await.len(), all.len());
    // An hour ahead in another offset is the same moment.
    let later = time::OffsetDateTime::parse(&last, &time::format_description::well_known::Rfc3339).unwrap()
        + time::Duration::seconds(2);
    let in_paris = later
        .to_offset(time::macros::offset!(+1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    assert!(trail(&app, &admin, &format!("?since={}", in_paris.replace('+', "%2B"))).await.is_empty());
    assert_eq!(
        trail(&app, &admin, &format!("?until={}", in_paris.replace('+', "%2B"))).await.len(),
        all.len()
    );

    for (query, field) in [("?since=yesterday", "since"), ("?action=Machine.Start", "action")] {
        let r = app.call("GET", &format!("/api/v1/audit{query}"), Some(&admin), None).await;
        assert_eq!(
            (r.status, r.body["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{query}"
        );
    }
}
