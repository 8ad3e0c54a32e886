//! What a user does on the console's pages: click, fill in, log in, work a machine's
//! snapshots, type on its consoles, and read back a file of the guest's disk through the
//! terminal. Each action waits for the page to take it, not for its outcome; outcomes are
//! [`super::check`]'s.

use super::Browser;
use super::select as sel;
use crate::guest;

/// What the snapshot's confirm dialog is asked to do.
#[derive(Clone, Copy, Debug)]
pub enum SnapshotAct {
    Rollback,
    Clone,
}

impl Browser {
    pub async fn click(&self, selector: &str) {
        self.find(selector).await.click().await.unwrap_or_else(|e| panic!("clicking {selector}: {e}"));
    }

    /// Types `text` into the field, after what it holds.
    pub async fn type_into(&self, selector: &str, text: &str) {
        self.find(selector)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {selector}: {e}"));
    }

    /// Empties the field and types `text` into it.
    pub async fn fill(&self, selector: &str, text: &str) {
        let field = self.find(selector).await;
        field.clear().await.unwrap_or_else(|e| panic!("clearing {selector}: {e}"));
        field.send_keys(text).await.unwrap_or_else(|e| panic!("typing into {selector}: {e}"));
    }

    /// Answers the question the page asks before a destructive action: yes (after typing
    /// what it asks to be typed, if anything) or no; waits until it has closed.
    pub async fn answer(&self, yes: bool) {
        self.find(sel::CONFIRM_OPEN).await;
        if yes {
            if let Ok(field) = self.client.find(super::Locator::Css(sel::CONFIRM_TYPED)).await {
                let want = self.find(&format!("{} strong", sel::CONFIRM_OPEN)).await.text().await.unwrap();
                field.send_keys(&want).await.unwrap();
            }
            self.click(sel::CONFIRM_GO).await;
        } else {
            self.click(sel::CONFIRM_CANCEL).await;
        }
        self.wait_gone(sel::CONFIRM_OPEN).await;
    }

    /// Opens `path` of the console at `base`, and from then on collects what the page
    /// reports as errors ([`Browser::close`] fails on any).
    pub async fn open(&self, base: &str, path: &str) {
        self.client.goto(&format!("{base}{path}")).await.unwrap_or_else(|e| panic!("opening {path}: {e}"));
        self.collect_errors().await;
    }

    /// Opens the command palette with Ctrl-K, as a keyboard user does, types `query` and
    /// takes the first result with Enter.
    pub async fn palette(&self, query: &str) {
        use fantoccini::key::Key;
        // Ctrl stays down until the Null key lets go of it.
        let chord = format!("{}k{}", char::from(Key::Control), char::from(Key::Null));
        self.find("body").await.send_keys(&chord).await.expect("pressing Ctrl-K");
        self.find("[data-test=palette][open] [data-test=palette-input]").await;
        self.type_into("[data-test=palette-input]", query).await;
        self.find("[data-test=palette-option]").await;
        self.type_into("[data-test=palette-input]", &char::from(Key::Enter).to_string()).await;
    }

    /// Fills in the login form the page shows and sends it.
    pub async fn submit_login(&self, username: &str, password: &str) {
        self.type_into(sel::LOGIN_USERNAME, username).await;
        self.type_into(sel::LOGIN_PASSWORD, password).await;
        self.click(sel::LOGIN_SUBMIT).await;
    }

    /// Logs in through the login page and waits until the pages know who is in.
    pub async fn login(&self, base: &str, username: &str, password: &str) {
        self.open(base, "/login").await;
        self.submit_login(username, password).await;
        self.wait_text(sel::CURRENT_USER, |t| t == username).await;
    }

    /// On a machine's page: shows its tab called `tab` (`summary`, `console`, `snapshots`,
    /// `hardware`, `tasks`, `audit`).
    pub async fn machine_tab(&self, tab: &str) {
        self.click(&sel::machine_tab(tab)).await;
        self.find(&format!("{}[aria-current=page]", sel::machine_tab(tab))).await;
    }

    /// On a machine's page: takes a snapshot called `name` (with RAM when the machine runs)
    /// on its snapshots tab.
    pub async fn take_snapshot(&self, name: &str) {
        self.machine_tab("snapshots").await;
        self.type_into(sel::SNAPSHOT_NAME, name).await;
        self.click(sel::SNAPSHOT_TAKE).await;
    }

    /// On a machine's page: rolls back to, or clones, the snapshot `name`, confirming it.
    pub async fn snapshot_act(&self, name: &str, act: SnapshotAct) {
        let button = match act {
            SnapshotAct::Rollback => "snapshot-rollback",
            SnapshotAct::Clone => "snapshot-clone",
        };
        self.machine_tab("snapshots").await;
        self.click(&format!("{} [data-test={button}]", sel::snapshot_row(name))).await;
        self.click(sel::SNAPSHOT_CONFIRM).await;
    }

    /// On a machine's page: opens its console of `kind` (`serial`, `vnc`, `shell`) on its
    /// console tab.
    pub async fn open_console(&self, kind: &str) {
        self.machine_tab("console").await;
        self.click(&sel::console_open(kind)).await;
    }

    /// Types `line` and Enter into the open serial terminal.
    pub async fn serial_type(&self, line: &str) {
        self.type_into(sel::SERIAL_INPUT, &format!("{line}\n")).await;
    }

    /// Writes `content` to `path` on the guest's disk through the serial terminal and waits
    /// until the guest says it is synced (`n` tells this answer from earlier ones).
    pub async fn guest_disk_write(&self, path: &str, content: &str, n: u32) {
        let (line, marker) = guest::disk_write_command(path, content, &n.to_string());
        self.serial_type(&line).await;
        self.terminal_shows(&marker).await;
    }

    /// Reads `path` from the guest's disk past its page cache through the serial terminal
    /// ([`guest::disk_read_answer`]).
    pub async fn guest_disk_read(&self, path: &str, n: u32) -> String {
        let (line, marker) = guest::disk_read_command(path, n);
        self.serial_type(&line).await;
        guest::disk_read_answer(&self.terminal_shows(&marker).await, &marker)
    }
}
