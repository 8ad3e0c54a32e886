//! What guests are given at boot: users' SSH keys (each user manages their own), and each
//! machine's cloud-init data (hostname, chosen keys, user data, a static address), made at
//! create, shown to whoever sees the machine (the user data only to its operators and
//! owners: it may hold secrets), changed by its owners for the next boot.

use corral_api::bridge::BridgeMachineUpdate;
use corral_api::guest::{
    GuestInit, GuestInitView, SshKey, SshKeyCreate, UserData, UserDataKind, UserDataSummary, instance_id,
};
use corral_api::machine::{Machine, MachineCreate, MachineKind, MachineState};
use corral_api::session::Role;
use corral_api::{MachineId, SshKeyId, validate};
use russh::keys::{HashAlg, PublicKey};

use super::on_node::client_for;
use crate::auth::Actor;
use crate::db::is_unique_violation;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::guests::{self, Guest, KeyCopy};

pub async fn ssh_key_list(state: &AppState, actor: &Actor) -> Result<Vec<SshKey>, ApiError> {
    Ok(guests::keys_of(&state.db, actor.id).await?)
}

/// Keeps a public key of the caller's, checked by the shared rules and then parsed whole.
pub async fn ssh_key_create(state: &AppState, actor: &Actor, req: SshKeyCreate) -> Result<SshKey, ApiError> {
    validate::ssh_key_name(&req.name)?;
    let line = validate::ssh_public_key(&req.public_key)?;
    let key = PublicKey::from_openssh(line).map_err(|e| ApiError::Validation {
        field: "public_key".into(),
        message: format!("not a public key OpenSSH would read: {e}"),
    })?;
    let fingerprint = key.fingerprint(HashAlg::Sha256).to_string();
    if guests::keys_of(&state.db, actor.id).await?.len() >= validate::SSH_KEYS_PER_USER_MAX {
        return Err(ApiError::Conflict(format!(
            "you keep {} keys already: delete one first",
            validate::SSH_KEYS_PER_USER_MAX
        )));
    }
    let id = SshKeyId::new_random();
    guests::key_insert(&state.db, actor.id, id, &req.name, line, &fingerprint).await.map_err(|e| {
        if is_unique_violation(&e) {
            ApiError::AlreadyExists(format!("you keep this key already ({fingerprint})"))
        } else {
            e.into()
        }
    })
}

pub async fn ssh_key_delete(state: &AppState, actor: &Actor, id: SshKeyId) -> Result<(), ApiError> {
    match guests::key_delete(&state.db, actor.id, id).await? {
        true => Ok(()),
        false => Err(ApiError::NotFound(format!("SSH key {id}"))),
    }
}

/// User data the guest can use: the shared rules, then (for `#cloud-config`) a YAML mapping.
fn checked_user_data(text: &str) -> Result<UserDataKind, ApiError> {
    let kind = validate::user_data(text)?;
    if kind == UserDataKind::CloudConfig {
        let bad = |message: String| ApiError::Validation { field: "user_data".into(), message };
        match serde_norway::from_str::<serde_norway::Value>(text) {
            Ok(serde_norway::Value::Mapping(_) | serde_norway::Value::Null) => {}
            Ok(_) => return Err(bad("#cloud-config is a YAML mapping, such as packages: [htop]".into())),
            Err(e) => return Err(bad(format!("#cloud-config that is not YAML: {e}"))),
        }
    }
    Ok(kind)
}

/// What a new machine's guest is given, or `None` when there is nothing to give: a zone
/// and a VM made from a disk image always get their hostname (and whatever else was asked);
/// a blank or installer VM only what was asked for. The keys must be the caller's own.
pub async fn guest_for_create(
    state: &AppState,
    actor: &Actor,
    req: &MachineCreate,
) -> Result<Option<Guest>, ApiError> {
    if let Some(u) = &req.user_data {
        checked_user_data(u.as_str())?;
    }
    let mine =
        if req.ssh_key_ids.is_empty() { Vec::new() } else { guests::keys_of(&state.db, actor.id).await? };
    let mut keys = Vec::with_capacity(req.ssh_key_ids.len());
    for id in &req.ssh_key_ids {
        let key = mine.iter().find(|k| k.id == *id).ok_or_else(|| ApiError::Validation {
            field: "ssh_key_ids".into(),
            message: format!("you keep no SSH key with id {id}"),
        })?;
        keys.push(KeyCopy {
            name: key.name.clone(),
            fingerprint: key.fingerprint.clone(),
            public_key: key.public_key.clone(),
        });
    }
    let from_disk_image =
        req.image.as_deref().is_some_and(|i| !i.ends_with(".iso")) || req.kind == MachineKind::Zone;
    let asked =
        !keys.is_empty() || req.user_data.is_some() || req.hostname.is_some() || req.network.is_some();
    if !asked && !from_disk_image {
        return Ok(None);
    }
    Ok(Some(Guest {
        hostname: req.hostname.clone().unwrap_or_else(|| req.name.clone()),
        ssh_keys: keys,
        user_data: req.user_data.clone(),
        network: req.network.clone(),
        revision: 1,
    }))
}

