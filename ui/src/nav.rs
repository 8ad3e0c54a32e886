//! Where pages are: where a login returns to (the page a link asked for, when it is a page
//! of this app), and the tabs of a machine's page.

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

/// The tabs of a machine's page. Each is a path of its own (`/machines/{id}/hardware`), so a
/// tab can be linked, bookmarked and left with Back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineTab {
    Summary,
    Console,
    Snapshots,
    Hardware,
    Tasks,
    Audit,
}

impl MachineTab {
    pub const ALL: [MachineTab; 6] =
        [Self::Summary, Self::Console, Self::Snapshots, Self::Hardware, Self::Tasks, Self::Audit];

    /// The last segment of the tab's path; empty for the summary, at the machine's own path.
    pub fn slug(self) -> &'static str {
        match self {
            Self::Summary => "",
            Self::Console => "console",
            Self::Snapshots => "snapshots",
            Self::Hardware => "hardware",
            Self::Tasks => "tasks",
            Self::Audit => "audit",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Summary => "Summary",
            Self::Console => "Console",
            Self::Snapshots => "Snapshots",
            Self::Hardware => "Hardware",
            Self::Tasks => "Tasks",
            Self::Audit => "Audit",
        }
    }

    /// The tab a path segment names: none is the summary, an unknown one is no tab.
    pub fn from_slug(slug: Option<&str>) -> Option<MachineTab> {
        match slug.unwrap_or("") {
            "" => Some(Self::Summary),
            s => Self::ALL.into_iter().find(|t| t.slug() == s),
        }
    }

    /// The tab's path on the page of machine `id`.
    pub fn path(self, id: impl std::fmt::Display) -> String {
        match self.slug() {
            "" => format!("/machines/{id}"),
            slug => format!("/machines/{id}/{slug}"),
        }
    }
}

/// The page a path shows, for moving the focus to its heading when the page changes: the
/// tabs of one machine are one page (a tab click keeps the focus on the tabs).
pub fn page_of(path: &str) -> &str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "machines", id, tab] if *id != "new" && MachineTab::from_slug(Some(tab)).is_some() => {
            let cut = path.len() - path.trim_end_matches('/').len() + tab.len() + 1;
            &path[..path.len() - cut]
        }
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::{MachineTab, login_return, page_of};

    #[test]
    fn a_machines_tabs_are_one_page() {
        assert_eq!(page_of("/machines/m1/hardware"), "/machines/m1");
        assert_eq!(page_of("/machines/m1/hardware/"), "/machines/m1");
        assert_eq!(page_of("/machines/m1"), "/machines/m1");
        assert_eq!(page_of("/machines/m1/console/vnc"), "/machines/m1/console/vnc");
        assert_eq!(page_of("/machines/m1/nonsense"), "/machines/m1/nonsense");
        assert_eq!(page_of("/tasks"), "/tasks");
    }

    #[test]
    fn every_machine_tab_has_a_path_that_leads_back_to_it() {
        for tab in MachineTab::ALL {
            let path = tab.path("m1");
            let slug = path.strip_prefix("/machines/m1").unwrap().trim_start_matches('/');
            assert_eq!(MachineTab::from_slug(Some(slug)), Some(tab), "{path}");
        }
        assert_eq!(MachineTab::from_slug(None), Some(MachineTab::Summary));
        assert_eq!(MachineTab::from_slug(Some("settings")), None);
        assert_eq!(MachineTab::Summary.path("m1"), "/machines/m1");
    }

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
