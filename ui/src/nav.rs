//! Where a login returns to: the page a link asked for, when it is a page of this app.

/// `next` when it is a path of this app, else the dashboard. A crafted link must not send a
/// fresh login to another site: `//host` and `/\host` (which browsers read as `//host`), a
/// scheme, or control characters (browsers drop tabs and newlines, so `/\t/host` becomes
/// `//host`) are all refused.
pub fn login_return(next: Option<&str>) -> &str {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.starts_with("/\\")
                && !p.contains("://")
                && !p.chars().any(char::is_control) =>
        {
            p
        }
        _ => "/",
    }
}

#[cfg(test)]
mod tests {
    use super::login_return;

    #[test]
    fn a_login_returns_only_to_pages_of_this_app() {
        for own in ["/machines", "/machines/0c1d?tab=console", "/admin/audit?user=olga"] {
            assert_eq!(login_return(Some(own)), own);
        }
        for foreign in
            ["//evil.example", "/\\evil.example", "https://evil.example", "/\t/evil.example", "machines", ""]
        {
            assert_eq!(login_return(Some(foreign)), "/", "{foreign:?}");
        }
        assert_eq!(login_return(None), "/");
    }
}
