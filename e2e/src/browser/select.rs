//! What the browser tests look for on the console's pages, by the `data-test` names the
//! frontend gives them: one place to change when a page changes.

// The login page.
pub const LOGIN_USERNAME: &str = "[data-test=login-username]";
pub const LOGIN_PASSWORD: &str = "[data-test=login-password]";
pub const LOGIN_SUBMIT: &str = "[data-test=login-submit]";
/// The page's error banner.
pub const ERROR: &str = "[data-test=error]";

// Every page once logged in.
pub const CURRENT_USER: &str = "[data-test=current-user]";
pub const LINK_STATE: &str = "[data-test=link-state]";
pub const NODE_STATUS: &str = "[data-test=node-status]";
/// The green banner an action leaves.
pub const BANNER_OK: &str = ".banner.ok";

// The machine list and the create form.
pub const NEW_MACHINE: &str = "[data-test=new-machine]";
pub const MACHINE_TABLE: &str = "[data-test=machine-table]";
pub const CREATE_NAME: &str = "[data-test=create-name]";
pub const CREATE_IMAGE_OPTION: &str = "[data-test=create-image] option";
pub const CREATE_MEMORY: &str = "[data-test=create-memory]";
pub const CREATE_DISK: &str = "[data-test=create-disk]";
pub const CREATE_FORWARDS: &str = "[data-test=create-forwards]";
pub const CREATE_FORWARDS_ERROR: &str = "label:has([data-test=create-forwards]) .field-error";
pub const CREATE_SUBMIT: &str = "[data-test=create-submit]";
/// The create form's choice of a zone rather than a VM.
pub const CREATE_KIND_ZONE: &str = "[data-test=create-kind-zone]";
/// The kind cell of a row in the machine list; the kind on a machine's page.
pub const MACHINE_KIND: &str = "[data-test=machine-kind]";
/// A zone's system (os, release, init) and storage on its machine page.
pub const ZONE_OS: &str = "[data-test=zone-os]";
pub const ZONE_STORAGE: &str = "[data-test=zone-storage]";
pub const KIND: &str = "[data-test=kind]";
/// The note a zone's snapshot panel shows instead of the RAM box.
pub const SNAPSHOT_FILES_ONLY: &str = "[data-test=snapshot-files-only]";
/// The name's own complaint, under it.
pub const CREATE_NAME_ERROR: &str = "#create-name-error";
pub const CREATE_VCPUS: &str = "[data-test=create-vcpus]";
/// The create form's choice of tenant (admins, owners of several) and its complaint.
pub const CREATE_TENANT: &str = "[data-test=create-tenant]";
pub const CREATE_TENANT_ERROR: &str = "#create-tenant-error";
/// The top bar's tenant switch: a field that finds a tenant by name.
pub const TENANT_SWITCH: &str = "[data-test=tenant-switch]";
/// The list's header button that sorts by `column` (`name`, `tenant`, `memory`, …).
pub fn sort_by(column: &str) -> String {
    format!("[data-test=sort-{column}]")
}
/// The names of the machines as the list shows them, in order.
pub const MACHINE_ROW_NAMES: &str = "[data-test=machine-row] td:not(.tick) a";

/// The list's row for the machine called `name`.
pub fn machine_row(name: &str) -> String {
    format!("[data-test=machine-row][data-name={name}]")
}

