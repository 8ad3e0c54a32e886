//! Images live on nodes; the backend asks the nodes rather than keeping a copy that could go
//! stale. A node that does not answer is left out of the list, not an error for the whole.

use corral_api::bridge::BridgeImageImport;
use corral_api::machine::{ImageImport, NodeImage};
use corral_api::node::NodeStatus;
use corral_api::task::Task;
use futures::future::join_all;

use crate::auth::Actor;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::nodes;

/// Every image on every online node. Any logged-in user may see them: they choose from them.
pub async fn image_list(state: &AppState, _actor: &Actor) -> Result<Vec<NodeImage>, ApiError> {
    let all = nodes::node_list(&state.db).await?;
    let lists = join_all(all.iter().filter(|n| n.status == NodeStatus::Online).map(|n| async move {
        let Some(client) = state.nodes.get(n.id) else { return Vec::new() };
        match client.image_list().await {
            Ok(images) => images
                .into_iter()
                .map(|image| NodeImage { node_id: n.id, node_name: n.name.clone(), image })
                .collect(),
            Err(e) => {
                tracing::warn!(node = %n.name, error = %e, "listing images");
                Vec::new()
            }
        }
    }))
    .await;
    let mut out: Vec<NodeImage> = lists.into_iter().flatten().collect();
    out.sort_by(|a, b| a.image.name.cmp(&b.image.name).then(a.node_name.cmp(&b.node_name)));
    Ok(out)
}

/// Starts an import on a node (admins only) and returns its task, already mirrored.
pub async fn image_import(state: &AppState, actor: &Actor, req: ImageImport) -> Result<Task, ApiError> {
    if !actor.is_admin {
        return Err(ApiError::Forbidden("importing images is for administrators".into()));
    }
    corral_api::validate::image_import(&req)?;
    let node = nodes::node_get(&state.db, req.node_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("node {}", req.node_id)))?;
    let client = super::on_node::client_for(state, actor, node.id, &node.name)?;
    let import = BridgeImageImport { name: req.name, source: req.source, sha256: req.sha256 };
    let task = client.image_import(&import).await.map_err(|e| ApiError::from_node(&node.name, e))?;
    // Mirrored now, so the answer can be followed at once even before its event arrives.
    crate::nodes::reconciler::sync_task(state, node.id, &task)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("task {} vanished", task.id)))
}
