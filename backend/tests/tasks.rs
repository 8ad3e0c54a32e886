//! Mirrored tasks: machine creates show up as tasks, and ended tasks older than the keeping
//! period are pruned while running ones stay.

mod common;

use common::TestApp;
use corral::store::tasks;
use hyper::StatusCode;

#[tokio::test]
async fn ended_tasks_are_pruned_and_running_ones_kept() {
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    for name in ["t1", "t2"] {
        let body =
            serde_json::json!({"name": name, "vcpus": 1, "memory_mib": 128, "disk_gib": 1}).to_string();
        let r = app.call("POST", "/api/v1/machines", Some(&admin), Some(&body)).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let listed = || async {
        app.call("GET", "/api/v1/tasks", Some(&admin), None)
            .await
            .body
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    app.wait_for(|| async {
        listed().await.iter().filter(|t| t["kind"] == "machine_create" && t["state"] == "succeeded").count()
            == 2
    })
    .await;

    // Age every task by a year, and pretend one of them still runs.
    sqlx::query("UPDATE tasks SET updated_at = '2025-01-01T00:00:00Z'").execute(&app.state.db).await.unwrap();
    let running = listed().await[0]["id"].as_str().unwrap().to_string();
    sqlx::query("UPDATE tasks SET state = 'running' WHERE id = $1")
        .bind(&running)
        .execute(&app.state.db)
        .await
        .unwrap();
    assert_eq!(tasks::tasks_prune(&app.state.db, "2026-01-01T00:00:00Z").await.unwrap(), 1);
    let left: Vec<String> = listed().await.iter().map(|t| t["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(left, vec![running], "only the running task stays");
    assert_eq!(tasks::tasks_prune(&app.state.db, "2026-01-01T00:00:00Z").await.unwrap(), 0);
}

/// An ended task stays ended: the report sent while it ran (the answer to the request that
/// started it) may arrive after the one that says how it ended, and must not bring it back
/// to `running` (an image import once stayed `running` for good that way). Neither is the
/// late report a broken rule of the node.
#[tokio::test]
async fn a_late_running_report_never_revives_an_ended_task() {
    use corral_api::task::{BridgeTask, TaskState};
    let app = TestApp::start().await;
    let report = |state: TaskState, progress: u8| BridgeTask {
        id: "0a1b2c3d-0000-4000-8000-0000000000aa".parse().unwrap(),
        kind: "image_import".into(),
        machine_id: None,
        target: "big.qcow2".into(),
        state,
        steps: vec![],
        progress,
        log: vec![],
        result: None,
        error: None,
        started_at: "2026-12-06T21:00:00Z".into(),
        finished_at: (state != TaskState::Running).then(|| "2026-12-06T21:00:01Z".into()),
    };
    let sync = |t: BridgeTask| {
        let app = &app;
        async move { corral::nodes::reconciler::sync_task(&app.state, app.node_id, &t).await.unwrap() }
    };
    assert_eq!(sync(report(TaskState::Running, 0)).await.unwrap().task.state, TaskState::Running);
    assert_eq!(sync(report(TaskState::Failed, 40)).await.unwrap().task.state, TaskState::Failed);
    let late = sync(report(TaskState::Running, 0)).await.expect("taken, not a broken rule");
    assert_eq!((late.task.state, late.task.progress), (TaskState::Failed, 40));
    let stored = tasks::task_get(&app.state.db, late.task.id).await.unwrap().unwrap();
    assert_eq!(stored.task.state, TaskState::Failed);
    assert_eq!(app.node().await.rule_breaks, 0);
}

/// The task log says who asked for each task: the node starts it and knows no users, so the
/// backend records the asker as the node answers. A deleted user's name stays; a task the
/// node reports that nobody here asked for has none; pruning takes the record with the task.
#[tokio::test]
async fn each_task_names_who_asked_for_it() {
    use corral_api::session::Role;
    let app = TestApp::start().await;
    let admin = app.login_admin().await;
    let tenant = app.call("GET", "/api/v1/tenants", Some(&admin), None).await.body[0]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let (olive, olive_id) = app.user_in(tenant, "olive", Role::Owner).await;
    let id = app.machine(&admin, "asked").await;
    let body = serde_json::json!({"name": "first", "ram": false}).to_string();
    let r = app.call("POST", &format!("/api/v1/machines/{id}/snapshots"), Some(&olive), Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let listed = || async { app.call("GET", "/api/v1/tasks", Some(&admin), None).await.body };
    let by = |tasks: &serde_json::Value, kind: &str| {
        tasks.as_array().unwrap().iter().find(|t| t["kind"] == kind).map(|t| t["started_by"].clone())
    };
    // The node's report of each task reaches the list on its own time.
    app.wait_for(|| async {
        let tasks = listed().await;
        by(&tasks, "machine_create").is_some() && by(&tasks, "snapshot_create").is_some()
    })
    .await;
    let tasks = listed().await;
    assert_eq!(by(&tasks, "machine_create"), Some(serde_json::json!("admin")));
    assert_eq!(by(&tasks, "snapshot_create"), Some(serde_json::json!("olive")));

    let r = app.call("DELETE", &format!("/api/v1/users/{olive_id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_eq!(
        by(&listed().await, "snapshot_create"),
        Some(serde_json::json!("olive")),
        "the name outlives the user"
    );

    // A task the node reports by itself (here, straight into the mirror) names nobody.
    let own = corral_api::task::BridgeTask {
        id: "0a1b2c3d-0000-4000-8000-0000000000bb".parse().unwrap(),
        kind: "image_import".into(),
        machine_id: None,
        target: "own.qcow2".into(),
        state: corral_api::task::TaskState::Succeeded,
        steps: vec![],
        progress: 100,
        log: vec![],
        result: None,
        error: None,
        started_at: "2026-12-06T21:00:00Z".into(),
        finished_at: Some("2026-12-06T21:00:01Z".into()),
    };
    let t = corral::nodes::reconciler::sync_task(&app.state, app.node_id, &own).await.unwrap().unwrap();
    assert_eq!(t.started_by, None);

    sqlx::query("UPDATE tasks SET updated_at = '2025-01-01T00:00:00Z'").execute(&app.state.db).await.unwrap();
    sqlx::query("UPDATE task_starters SET created_at = '2025-01-01T00:00:00Z'")
        .execute(&app.state.db)
        .await
        .unwrap();
    tasks::tasks_prune(&app.state.db, "2026-01-01T00:00:00Z").await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM task_starters").fetch_one(&app.state.db).await.unwrap();
    assert_eq!(left, 0, "who asked goes with the task");
}
