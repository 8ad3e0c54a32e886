//! The one way tests make a person: a user with a role in a tenant, made through the API as
//! an administrator would (so the rules for users and tenants apply to test data too),
//! whether the API is the backend's router in-process or a real server over HTTP.

use std::future::Future;

use corral_api::session::Role;
use corral_api::{TenantId, UserId};
use serde_json::{Value, json};

/// Every test person's password (long enough for the password rule).
pub const PASSWORD: &str = "a-password-for-tests";

/// An administrator's session on some API.
pub trait AdminApi {
    /// POSTs `body` to `path` as the administrator: the answer's status and body.
    fn admin_post(&self, path: &str, body: Value) -> impl Future<Output = (u16, Value)>;
}

/// A person made by [`person`]; they log in with [`PASSWORD`].
#[derive(Clone, Debug)]
pub struct Person {
    pub username: String,
    pub user_id: UserId,
    pub tenant_id: TenantId,
}

/// Makes `username` with `role` in `tenant`, or in a new tenant `t-<username>` when `None`.
pub async fn person(admin: &impl AdminApi, username: &str, role: Role, tenant: Option<TenantId>) -> Person {
    let tenant_id = match tenant {
        Some(t) => t,
        None => {
            let (status, body) =
                admin.admin_post("/api/v1/tenants", json!({"name": format!("t-{username}")})).await;
            assert_eq!(status, 201, "making the tenant of {username}: {body}");
            id(&body["id"])
        }
    };
    let user = json!({"username": username, "password": PASSWORD, "tenant_id": tenant_id, "role": role});
    let (status, body) = admin.admin_post("/api/v1/users", user).await;
    assert_eq!(status, 201, "making {username}: {body}");
    Person { username: username.to_string(), user_id: id(&body["user"]["id"]), tenant_id }
}

fn id<T: serde::de::DeserializeOwned>(v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{v} is not an id: {e}"))
}
