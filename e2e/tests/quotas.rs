//! A snapshot quota on a real qemu node: snapshots are counted on the node, and the one past
//! the limit is refused saying so.

use corral_e2e::TinyGuest;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_quota_counts_the_nodes_snapshots() {
    let guest = TinyGuest::start("snappy", None).await;
    let (api, id) = (&guest.api, guest.machine);
    let m = api.machine(id).await.unwrap();
    let tenant = m.tenant_id.unwrap();
    let quota = format!("/api/v1/tenants/{tenant}/quota");
    let r = api.send("PUT", &quota, Some(json!({"snapshots": 1}))).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let snap = |name: &str| json!({"name": name, "ram": false});
    let r = api.send("POST", &format!("/api/v1/machines/{id}/snapshots"), Some(snap("first"))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = api.send("POST", &format!("/api/v1/machines/{id}/snapshots"), Some(snap("second"))).await;
    assert_eq!((r.status, r.body["field"].as_str()), (403, Some("snapshots")), "{:?}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("quota is 1 snapshots"), "{:?}", r.body);
    let q = api.send("GET", &quota, None).await;
    assert_eq!(
        (q.body["used"]["snapshots"].as_u64(), q.body["limits"]["snapshots"].as_u64()),
        (Some(1), Some(1))
    );
}
