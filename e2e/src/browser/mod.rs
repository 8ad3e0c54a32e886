//! Headless Chromium through Debian's chromedriver, driven by fantoccini: the driver layer
//! (find, wait, screenshot). Above it, [`select`] names what the tests look for on the
//! console's pages, [`act`] does what a user does and [`check`] waits for what a user should
//! see; the scenarios in e2e/tests/browser.rs are written in those words.
//!
//! Chromium runs with a fresh profile and every background service off: this machine has no
//! network beyond loopback, and a browser phoning home would only slow the tests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod act;
pub mod check;
pub mod select;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    /// Killed on drop, so a failing test leaves no chromedriver (and Chromium) behind.
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Browser {
    pub async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver (Debian package chromium-driver)");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        let client = loop {
            // chromedriver is on loopback: plain HTTP, no TLS stack.
            let mut builder = ClientBuilder::new(HttpConnector::new());
            match builder.capabilities(caps.clone()).connect(&url).await {
                Ok(c) => break c,
                Err(e) if start.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver did not answer: {e}"),
            }
        };
        Browser { client, driver, _profile: profile }
    }

    pub fn css(sel: &str) -> Locator<'_> {
        Locator::Css(sel)
    }

    /// Waits for an element, up to [`PATIENCE`].
    pub async fn find(&self, sel: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(sel))
            .await
            .unwrap_or_else(|e| panic!("no element {sel}: {e}"))
    }

    /// Waits until the element's text satisfies `ok`, up to [`PATIENCE`]; fails with a
    /// screenshot and what the page says instead.
    pub async fn wait_text(&self, sel: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(sel)).await
                && let Ok(text) = el.text().await
                && ok(&text)
            {
                return text;
            }
            if start.elapsed() > PATIENCE {
                // What the page showed instead is the first thing anyone debugging will ask.
                self.screenshot("failure").await;
                let body = match self.client.find(Locator::Css("body")).await {
                    Ok(b) => b.text().await.unwrap_or_default(),
                    Err(_) => String::new(),
                };
                panic!("text of {sel} never matched; the page says:\n{body}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until a field's value (what it holds, not its text) satisfies `ok`, up to
    /// [`PATIENCE`].
    pub async fn wait_value(&self, sel: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Ok(el) = self.client.find(Locator::Css(sel)).await
                && let Ok(Some(value)) = el.prop("value").await
                && ok(&value)
            {
                return value;
            }
            assert!(start.elapsed() < PATIENCE, "the value of {sel} never matched");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether no element matches `sel` now (once the page has shown what it waits for).
    pub async fn absent(&self, sel: &str) -> bool {
        self.client.find_all(Locator::Css(sel)).await.unwrap_or_default().is_empty()
    }

    /// Waits until no element matches `sel`, up to [`PATIENCE`].
    pub async fn wait_gone(&self, sel: &str) {
        let start = Instant::now();
        while !self.client.find_all(Locator::Css(sel)).await.unwrap_or_default().is_empty() {
            assert!(start.elapsed() < PATIENCE, "{sel} never went away");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a screenshot as `e2e/screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = crate::root().join("e2e/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Ends the browser session cleanly (dropping kills the driver either way), failing if
    /// the page reported errors since it was last opened: a panic of the app, an uncaught
    /// exception.
    pub async fn close(self) {
        let errors = self
            .client
            .execute("return window.__corralErrors || []", vec![])
            .await
            .ok()
            .and_then(|v| serde_json::from_value::<Vec<String>>(v).ok())
            .unwrap_or_default();
        assert!(errors.is_empty(), "the page reported errors: {errors:#?}");
        let _ = self.client.clone().close().await;
    }
}
