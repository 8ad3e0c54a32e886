//! The OpenAPI document as served and checked in: what utoipa derives from the routes,
//! completed with what it cannot see, so clients and fuzzers know every rule the server
//! enforces:
//!
//! - each request field's limits (`minLength`, `maxLength`, `pattern`, `minimum`,
//!   `maximum`, `maxItems`), from `corral_api::validate::FIELD_LIMITS`, the table of the
//!   constants the validators themselves use; request bodies take no other fields;
//! - path parameters as the policy gate reads them (ids as lowercase hyphenated UUIDs, names
//!   of letters, digits, `.`, `_`, `-`), and query parameters never null (absent is none);
//! - the error answers every route can give besides its own: 400 for input that does not
//!   parse, 401 without a login, 403 from the gate or the Origin check, 404 for what a path
//!   names, 413 for a body over the cap, 422 for a field or parameter that breaks a rule;
//! - links from each create to the operations that take what it made, so a client (and the
//!   fuzzer's stateful phase) can follow a machine, snapshot, tenant, user or token from its
//!   birth to its deletion.

use corral_api::validate::{self, FIELD_LIMITS, Limit};
use serde_json::{Map, Value, json};

use crate::policy::{self, Need};

/// How ids are spelled in paths (anything else is 400 at the gate).
const ID_PATTERN: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// Other path parameters, as the gate accepts them.
const PARAM_PATTERN: &str = "^[A-Za-z0-9._-]+$";

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } }
    })
}

fn set_limit(schema: &mut Map<String, Value>, limit: Limit) {
    match limit {
        Limit::Text { min, max, pattern } => {
            schema.insert("minLength".into(), min.into());
            schema.insert("maxLength".into(), max.into());
            if let Some(p) = pattern {
                schema.insert("pattern".into(), p.into());
            }
        }
        Limit::Int { min, max } => {
            schema.insert("minimum".into(), min.into());
            schema.insert("maximum".into(), max.into());
        }
        Limit::Number { min, max } => {
            schema.insert("minimum".into(), min.into());
            schema.insert("maximum".into(), max.into());
        }
        Limit::Items { max, unique } => {
            schema.insert("maxItems".into(), max.into());
            if unique {
                schema.insert("uniqueItems".into(), true.into());
            }
        }
    }
}

/// A parameter's schema without `null`: an absent query parameter is the `None`.
fn not_null(schema: &mut Value) {
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types[0].clone();
            schema["type"] = only;
        }
    }
    if let Some(Value::Array(one_of)) = schema.get("oneOf").cloned() {
        let kept: Vec<Value> = one_of.into_iter().filter(|s| s.get("type") != Some(&json!("null"))).collect();
        if kept.len() == 1 {
            *schema = kept[0].clone();
        }
    }
}

fn complete_parameter(p: &mut Value, path: &str) {
    let name = p["name"].as_str().unwrap_or_default().to_string();
    match p["in"].as_str() {
        Some("path") => {
            let is_ref_to_id = p["schema"]["$ref"].as_str().is_some_and(|r| r.ends_with("Id"));
            if is_ref_to_id {
                p["schema"] = json!({ "type": "string", "format": "uuid", "pattern": ID_PATTERN });
            } else if p["schema"]["type"] == "string" {
                let snapshot = name == "name" && path.contains("/snapshots/");
                p["schema"] = if snapshot {
                    json!({ "type": "string", "minLength": 1, "maxLength": validate::SNAPSHOT_NAME_MAX_LEN,
                            "pattern": validate::SNAPSHOT_NAME_PATTERN })
                } else {
                    json!({ "type": "string", "minLength": 1, "maxLength": 100, "pattern": PARAM_PATTERN })
                };
            }
        }
        Some("query") => {
            not_null(&mut p["schema"]);
            if name == "limit"
                && let Some(s) = p["schema"].as_object_mut()
            {
                set_limit(s, Limit::Int { min: 1, max: u64::from(validate::AUDIT_PAGE_MAX) });
            }
            if name == "ticket"
                && let Some(s) = p["schema"].as_object_mut()
            {
                set_limit(s, Limit::Text { min: 1, max: 100, pattern: None });
            }
        }
        Some("header") if name.eq_ignore_ascii_case("Idempotency-Key") => {
            not_null(&mut p["schema"]);
            if let Some(s) = p["schema"].as_object_mut() {
                let max = validate::IDEMPOTENCY_KEY_MAX_LEN;
                set_limit(s, Limit::Text { min: 1, max, pattern: Some(validate::IDEMPOTENCY_KEY_PATTERN) });
            }
        }
        _ => {}
    }
}

/// What a create makes and where its id goes.
struct Link {
    /// The create's path (a POST) and its success status.
    create: &'static str,
    status: &'static str,
    /// Where the new id is in its answer (a JSON pointer).
    id_at: &'static str,
    /// The paths under this prefix take the id, as this parameter.
    targets: &'static str,
    param: &'static str,
    /// A path parameter of the create that the targets need too.
    carried: Option<&'static str>,
}

const fn link(
    create: &'static str,
    id_at: &'static str,
    targets: &'static str,
    param: &'static str,
    carried: Option<&'static str>,
) -> Link {
    Link { create, status: "201", id_at, targets, param, carried }
}