/// The guest data as the node is told it.
pub fn init_of(machine: MachineId, g: &Guest) -> GuestInit {
    GuestInit {
        instance_id: instance_id(machine, g.revision),
        hostname: g.hostname.clone(),
        ssh_keys: g.ssh_keys.iter().map(|k| k.public_key.clone()).collect(),
        user_data: g.user_data.clone(),
        network: g.network.clone(),
    }
}

/// A clone's guest data: the source's, as a new instance; a hostname that was the source's
/// name becomes the clone's, and a static address is not copied (two machines on one
/// network would hold it): the clone asks DHCP.
pub fn guest_for_clone(source: &Machine, g: &Guest, clone_name: &str) -> Guest {
    let hostname = if g.hostname == source.name { clone_name.to_string() } else { g.hostname.clone() };
    Guest { hostname, revision: 1, network: None, ..g.clone() }
}

fn view(g: &Guest) -> GuestInitView {
    GuestInitView {
        hostname: g.hostname.clone(),
        ssh_keys: g.ssh_keys.iter().map(KeyCopy::given).collect(),
        user_data: g.user_data.as_ref().and_then(|u| {
            Some(UserDataSummary {
                kind: validate::user_data(u.as_str()).ok()?,
                bytes: u32::try_from(u.as_str().len()).unwrap_or(u32::MAX),
            })
        }),
        network: g.network.clone(),
        revision: g.revision,
    }
}

/// What the machine's guest was given (whoever sees the machine).
pub async fn guest_get(state: &AppState, actor: &Actor, m: &Machine) -> Result<GuestInitView, ApiError> {
    actor.require_machine(m, Role::Viewer)?;
    match guests::guest_get(&state.db, m.id).await? {
        Some(g) => Ok(view(&g)),
        None => Err(ApiError::NotFound(format!("machine {} was given no guest data", m.name))),
    }
}

/// The user data itself (operators and owners).
pub async fn user_data_get(state: &AppState, actor: &Actor, m: &Machine) -> Result<UserData, ApiError> {
    actor.require_machine(m, Role::Operator)?;
    let g = guests::guest_get(&state.db, m.id).await?;
    Ok(UserData { user_data: g.and_then(|g| g.user_data) })
}

/// New user data for the next boot (owners): a new revision, so a new instance id, which
/// cloud-init takes as a new instance and applies. The revision is taken in the database
/// first (two changes at once cannot share one); if the node then cannot write the data,
/// the old data go back under the new revision, never reused for other data.
pub async fn user_data_set(
    state: &AppState,
    actor: &Actor,
    m: &Machine,
    req: UserData,
) -> Result<GuestInitView, ApiError> {
    actor.require_machine(m, Role::Owner)?;
    if matches!(m.state, MachineState::Creating | MachineState::Deleting) {
        return Err(ApiError::Conflict(format!(
            "machine {} is {}; change its user data once it is made",
            m.name, m.state
        )));
    }
    if let Some(u) = &req.user_data {
        checked_user_data(u.as_str())?;
    }
    let before = match guests::guest_get(&state.db, m.id).await? {
        Some(g) => g,
        None => {
            let first = Guest {
                hostname: m.name.clone(),
                ssh_keys: vec![],
                user_data: None,
                network: None,
                revision: 0,
            };
            guests::guest_put(&state.db, m.id, &first).await?;
            first
        }
    };
    if !guests::user_data_bump(&state.db, m.id, before.revision, req.user_data.as_ref()).await? {
        return Err(ApiError::Conflict("the user data changed meanwhile: look again, then change it".into()));
    }
    let next = Guest { user_data: req.user_data, revision: before.revision + 1, ..before.clone() };
    let update = BridgeMachineUpdate { init: Some(init_of(m.id, &next)), ..Default::default() };
    let sent = match client_for(state, actor, m.node_id, &m.node_name) {
        Ok(client) => {
            client.machine_update(m.id, &update).await.map_err(|e| ApiError::from_node(&m.node_name, e))
        }
        Err(e) => Err(e),
    };
    if let Err(e) = sent {
        guests::user_data_restore(&state.db, m.id, next.revision, before.user_data.as_ref()).await?;
        return Err(e);
    }
    tracing::info!(machine = %m.id, revision = next.revision, by = %actor.username, "guest user data changed");
    Ok(view(&next))
}
