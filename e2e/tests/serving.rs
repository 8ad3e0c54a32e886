//! How the real `corral` serves (issue 10): security headers on every response, HTTPS with
//! `--tls-cert` (HSTS and `Secure` cookies following on their own), a private data
//! directory, and logs without colour codes (or as JSON lines).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use corral_e2e::BackendProc;

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
