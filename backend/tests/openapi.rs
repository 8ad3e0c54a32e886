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
        "/api/v1/machines/{id}/metrics",
        "/api/v1/nodes/{id}/metrics",
    ] {
        assert!(paths.contains_key(want), "{want} missing from the OpenAPI document");
    }
    // Every error answer of every operation carries the shared error body.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            for (status, resp) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &resp["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(schema, "#/components/schemas/ErrorBody", "{method} {path} {status}");
                }
            }
        }
    }
}

#[test]
fn the_document_states_every_rule_the_server_enforces() {
    let mut raw = serde_json::to_value(corral::routes::api().1).unwrap();
    corral::routes::document::complete(&mut raw).expect("every rule names a field of the document");
    let doc = corral::routes::openapi_document();
    let schemas = &doc["components"]["schemas"];
    for (schema, field, limit) in corral_api::validate::FIELD_LIMITS {
        let prop = &schemas[schema]["properties"][field];
        match limit {
            corral_api::validate::Limit::Text { max, pattern, .. } => {
                assert_eq!(prop["maxLength"], *max, "{schema}.{field}");
                assert_eq!(prop["pattern"].as_str(), *pattern, "{schema}.{field}");
            }
            corral_api::validate::Limit::Int { max, .. } => {
                assert_eq!(prop["maximum"], *max, "{schema}.{field}")
            }
            corral_api::validate::Limit::Number { min, max } => {
                assert_eq!(
                    (prop["minimum"].as_f64(), prop["maximum"].as_f64()),
                    (Some(*min), Some(*max)),
                    "{schema}.{field}"
                )
            }
            corral_api::validate::Limit::Items { max, .. } => {
                assert_eq!(prop["maxItems"], *max, "{schema}.{field}")
            }
        }
    }
    assert_eq!(schemas["MachineCreate"]["additionalProperties"], false);
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let public =
                corral::policy::need(&method.to_uppercase(), path) == Some(corral::policy::Need::Public);
            let responses = op["responses"].as_object().unwrap();
            assert!(public || responses.contains_key("401"), "{method} {path}");
            for p in op["parameters"].as_array().into_iter().flatten() {
                assert!(responses.contains_key("400"), "{method} {path}: parameters but no 400");
                match p["in"].as_str().unwrap() {
                    "path" => assert!(
                        p["schema"]["pattern"].is_string() || p["schema"]["$ref"].is_string(),
                        "{method} {path} {p}"
                    ),
                    "query" => assert!(!p["schema"].to_string().contains("null"), "{method} {path} {p}"),
                    _ => {}
                }
            }
            if op.get("requestBody").is_some() {
                assert!(responses.contains_key("413") && responses.contains_key("422"), "{method} {path}");
            }
        }
    }
}