// A machine's page.
pub const MACHINE_NAME: &str = "[data-test=machine-name]";
/// The link to a tab of the machine's page (`summary`, `console`, `hardware`, …).
pub fn machine_tab(tab: &str) -> String {
    format!("[data-test=machine-tabs] [data-test=tab-{tab}]")
}
/// The hardware tab's fields (`vcpus`, `memory`, `disk`, `forwards`), save button and errors.
pub fn hardware_field(field: &str) -> String {
    format!("[data-test=hw-{field}]")
}
pub fn hardware_error(field: &str) -> String {
    format!("#hw-{field}-error")
}
pub const HARDWARE_SAVE: &str = "[data-test=hw-save]";
pub const HARDWARE_SAVED: &str = "[data-test=hw-saved]";
pub const HARDWARE_RULE: &str = "[data-test=hardware-rule]";
pub const HEADROOM: &str = "[data-test=headroom]";
pub const MACHINE_SIZE: &str = "[data-test=machine-size]";
pub const MACHINE_TENANT: &str = "[data-test=machine-tenant]";
/// "Running since" (the machine's state) and the age beside it.
pub const STATE_SINCE_LABEL: &str = "[data-test=state-since-label]";
pub const STATE_SINCE: &str = "[data-test=state-since]";
/// What the machine is, its tenant and node, under its name.
pub const MACHINE_SUBTITLE: &str = "[data-test=machine-subtitle]";
pub const POPOUT_TITLE: &str = "[data-test=popout-title]";
pub const STATE: &str = "[data-test=state]";
pub const PORTS: &str = "[data-test=ports]";
pub const START: &str = "[data-test=action-start]";
pub const STOP: &str = "[data-test=action-stop]";
pub const DELETE: &str = "[data-test=action-delete]";
pub const SETTINGS: &str = "[data-test=settings]";
/// Said instead of the controls to someone whose role may only look.
pub const READ_ONLY_NOTE: &str = "[data-test=read-only-note]";
pub const POWER_MENU: &str = "[data-test=power-menu]";
pub const FORCE_STOP: &str = "[data-test=action-force-stop]";

// The question asked before anything destructive.
pub const CONFIRM_OPEN: &str = "[data-test=confirm-dialog][open]";
pub const CONFIRM_TITLE: &str = "[data-test=confirm-dialog][open] h2";
pub const CONFIRM_TYPED: &str = "[data-test=confirm-dialog][open] [data-test=confirm-typed]";
pub const CONFIRM_GO: &str = "[data-test=confirm-dialog][open] [data-test=confirm-go]";
pub const CONFIRM_CANCEL: &str = "[data-test=confirm-dialog][open] [data-test=confirm-cancel]";
pub const SETTINGS_NAME: &str = "[data-test=settings-name]";
pub const SETTINGS_SAVE: &str = "[data-test=settings-save]";
pub const SETTINGS_ERROR: &str = "[data-test=settings] [data-test=error]";

// Its snapshots.
pub const NO_SNAPSHOTS: &str = "[data-test=no-snapshots]";
pub const SNAPSHOT_NAME: &str = "[data-test=snapshot-name]";
pub const SNAPSHOT_TAKE: &str = "[data-test=snapshot-take]";
pub const SNAPSHOT_CONFIRM: &str = "[data-test=snapshot-confirm-go]";

/// The row of the snapshot called `name`.
pub fn snapshot_row(name: &str) -> String {
    format!("[data-test=snapshot-row][data-name={name}]")
}

/// The state of the machine page's task on `target`.
pub fn machine_task_state(target: &str) -> String {
    format!("[data-test=machine-tasks] [data-test=task-row][data-target={target}] [data-test=task-state]")
}

// Its consoles.
pub const CONSOLE_LINK: &str = "[data-test=console-link]";
pub const VNC_SCREEN_CANVAS: &str = "[data-test=vnc-screen] canvas";
pub const VNC_TEXT: &str = "[data-test=vnc-text]";
pub const VNC_TYPE: &str = "[data-test=vnc-type]";
pub const VNC_TYPE_ENTER: &str = "[data-test=vnc-type-enter]";
/// xterm.js's hidden input, where keys typed into the terminal go.
pub const SERIAL_INPUT: &str = "[data-test$=-screen] .xterm-helper-textarea";

/// The button that opens the console of `kind` (`serial`, `vnc`).
pub fn console_open(kind: &str) -> String {
    format!("[data-test=console-open-{kind}]")
}

// Images and tasks.
pub const IMPORT_NAME: &str = "[data-test=import-name]";
pub const IMPORT_SOURCE: &str = "[data-test=import-source]";
pub const IMPORT_SUBMIT: &str = "[data-test=import-submit]";
pub const IMPORT_SHA256: &str = "[data-test=import-sha256]";
pub const IMPORT_TASK_STATE: &str = "[data-test=import-task] [data-test=task-state]";

