//! What a user should see: a machine's state, text on the serial terminal, a lit screen, the
//! tab's title, and no errors reported by the page.
//! Each check waits with a deadline and fails saying what the page showed instead.

use std::time::{Duration, Instant};

use super::Browser;
use super::select as sel;

/// How long a terminal may take to show a guest's answer (a TCG guest on a busy machine).
const TERMINAL_PATIENCE: Duration = Duration::from_secs(60);

impl Browser {
    /// The machine's page shows it in `state`.
    pub async fn state_is(&self, state: &str) {
        self.wait_text(sel::STATE, |t| t == state).await;
    }

    /// The console's link to its machine says `connected`.
    pub async fn console_connected(&self) {
        self.wait_text(sel::CONSOLE_LINK, |t| t == "connected").await;
    }

    /// The text xterm.js shows.
    pub async fn terminal_text(&self) -> String {
        // The serial line's or the shell's: one terminal is open at a time. It is brought into
        // view as a person would look at it: xterm.js does not draw a terminal off screen.
        let script = "const r = document.querySelector('[data-test$=-screen] .xterm-rows'); \
                      if (r) r.closest('[data-test$=-screen]').scrollIntoView({block: 'nearest'}); \
                      return r ? r.innerText : '';";
        let v = self.client.execute(script, vec![]).await.expect("reading the terminal");
        v.as_str().unwrap_or_default().to_string()
    }

    /// Waits until the terminal shows `needle`; returns all it shows then.
    pub async fn terminal_shows(&self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let text = self.terminal_text().await;
            if text.contains(needle) {
                return text;
            }
            if start.elapsed() > TERMINAL_PATIENCE {
                self.screenshot("failure").await;
                panic!("the terminal never showed {needle:?}; it shows:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many pixels of the noVNC canvas are not black.
    pub async fn canvas_lit(&self) -> u64 {
        let script = "const c = document.querySelector('[data-test=vnc-screen] canvas');
             if (!c || !c.width) return 0;
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let lit = 0;
             for (let i = 0; i < d.length; i += 4) {
               if (d[i] | d[i + 1] | d[i + 2]) lit++;
             }
             return lit;";
        let v = self.client.execute(script, vec![]).await.expect("reading the canvas");
        v.as_u64().unwrap_or(0)
    }

    /// Starts collecting what the page reports as errors: `console.error` (where the app's
    /// panic hook writes a panic) and uncaught exceptions (a WASM abort). Kept until the next
    /// page load; the app's own navigation keeps it.
    pub async fn collect_errors(&self) {
        let script = r#"
            if (!window.__corralErrors) {
                window.__corralErrors = [];
                const error = console.error.bind(console);
                console.error = (...args) => { window.__corralErrors.push(args.map(String).join(' ')); error(...args); };
                window.addEventListener('error', e => window.__corralErrors.push('uncaught: ' + e.message));
                window.addEventListener('unhandledrejection', e => window.__corralErrors.push('unhandled: ' + e.reason));
            }
        "#;
        self.client.execute(script, vec![]).await.expect("collecting the page's errors");
    }

    /// What the page reported since [`Self::collect_errors`].
    pub async fn page_errors(&self) -> Vec<String> {
        let v = self
            .client
            .execute("return window.__corralErrors || null", vec![])
            .await
            .expect("reading errors");
        serde_json::from_value::<Option<Vec<String>>>(v)
            .expect("a list of strings")
            .expect("collect_errors was not called on this page")
    }

    /// Waits until the tab's title is `want`, up to [`super::PATIENCE`].
    pub async fn wait_title(&self, want: &str) {
        let start = Instant::now();
        loop {
            let title = self.client.title().await.unwrap_or_default();
            if title == want {
                return;
            }
            assert!(start.elapsed() < super::PATIENCE, "the tab's title stayed {title:?}, not {want:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many CSS pixels the page is wider than the window (0 when it fits).
    pub async fn overflow_x(&self) -> i64 {
        let script = "return document.documentElement.scrollWidth - window.innerWidth";
        let v = self.client.execute(script, vec![]).await.expect("measuring the page");
        v.as_i64().unwrap_or(i64::MAX).max(0)
    }

    /// The text of every element `sel` finds, in the page's order (none: empty).
    pub async fn texts(&self, sel: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(super::Locator::Css(sel)).await.unwrap_or_default() {
            out.push(e.text().await.unwrap_or_default());
        }
        out
    }

    /// Runs axe-core (from npm) on the page as it stands, for WCAG 2.1 A and AA and axe's best
    /// practices; returns the critical and serious violations, each as
    /// `rule (impact): what it asks, at: where` with up to five places.
    pub async fn accessibility_failures(&self) -> Vec<String> {
        let axe = crate::root().join("node_modules/axe-core/axe.min.js");
        let source = std::fs::read_to_string(&axe).unwrap_or_else(|e| {
            panic!("{}: {e} (scripts/test.sh installs axe-core with npm)", axe.display())
        });
        let inject = format!("if (!window.axe) {{ {source} }} return !!window.axe;");
        let injected = self.client.execute(&inject, vec![]).await.expect("loading axe-core into the page");
        assert_eq!(injected, true, "axe-core did not load");
        let run = r#"
            const done = arguments[arguments.length - 1];
            const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];
            axe.run(document, { runOnly: { type: 'tag', values: tags } }).then(r => done(
                r.violations
                    .filter(v => v.impact === 'critical' || v.impact === 'serious')
                    .map(v => `${v.id} (${v.impact}): ${v.help}, at: ` +
                        v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(' | '))
            ), e => done(['axe failed: ' + e]));
        "#;
        let found = self.client.execute_async(run, vec![]).await.expect("running axe-core");
        found
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
            .unwrap_or_default()
    }
}
