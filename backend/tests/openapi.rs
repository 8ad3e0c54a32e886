//! The OpenAPI document is checked in at docs/openapi.json so that a change to the wire shows
//! in review. Run with `UPDATE_OPENAPI=1` to accept a deliberate change.

#[test]
fn openapi_document_matches_the_checked_in_copy() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
    let now = corral::routes::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &now).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == now,
        "the API changed: review it, then run `UPDATE_OPENAPI=1 cargo test -p corral --test openapi` \
         and commit docs/openapi.json"
    );
}

#[test]
fn every_route_is_documented_with_its_error_body() {
    let doc: serde_json::Value = serde_json::from_str(&corral::routes::openapi_json()).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for want in [
        "/api/v1/session",
        "/api/v1/machines",
        "/api/v1/machines/{id}",
        "/api/v1/machines/{id}/start",
        "/api/v1/machines/{id}/stop",
        "/api/v1/machines/{id}/reboot",
        "/api/v1/nodes",
        "/api/v1/nodes/{id}",
        "/api/v1/events",
        "/api/v1/images",
        "/api/v1/tasks",
        "/api/v1/tasks/{id}",
        "/api/v1/machines/{id}/snapshots",
        "/api/v1/machines/{id}/snapshots/{name}",
        "/api/v1/machines/{id}/snapshots/{name}/rollback",
        "/api/v1/machines/{id}/snapshots/{name}/clone",
        "/api/v1/machines/{id}/force-stop",
        "/api/v1/machines/{id}/reset",
        "/api/v1/machines/{id}/pause",
        "/api/v1/machines/{id}/resume",
    ] {
        assert!(paths.contains_key(want), "{want} missing from the OpenAPI document");
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}