pub fn image_row(name: &str) -> String {
    format!("[data-test=image-row][data-name='{name}']")
}

/// The task list's state of the task on `target`.
pub fn task_state(target: &str) -> String {
    format!("[data-test=task-row][data-target='{target}'] [data-test=task-state]")
}

/// The task list's "by" cell (who asked) of the task on `target`.
pub fn task_by(target: &str) -> String {
    format!("[data-test=task-row][data-target='{target}'] [data-test=task-by]")
}

// Nodes, on the dashboard.
pub const ADD_NODE: &str = "[data-test=add-node]";
pub const SSH_PUBLIC_KEY: &str = "[data-test=ssh-public-key]";
pub const NODE_PORT: &str = "[data-test=node-port]";
pub const NODE_FETCH_KEY: &str = "[data-test=node-fetch-key]";
pub const NODE_KEY_SHOWN: &str = "[data-test=node-key-shown]";
pub const NODE_ENROLL: &str = "[data-test=node-enroll]";
pub const NODE_KEY_MISMATCH: &str = "[data-test=node-key-mismatch]";
pub const NODE_TRUST_KEY: &str = "[data-test=node-trust-key]";

// A node card's allocation ratios.
pub const RATIOS_OPEN: &str = "details.ratios summary";
pub const RATIO_CPU: &str = "[data-test=ratio-cpu]";
/// The CPU ratio's error (its id carries the node's, as the form repeats per card).
pub const RATIO_CPU_ERROR: &str = "[id^=ratio-cpu-][id$=-error]";
pub const RATIO_SAVE: &str = "[data-test=ratio-save]";

/// A field of the add-node form (`node-name`, `node-host`, …).
pub fn node_field(field: &str) -> String {
    format!("[data-test={field}]")
}

// The admin panel and the account page.
pub const NAV_ADMIN: &str = "[data-test=nav-admin]";
/// The app's name in the top bar, a link to the dashboard.
pub const BRAND: &str = ".topbar .brand";
pub const TENANT_NAME: &str = "[data-test=tenant-name]";
pub const TENANT_TITLE: &str = "[data-test=tenant-title]";
pub const TENANT_RENAME: &str = "[data-test=tenant-rename]";
pub const TENANT_RENAME_SAVE: &str = "[data-test=tenant-rename-save]";
pub const TENANT_DELETE: &str = "[data-test=tenant-delete]";
pub const TENANT_CREATE: &str = "[data-test=tenant-create]";
pub const QUOTA_VCPUS: &str = "[data-test=quota-vcpus]";
pub const QUOTA_MACHINES: &str = "[data-test=quota-machines]";
pub const QUOTA_SAVE: &str = "[data-test=quota-save]";
pub const QUOTA_TABLE: &str = "[data-test=quota-table]";
pub const MEMBER_NEW_NAME: &str = "[data-test=member-new-name]";
pub const MEMBER_NEW_ROLE: &str = "[data-test=member-new-role]";
pub const MEMBER_ADD: &str = "[data-test=member-add]";
pub const NEW_USER_PASSWORD: &str = "[data-test=new-user-password]";
pub const TOKEN_NAME: &str = "[data-test=token-name]";
pub const TOKEN_CREATE: &str = "[data-test=token-create]";
pub const TOKEN_SECRET: &str = "[data-test=token-secret]";

/// The link into the tenant called `name`, on the admin panel.
pub fn tenant_link(name: &str) -> String {
    format!("[data-test=tenant-card][data-name={name}] a")
}

pub fn member_row(name: &str) -> String {
    format!("[data-test=member-row][data-name={name}]")
}

pub fn user_row(name: &str) -> String {
    format!("[data-test=user-row][data-name={name}]")
}

/// An audit row of `action` (`tenant.create`, …).
pub fn audit_row(action: &str) -> String {
    format!("[data-test=audit-row][data-action='{action}']")
}

pub const AUDIT_TARGET: &str = "[data-test=audit-target]";
pub const AUDIT_USER: &str = "[data-test=audit-user]";
pub const AUDIT_ACTION: &str = "[data-test=audit-action]";