const LINKS: &[Link] = &[
    link("/api/v1/machines", "/id", "/api/v1/machines/{id}", "id", None),
    link(
        "/api/v1/machines/{id}/snapshots",
        "/name",
        "/api/v1/machines/{id}/snapshots/{name}",
        "name",
        Some("id"),
    ),
    link("/api/v1/machines/{id}/snapshots/{name}/clone", "/id", "/api/v1/machines/{id}", "id", None),
    link("/api/v1/tenants", "/id", "/api/v1/tenants/{id}", "id", None),
    link("/api/v1/users", "/user/id", "/api/v1/users/{id}", "id", None),
    link("/api/v1/tokens", "/info/id", "/api/v1/tokens/{id}", "id", None),
];

/// Adds the links of `LINKS` to the creates' answers.
fn add_links(doc: &mut Value) {
    let targets: Vec<(String, String, String)> = doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, ops)| {
            ops.as_object().into_iter().flatten().filter_map(move |(method, op)| {
                Some((path.clone(), method.clone(), op["operationId"].as_str()?.to_string()))
            })
        })
        .collect();
    for Link { create: from, status, id_at: pointer, targets: prefix, param, carried } in LINKS {
        let mut links = Map::new();
        for (path, _, operation) in targets.iter().filter(|(p, _, _)| p.starts_with(prefix)) {
            let mut parameters = Map::new();
            parameters.insert((*param).into(), format!("$response.body#{pointer}").into());
            if let Some(c) = carried {
                parameters.insert((*c).into(), format!("$request.path.{c}").into());
            }
            // Other parameters of deeper paths (a snapshot's name) come from their own creates.
            let depth_ok = path.matches('{').count() == 1 + usize::from(carried.is_some());
            if depth_ok {
                links
                    .insert(operation.clone(), json!({ "operationId": operation, "parameters": parameters }));
            }
        }
        if let Some(resp) =
            doc.pointer_mut(&format!("/paths/{}/post/responses/{status}", from.replace('/', "~1")))
            && let Some(resp) = resp.as_object_mut()
            && !links.is_empty()
        {
            resp.insert("links".into(), Value::Object(links));
        }
    }
}

/// Adds what the document cannot derive; fails naming a rule whose field is not in it.
pub fn complete(doc: &mut Value) -> Result<(), String> {
    for (schema, field, limit) in FIELD_LIMITS {
        let prop = doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
            .and_then(Value::as_object_mut)
            .ok_or_else(|| format!("FIELD_LIMITS names {schema}.{field}, which the document lacks"))?;
        set_limit(prop, *limit);
    }
    let mut bodies = Vec::new();
    let paths = doc["paths"].as_object_mut().ok_or("the document has no paths")?;
    for (path, ops) in paths.iter_mut() {
        let Some(ops) = ops.as_object_mut() else { continue };
        for (method, op) in ops.iter_mut() {
            let rule = policy::rule_for(&method.to_uppercase(), path)
                .ok_or_else(|| format!("{method} {path} has no policy rule"))?;
            let mut has_params = false;
            if let Some(Value::Array(params)) = op.get_mut("parameters") {
                for p in params.iter_mut() {
                    complete_parameter(p, path);
                }
                has_params = !params.is_empty();
            }
            let body =
                op.pointer("/requestBody/content/application~1json/schema/$ref").and_then(Value::as_str);
            if let Some(r) = body {
                bodies.push(r.trim_start_matches("#/components/schemas/").to_string());
            }
            let mutates = method != "get" && method != "head";
            let websocket = op.pointer("/responses/101").is_some();
            let mut add = Vec::new();
            if has_params || body.is_some() || websocket {
                add.push((
                    "400",
                    "the path, query or body does not parse, or a websocket route was not asked to upgrade",
                ));
            }
            if rule.need != Need::Public {
                add.push(("401", "not logged in"));
            }
            if mutates || !matches!(rule.need, Need::Public | Need::LoggedIn) {
                add.push(("403", "refused: role, administrators only, or another origin"));
            }
            if websocket {
                add.push(("429", "the caller has too many consoles and event streams open"));
            }
            if path.contains('{') {
                add.push(("404", "what the path names does not exist, or is not the caller's to see"));
            }
            if body.is_some() {
                add.push(("413", "the body is larger than the route accepts"));
            }
            if has_params || body.is_some() {
                add.push(("422", "a field or parameter breaks a rule; `field` names it"));
            }
            let responses =
                op["responses"].as_object_mut().ok_or_else(|| format!("{method} {path} has no responses"))?;
            for (status, description) in add {
                responses.entry(status).or_insert_with(|| error_response(description));
            }
        }
    }
    add_links(doc);
    // Request bodies take only their own fields (every input type denies unknown ones).
    for name in bodies.iter().chain(["PortForward".to_string()].iter()) {
        if let Some(s) =
            doc.pointer_mut(&format!("/components/schemas/{name}")).and_then(Value::as_object_mut)
        {
            s.insert("additionalProperties".into(), false.into());
        }
    }
    Ok(())
}
