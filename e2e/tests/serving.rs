//! How the real `corral` serves (issue 10): security headers on every response, HTTPS with
//! `--tls-cert` (HSTS and `Secure` cookies following on their own), a private data
//! directory, logs without colour codes (or as JSON lines), and the client's address taken
//! from the connection.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use corral_e2e::{Api, BackendProc};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// `curl` with the test's CA: (status line and headers, body).
fn curl(ca: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--dump-header", "/dev/stderr", "--cacert"])
        .arg(ca)
        .args(args)
        .output()
        .expect("curl");
    (String::from_utf8_lossy(&out.stderr).to_lowercase(), String::from_utf8_lossy(&out.stdout).into_owned())
}

#[tokio::test]
async fn plain_http_sends_the_security_headers_keeps_its_data_private_and_logs_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let backend = BackendProc::start(&data, &[], None);
    for path in ["/healthz", "/api/v1/session", "/api/v1/nope"] {
        let resp = reqwest::get(format!("{}{path}", backend.url)).await.unwrap();
        let h = resp.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-eval'") || csp.contains("wasm-unsafe-eval"), "{csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "same-origin", "{path}");
        assert!(h.get("strict-transport-security").is_none(), "no HSTS over plain HTTP");
    }
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("corral.db")), 0o600);
    assert_eq!(mode(&data.join("ssh/id_ed25519")), 0o600);
    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    assert!(log.contains("corral listening"), "{log}");
    assert!(!log.contains('\x1b'), "no terminal colour codes in a log file");
}

#[tokio::test]
async fn https_with_hsts_secure_cookies_and_json_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1"])
        .args(["-keyout", &key.display().to_string(), "-out", &cert.display().to_string()])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let data = dir.path().join("data");
    let (c, k) = (cert.display().to_string(), key.display().to_string());
    let backend = BackendProc::start_with(
        &data,
        &[],
        None,
        &["--tls-cert", &c, "--tls-key", &k, "--log-format", "json"],
    );
    assert!(backend.url.starts_with("https://127.0.0.1:"), "{}", backend.url);

    let (head, body) = curl(&cert, &[&format!("{}/healthz", backend.url)]);
    assert!(head.starts_with("http/1.1 200") || head.starts_with("http/2 200"), "{head}");
    assert_eq!(body, "ok\n");
    assert!(head.contains("strict-transport-security: max-age="), "{head}");
    assert!(head.contains("content-security-policy:"), "{head}");

    let login = serde_json::json!({"username": "admin", "password": backend.admin_password}).to_string();
    let url = format!("{}/api/v1/session", backend.url);
    let (head, _) = curl(&cert, &["-H", "content-type: application/json", "--data", &login, &url]);
    let cookie = head.lines().find(|l| l.starts_with("set-cookie: corral_session=")).unwrap_or_default();
    assert!(cookie.contains("; secure") && cookie.contains("httponly"), "{head}");

    // Plain HTTP to the TLS port gets nowhere.
    let plain = Command::new("curl")
        .args(["-sS", "--max-time", "5", &backend.url.replace("https", "http")])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));

    let log = std::fs::read_to_string(data.with_extension("log")).unwrap();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v.get("level").is_some() && v.get("fields").is_some(), "{line}");
    }
}

/// A login from loopback address `from` (the socket is bound to it), with extra headers.
async fn login_from(base: &str, from: &str, user: &str, password: &str, headers: &[(&str, &str)]) -> u16 {
    let http =
        reqwest::Client::builder().local_address(from.parse::<std::net::IpAddr>().ok()).build().unwrap();
    let mut req = http
        .post(format!("{base}/api/v1/session"))
        .header("origin", base)
        .json(&serde_json::json!({"username": user, "password": password}));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap().status().as_u16()
}

/// Only the real server knows who connected (axum's `ConnectInfo`): the login limit counts
/// the TCP peer, a forwarding header counts only from a trusted proxy, and the audit log
/// names the address the limit counted.
#[tokio::test]
async fn the_client_address_is_the_tcp_peer_unless_a_trusted_proxy_forwards_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let backend =
        BackendProc::start_with(&dir.path().join("data"), &[], None, &["--trusted-proxy", "127.0.0.9/32"]);
    let base = backend.url.as_str();
    let per_source = corral::login_guard::PER_SOURCE;

    // 127.0.0.7 fails on many accounts until it is refused as a source.
    for n in 0..per_source {
        assert_eq!(login_from(base, "127.0.0.7", &format!("guess{n}"), "wrong", &[]).await, 401);
    }
    let admin = backend.admin_password.as_str();
    assert_eq!(login_from(base, "127.0.0.7", "admin", admin, &[]).await, 429, "the source is refused");
    // Another address is not held back, whatever it claims to forward for.
    let forged = [("x-forwarded-for", "127.0.0.7")];
    assert_eq!(
        login_from(base, "127.0.0.8", "admin", admin, &forged).await,
        200,
        "a forged header is ignored"
    );
    // The trusted proxy forwards for .7: that is who is counted.
    assert_eq!(login_from(base, "127.0.0.9", "admin", admin, &forged).await, 429, "the proxy's word counts");
    let forwarded_for_another = [("x-forwarded-for", "127.0.0.10")];
    assert_eq!(login_from(base, "127.0.0.9", "admin", admin, &forwarded_for_another).await, 200);

    // The audit log names the same addresses.
    let api = Api::login(base, "admin", admin).await;
    let trail = api.send("GET", "/api/v1/audit?limit=1000", None).await;
    let sources = |result: &str| -> Vec<String> {
        let entries = trail.body.as_array().unwrap().iter();
        let logins = entries.filter(|e| e["action"] == "session.login" && e["result"] == result);
        let mut seen: Vec<String> = logins.filter_map(|e| e["source"].as_str().map(String::from)).collect();
        seen.dedup();
        seen
    };
    assert!(sources("ok").iter().any(|s| s == "127.0.0.8"), "{:?}", trail.body);
    assert!(sources("ok").iter().any(|s| s == "127.0.0.10"), "{:?}", trail.body);
    assert!(sources("ok").iter().all(|s| s != "127.0.0.9"), "the proxy is not the client: {:?}", trail.body);
    assert!(sources("401 login_failed").iter().any(|s| s == "127.0.0.7"), "{:?}", trail.body);
}