pub fn token_row(name: &str) -> String {
    format!("[data-test=token-row][data-name={name}]")
}

// What someone is told instead of a form their role may not use.
pub const CREATE_REFUSED: &str = "[data-test=create-refused]";
pub const USERS_REFUSED: &str = "[data-test=users-refused]";
pub const USER_CREATE: &str = "[data-test=user-create]";
pub const NOT_FOUND: &str = "[data-test=not-found]";
/// The top bar's menu button, shown on narrow screens.
pub const MENU_TOGGLE: &str = "[data-test=menu-toggle]";

// Charts (`name` is the chart's: `cpu`, `memory`, `disk`, `network`, `load`, …).
pub fn chart(name: &str) -> String {
    format!("[data-test=chart][data-name={name}]")
}

pub fn chart_canvas(name: &str) -> String {
    format!("{} canvas", chart(name))
}

pub fn chart_box(name: &str) -> String {
    format!("{} .chart-box", chart(name))
}

pub fn chart_tip(name: &str) -> String {
    format!("{} [data-test=chart-tip]", chart(name))
}

pub fn chart_empty(name: &str) -> String {
    format!("{} [data-test=chart-empty]", chart(name))
}

/// The charts of a sum over machines (a tenant's, the fleet's).
pub const SUM_USAGE: &str = "[data-test=sum-usage]";

/// The chart's download link of `kind` (`svg`, `csv`): there once it has lines.
pub fn chart_download(name: &str, kind: &str) -> String {
    format!("{} [data-test=chart-{kind}]", chart(name))
}

/// A range preset's button (`hour`, `day`, …).
pub fn range(preset: &str) -> String {
    format!("[data-test=range-{preset}]")
}

pub const RANGE_OUT: &str = "[data-test=range-out]";

/// SSH keys on the account page.
pub const SSH_KEY_NAME: &str = "[data-test=ssh-key-name]";
pub const SSH_KEY_TEXT: &str = "[data-test=ssh-key-text]";
pub const SSH_KEY_TEXT_ERROR: &str = "#ssh-key-text-error";
pub const SSH_KEY_ADD: &str = "[data-test=ssh-key-add]";
pub const SSH_KEY_FINGERPRINT: &str = "[data-test=ssh-key-row] [data-test=ssh-key-fingerprint]";

/// The create form's first-boot part.
pub fn create_key(name: &str) -> String {
    format!("[data-test=create-key][data-name='{name}'] input")
}
pub const CREATE_USER_DATA: &str = "[data-test=create-user-data]";
pub const CREATE_USER_DATA_ERROR: &str = "#create-user-data-error";
pub const CREATE_USER_DATA_TEMPLATE: &str = "[data-test=create-user-data-template]";
pub const CREATE_HOSTNAME: &str = "[data-test=create-hostname]";
pub const CREATE_NETWORK: &str = "[data-test=create-network]";
pub const CREATE_ADDRESS: &str = "[data-test=create-address]";
pub const CREATE_GATEWAY: &str = "[data-test=create-gateway]";
pub const CREATE_NAMESERVERS: &str = "[data-test=create-nameservers]";
pub const CREATE_NETWORK_ERROR: &str = "#create-network-error";

/// What a machine's guest was given, on its summary.
pub const GUEST_KEYS: &str = "[data-test=guest-keys]";
pub const GUEST_USER_DATA: &str = "[data-test=guest-user-data]";
pub const GUEST_REVISION: &str = "[data-test=guest-revision]";
pub const GUEST_HOSTNAME: &str = "[data-test=guest-hostname]";
pub const GUEST_ADDRESS: &str = "[data-test=guest-address]";
pub const GUEST_USER_DATA_OPEN: &str = "[data-test=guest-user-data-open]";
pub const GUEST_USER_DATA_TEXT: &str = "[data-test=guest-user-data-text]";
pub const GUEST_USER_DATA_TEXT_ERROR: &str = "#guest-user-data-text-error";
pub const GUEST_USER_DATA_SAVE: &str = "[data-test=guest-user-data-save]";
