//! Journeys of users in headless Chromium against real processes, told as scenarios in the
//! words of `corral_e2e::browser`'s layers: selectors (`sel`), actions (what a user does)
//! and checks (what a user should see). Screenshots land in e2e/screenshots/.

use std::time::Duration;

use corral_e2e::browser::act::SnapshotAct;
use corral_e2e::browser::{Browser, select as sel};
use corral_e2e::guest::READY;
use corral_e2e::{Api, BackendProc, BridgeProc, TinyGuest, frontend_dist, wait_until, zone_image};

/// A console on loopback over one sim node, serving the built frontend.
struct SimConsole {
    // Dropped in this order: the backend before the node it talks to.
    backend: BackendProc,
    bridge: BridgeProc,
    _dir: tempfile::TempDir,
}

impl SimConsole {
    fn start() -> SimConsole {
        Self::start_with(&[])
    }

    /// With more arguments to the sim bridge.
    fn start_with(bridge_args: &[&str]) -> SimConsole {
        let frontend = frontend_dist();
        let dir = tempfile::tempdir().unwrap();
        let args = [&["--driver", "sim", "--sim-delay-ms", "150"], bridge_args].concat();
        let bridge = BridgeProc::start_with(dir.path(), "local", &args);
        let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend));
        SimConsole { backend, bridge, _dir: dir }
    }

    /// The first admin, logged in through the API.
    async fn admin(&self) -> Api {
        Api::login(&self.backend.url, "admin", &self.backend.admin_password).await
    }
}

/// Makes tenant `name` through the API; its id.
async fn tenant_create(admin: &Api, name: &str) -> String {
    let tenant = admin.send("POST", "/api/v1/tenants", Some(serde_json::json!({"name": name}))).await;
    assert_eq!(tenant.status, 201, "{:?}", tenant.body);
    tenant.body["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_user_creates_runs_stops_and_deletes_a_machine() {
    let console = SimConsole::start();
    let (bridge, backend) = (&console.bridge, &console.backend);
    let base = backend.url.as_str();
    let b = Browser::start().await;

    // A link to a page asks for a login first, with the username's field focused.
    b.open(base, "/machines").await;
    b.find(sel::LOGIN_USERNAME).await;
    let focused = b.client.execute("return document.activeElement.dataset.test", vec![]).await.unwrap();
    assert_eq!(focused, "login-username", "the username field has the focus");
    // Logging in with a wrong password says so and stays on the page.
    b.submit_login("admin", "wrong").await;
    b.wait_text(sel::ERROR, |t| t.contains("wrong username or password")).await;
    b.screenshot("01-login-failed").await;

    // Enter in the password logs in (and leaves the theme
    // alone), and the login returns to the page the link asked for.
    let theme = "return document.documentElement.dataset.theme || ''";
    let before = b.client.execute(theme, vec![]).await.unwrap();
    b.type_into(sel::LOGIN_PASSWORD, &format!("{}\n", backend.admin_password)).await;
    b.wait_text(sel::CURRENT_USER, |t| t == "admin").await;
    b.find(sel::NEW_MACHINE).await;
    assert!(b.client.current_url().await.unwrap().path() == "/machines", "back where the link pointed");
    assert_eq!(b.client.execute(theme, vec![]).await.unwrap(), before, "Enter did not touch the theme");
    // Each page names its tab; a wrong address keeps the app's frame around its 404.
    b.wait_title("Machines · Corral").await;
    b.open(base, "/no-such-page").await;
    b.find(sel::NOT_FOUND).await;
    b.wait_text(sel::CURRENT_USER, |t| t == "admin").await;
    b.wait_title("Not found · Corral").await;
    b.click(sel::BRAND).await;
    b.wait_text(sel::NODE_STATUS, |t| t == "online").await;
    b.wait_text(sel::LINK_STATE, |t| t == "live").await;
    b.screenshot("02-dashboard").await;

    // The form checks names as the server does, before anything is sent.
    b.open(base, "/machines").await;
    b.click(sel::NEW_MACHINE).await;
    b.type_into(sel::CREATE_NAME, "Bad Name").await;
    b.wait_text(sel::CREATE_NAME_ERROR, |t| t.contains("lowercase")).await;
    // The error is the field's own, for screen readers too.
    let name = b.find(sel::CREATE_NAME).await;
    assert_eq!(name.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    let described = name.attr("aria-describedby").await.unwrap().unwrap_or_default();
    let said = b.find(&format!("#{}", described.split(' ').next().unwrap())).await.text().await.unwrap();
    assert!(said.contains("lowercase"), "aria-describedby names {described:?}, which says {said:?}");
    b.fill(sel::CREATE_NAME, "e2e-web").await;
    assert_eq!(name.attr("aria-invalid").await.unwrap().as_deref(), Some("false"));
    // A submit with a bad field sends nothing and puts the focus on it.
    b.fill(sel::CREATE_VCPUS, "0").await;
    b.click(sel::CREATE_SUBMIT).await;
    let focused = b.client.execute("return document.activeElement.dataset.test", vec![]).await.unwrap();
    assert_eq!(focused, "create-vcpus", "the bad field has the focus");
    b.fill(sel::CREATE_VCPUS, "1").await;
    b.screenshot("03-create-form").await;
    b.click(sel::CREATE_SUBMIT).await;

    // The detail page follows the machine from creating to stopped with no reload.
    b.wait_text(sel::MACHINE_NAME, |t| t == "e2e-web").await;
    b.state_is("stopped").await;
    b.wait_title("e2e-web · Corral").await;
    b.click(sel::START).await;
    b.state_is("running").await;
    b.screenshot("04-running").await;

    // The list shows a machine created elsewhere (here: through the API) without a reload.
    b.open(base, "/machines").await;
    b.find(&sel::machine_row("e2e-web")).await;
    let api = Api::login(base, "admin", &backend.admin_password).await;
    let r = api
        .send(
            "POST",
            "/api/v1/machines",
            Some(serde_json::json!({"name": "from-api", "vcpus": 1, "memory_mib": 128, "disk_gib": 1})),
        )
        .await;
    assert_eq!(r.status, 201);
    b.wait_text(&format!("{} {}", sel::machine_row("from-api"), sel::STATE), |t| t == "stopped").await;
    b.screenshot("05-list-live").await;

    // Shutting down asks first, naming the machine: no leaves it running, yes stops it.
    b.click(&format!("{} a", sel::machine_row("e2e-web"))).await;
    b.state_is("running").await;
    b.click(sel::STOP).await;
    b.wait_text(sel::CONFIRM_TITLE, |t| t == "Shut down e2e-web?").await;
    b.screenshot("06-confirm-stop").await;
    b.answer(false).await;
    let web = || async {
        let list = api.send("GET", "/api/v1/machines", None).await.body;
        list.as_array().unwrap().iter().find(|m| m["name"] == "e2e-web").cloned().expect("e2e-web listed")
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(web().await["state"], "running", "a cancelled shutdown sent nothing");
    // From the split button's menu too: power off asks, and a no sends nothing.
    b.click(sel::POWER_MENU).await;
    b.click(sel::FORCE_STOP).await;
    b.wait_text(sel::CONFIRM_TITLE, |t| t == "Power off e2e-web now?").await;
    b.answer(false).await;
    b.click(sel::STOP).await;
    b.answer(true).await;
    b.state_is("stopped").await;

    // A delete asks for the machine's name: the button waits until it is typed.
    b.click(sel::DELETE).await;
    b.type_into(sel::CONFIRM_TYPED, "e2e-we").await;
    assert!(!b.find(sel::CONFIRM_GO).await.is_enabled().await.unwrap(), "enabled before the name was typed");
    b.screenshot("07-confirm-delete").await;
    b.type_into(sel::CONFIRM_TYPED, "b").await;
    b.click(sel::CONFIRM_GO).await;
    b.find(sel::MACHINE_TABLE).await;
    b.wait_gone(&sel::machine_row("e2e-web")).await;
    wait_until("e2e-web gone from the node", Duration::from_secs(10), || async {
        bridge.client().machine_list().await.unwrap().iter().all(|m| m.name != "e2e-web")
    })
    .await;
    b.screenshot("08-deleted").await;
    b.close().await;
}

/// A running machine's page charts its use as samples arrive: the CPU chart fills in, the
/// crosshair gives the value under the pointer, a drag across the chart zooms into that range
/// and "Zoom out" comes back, and the SVG download is the chart itself. An admin sees the
/// node's charts on its page.
#[tokio::test(flavor = "multi_thread")]
async fn a_machines_charts_fill_in_zoom_and_download() {
    use serde_json::json;
    let console = SimConsole::start();
    let base = console.backend.url.as_str();
    let admin = console.admin().await;
    let made = admin
        .send(
            "POST",
            "/api/v1/machines",
            Some(json!({"name": "busy", "vcpus": 2, "memory_mib": 256, "disk_gib": 1})),
        )
        .await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    let id = made.body["id"].as_str().unwrap().to_string();
    wait_until("busy stopped", Duration::from_secs(10), || async {
        admin.send("GET", &format!("/api/v1/machines/{id}"), None).await.body["state"] == "stopped"
    })
    .await;
    assert_eq!(admin.send("POST", &format!("/api/v1/machines/{id}/start"), None).await.status, 202);

    let b = Browser::start().await;
    b.login(base, "admin", &console.backend.admin_password).await;
    b.open(base, &format!("/machines/{id}")).await;
    b.state_is("running").await;
    // Samples every second here: the chart fills in without a reload.
    b.find(&sel::chart_download("cpu", "svg")).await;

    let drawn = b
        .client
        .execute("const c = document.querySelector(arguments[0]); return [c.width, c.clientWidth, window.devicePixelRatio];", vec![json!(sel::chart_canvas("cpu"))])
        .await
        .unwrap();
    let (px, css, ratio) =
        (drawn[0].as_f64().unwrap(), drawn[1].as_f64().unwrap(), drawn[2].as_f64().unwrap());
    assert!(css > 100.0 && (px - css * ratio).abs() <= 1.0, "drawn at the screen's pixel ratio: {drawn:?}");
    b.wait_text(&sel::chart_empty("network"), |t| t.contains("user-mode")).await;
    b.client.execute("document.querySelector('[data-test=usage]').scrollIntoView()", vec![]).await.unwrap();
    b.screenshot("30-machine-charts").await;

    // `x` is a share of the chart's width, or pixels from its right when negative.
    let point = |kind: &'static str, x: f64| {
        let script = "const box = document.querySelector(arguments[0]); const r = box.getBoundingClientRect(); \
            const x = arguments[2] >= 0 ? r.left + r.width * arguments[2] : r.right + arguments[2]; \
            box.dispatchEvent(new PointerEvent(arguments[1], {clientX: x, clientY: r.top + r.height / 2, bubbles: true}));";
        b.client.execute(script, vec![json!(sel::chart_box("cpu")), json!(kind), json!(x)])
    };
    // A drag across the last fifth of the hour, ending past the plot's right edge (the range
    // ends with the hour's), zooms into it.
    point("pointerdown", 0.8).await.unwrap();
    point("pointermove", -1.0).await.unwrap();
    point("pointerup", -1.0).await.unwrap();
    b.find(sel::RANGE_OUT).await;
    assert!(
        b.absent(&format!("{}[aria-pressed=true]", sel::range("hour"))).await,
        "no preset is chosen while zoomed"
    );
    // The crosshair: the pointer at the end of the zoomed range (the samples so far are its
    // last seconds; the plot ends 6 pixels inside the chart) names the value there and when.
    point("pointermove", -7.0).await.unwrap();
    b.wait_text(&sel::chart_tip("cpu"), |t| t.contains("cores") && t.contains("UTC")).await;
    b.screenshot("31-chart-zoomed").await;
    b.click(sel::RANGE_OUT).await;
    b.wait_gone(sel::RANGE_OUT).await;

    // The SVG download is the chart, drawn by plotters' SVG backend.
    let svg_of = async |chart: String| {
        let href = b.find(&chart).await.attr("href").await.unwrap().unwrap();
        let svg = b
            .client
            .execute(
                "return decodeURIComponent(arguments[0].split(',').slice(1).join(','));",
                vec![json!(href)],
            )
            .await
            .unwrap();
        svg.as_str().unwrap().to_string()
    };
    let svg = svg_of(sel::chart_download("cpu", "svg")).await;
    assert!(
        svg.starts_with("<svg") && svg.contains("cores") && svg.contains("<polyline"),
        "{}",
        &svg[..svg.len().min(300)]
    );

    // The node's page: its own charts, for admins.
    let node = admin.send("GET", "/api/v1/nodes", None).await.body[0]["id"].as_str().unwrap().to_string();
    b.open(base, &format!("/nodes/{node}")).await;
    b.find(&sel::chart_download("load", "csv")).await;
    b.client
        .execute("document.querySelector('[data-test=node-usage]').scrollIntoView()", vec![])
        .await
        .unwrap();
    b.screenshot("32-node-charts").await;

    // The dashboard: every machine's usage summed, for admins (each 10 s once its samples
    // are in: a second later here).
    b.open(base, "/").await;
    b.find(&format!("{} {}", sel::SUM_USAGE, sel::chart_download("cpu", "svg"))).await;
    // The tenant's page: its machines' sum, drawn beside its quota.
    let tenant = made.body["tenant_id"].as_str().unwrap().to_string();
    let quota =
        admin.send("PUT", &format!("/api/v1/tenants/{tenant}/quota"), Some(json!({"vcpus": 8}))).await;
    assert_eq!(quota.status, 200, "{:?}", quota.body);
    b.open(base, &format!("/admin/tenants/{tenant}")).await;
    let svg = svg_of(format!("{} {}", sel::SUM_USAGE, sel::chart_download("cpu", "svg"))).await;
    assert!(svg.contains("vCPU quota") && svg.contains("<polyline"), "{}", &svg[..svg.len().min(300)]);
    b.client
        .execute("document.querySelector('[data-test=sum-usage]').scrollIntoView()", vec![])
        .await
        .unwrap();
    b.screenshot("33-tenant-usage").await;
    b.close().await;
}

/// A viewer is offered nothing the server would refuse: no "New machine", a create page that
/// says why, a machine page that says what the role allows instead of offering power, delete
/// or settings, and no users page. (The sim node offers no consoles or snapshots, so those
/// panels are not checked here.)
#[tokio::test(flavor = "multi_thread")]
async fn a_viewer_is_never_offered_what_the_server_refuses() {
    use serde_json::json;
    let console = SimConsole::start();
    let backend = &console.backend;
    let base = backend.url.as_str();
    let admin = console.admin().await;
    let tenant_id = tenant_create(&admin, "acme").await;
    let machine =
        json!({"name": "shared", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "tenant_id": tenant_id});
    assert_eq!(admin.send("POST", "/api/v1/machines", Some(machine)).await.status, 201);
    let vic = json!({"username": "vic", "tenant_id": tenant_id, "role": "viewer"});
    let vic = admin.send("POST", "/api/v1/users", Some(vic)).await;
    assert_eq!(vic.status, 201, "{:?}", vic.body);
    let password = vic.body["password"].as_str().unwrap().to_string();

    let b = Browser::start().await;
    b.login(base, "vic", &password).await;
    b.open(base, "/machines").await;
    b.wait_text(&format!("{} {}", sel::machine_row("shared"), sel::STATE), |t| t == "stopped").await;
    assert!(b.absent(sel::NEW_MACHINE).await, "a viewer is offered New machine");
    b.open(base, "/machines/new").await;
    b.wait_text(sel::CREATE_REFUSED, |t| t.contains("owner role")).await;
    assert!(b.absent(sel::CREATE_SUBMIT).await, "the form is not there to fill in");

    b.open(base, "/machines").await;
    b.click(&format!("{} a", sel::machine_row("shared"))).await;
    b.wait_text(sel::READ_ONLY_NOTE, |t| t.contains("(viewer)")).await;
    for offered in [sel::START, sel::STOP, sel::DELETE, sel::SETTINGS] {
        assert!(b.absent(offered).await, "a viewer is offered {offered}");
    }
    b.screenshot("50-viewer-machine").await;

    b.open(base, "/admin/users").await;
    b.find(sel::USERS_REFUSED).await;
    assert!(b.absent(sel::USER_CREATE).await, "a viewer is shown the user form");
    b.close().await;
}

/// An owner changes a stopped machine's memory on its hardware tab. The room the tenant's
/// quota leaves is said beside the sizes, and more is refused as it is typed, on the field;
/// once the machine runs, its sizes are locked with the reason.
#[tokio::test(flavor = "multi_thread")]
async fn an_owner_changes_a_stopped_machines_memory_within_the_quota() {
    use serde_json::json;
    let console = SimConsole::start();
    let base = console.backend.url.as_str();
    let admin = console.admin().await;
    let tenant_id = tenant_create(&admin, "acme").await;
    let quota = admin
        .send("PUT", &format!("/api/v1/tenants/{tenant_id}/quota"), Some(json!({"memory_mib": 1024})))
        .await;
    assert_eq!(quota.status, 200, "{:?}", quota.body);
    let web = json!({"name": "web", "vcpus": 1, "memory_mib": 256, "disk_gib": 1, "tenant_id": tenant_id});
    let web = admin.send("POST", "/api/v1/machines", Some(web)).await;
    assert_eq!(web.status, 201, "{:?}", web.body);
    let id = web.body["id"].as_str().unwrap().to_string();
    let olive = json!({"username": "olive", "tenant_id": tenant_id, "role": "owner"});
    let olive = admin.send("POST", "/api/v1/users", Some(olive)).await;
    let password = olive.body["password"].as_str().unwrap().to_string();

    let b = Browser::start().await;
    b.login(base, "olive", &password).await;
    b.open(base, &format!("/machines/{id}/hardware")).await;
    b.state_is("stopped").await;
    b.wait_text(sel::MACHINE_SUBTITLE, |t| t.contains("· acme ·")).await;
    // 1024 MiB of quota, 256 used by this machine itself: it may have all 1024.
    b.wait_text(sel::HEADROOM, |t| t.contains("at most 1024 MiB of memory")).await;
    b.fill(&sel::hardware_field("memory"), "2048").await;
    b.wait_text(&sel::hardware_error("memory"), |t| {
        t.contains("the tenant's quota leaves room for at most 1024 MiB")
    })
    .await;
    let invalid = b.find(&sel::hardware_field("memory")).await.attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    b.screenshot("70-hardware-over-quota").await;
    b.fill(&sel::hardware_field("memory"), "768").await;
    b.click(sel::HARDWARE_SAVE).await;
    b.find(sel::HARDWARE_SAVED).await;
    let m = admin.send("GET", &format!("/api/v1/machines/{id}"), None).await;
    assert_eq!(m.body["memory_mib"], 768, "{:?}", m.body);
    b.machine_tab("summary").await;
    b.wait_text(sel::MACHINE_SIZE, |t| t.contains("768 MiB memory")).await;
    b.wait_text(sel::MACHINE_TENANT, |t| t == "acme").await;
    b.wait_text(sel::STATE_SINCE_LABEL, |t| t == "Stopped since").await;

    // Started, the summary says since when it runs (its uptime); the age is fresh.
    b.click(sel::START).await;
    b.state_is("running").await;
    b.wait_text(sel::STATE_SINCE_LABEL, |t| t == "Running since").await;
    b.wait_text(sel::STATE_SINCE, |t| t == "just now").await;

    // Running, a VM keeps its hardware: the tab says why and offers no change.
    b.machine_tab("hardware").await;
    b.wait_text(sel::HARDWARE_RULE, |t| t.starts_with("Stop the machine")).await;
    assert!(!b.find(&sel::hardware_field("memory")).await.is_enabled().await.unwrap(), "memory is editable");
    b.screenshot("71-hardware-running").await;
    b.close().await;
}

/// An admin working in all tenants is asked which one a new machine belongs to; the list then
/// names each machine's tenant and sorts by it, and the switch finds a tenant by its name. The
/// admin renames a tenant and, once it is empty, deletes it.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_says_which_tenant_a_machine_belongs_to() {
    use serde_json::json;
    let console = SimConsole::start();
    let base = console.backend.url.as_str();
    let admin = console.admin().await;
    let acme = tenant_create(&admin, "acme").await;
    let zeta = tenant_create(&admin, "zeta").await;
    let other = json!({"name": "other", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "tenant_id": zeta});
    assert_eq!(admin.send("POST", "/api/v1/machines", Some(other)).await.status, 201);

    let b = Browser::start().await;
    b.login(base, "admin", &console.backend.admin_password).await;
    b.open(base, "/machines/new").await;
    b.type_into(sel::CREATE_NAME, "web").await;
    b.fill(sel::CREATE_MEMORY, "128").await;
    b.fill(sel::CREATE_DISK, "1").await;
    b.click(sel::CREATE_SUBMIT).await;
    // Nothing goes silently to some default tenant: the form asks, on the field.
    b.wait_text(sel::CREATE_TENANT_ERROR, |t| t.contains("choose the tenant")).await;
    let focused = b.client.execute("return document.activeElement.dataset.test", vec![]).await.unwrap();
    assert_eq!(focused, "create-tenant");
    b.find(sel::CREATE_TENANT).await.select_by_label("acme").await.unwrap();
    b.click(sel::CREATE_SUBMIT).await;
    b.wait_text(sel::MACHINE_SUBTITLE, |t| t.contains("· acme ·")).await;
    let listed = admin.send("GET", "/api/v1/machines", None).await;
    let web = listed.body.as_array().unwrap().iter().find(|m| m["name"] == "web").unwrap().clone();
    assert_eq!(web["tenant_id"].as_str(), Some(acme.as_str()));

    // The node's page, from its card on the dashboard: what it is, and the machines on it.
    b.open(base, "/").await;
    b.click("[data-test=node-card] h3 a").await;
    b.wait_text("[data-test=node-name]", |t| t == "local").await;
    b.find("[data-test=node-machine-row][data-name=web]").await;
    b.wait_text("[data-test=node-facts]", |t| t.contains("Driver") && t.contains("sim")).await;

    // The command palette takes a keyboard user anywhere: Ctrl-K, a few letters, Enter.
    b.palette("web").await;
    b.wait_text(sel::MACHINE_NAME, |t| t == "web").await;
    b.palette("tasks").await;
    b.wait_text("main h1", |t| t == "Tasks").await;
    // And starts a stopped machine, closing once the node has said yes.
    b.palette("start web").await;
    b.find("[data-test=palette]:not([open])").await;
    let web_state = || async {
        let m = admin.send("GET", &format!("/api/v1/machines/{}", web["id"].as_str().unwrap()), None).await;
        m.body["state"].as_str().unwrap_or_default().to_string()
    };
    wait_until("web to run, started from the palette", Duration::from_secs(10), || async {
        web_state().await == "running"
    })
    .await;
    let stop = format!("/api/v1/machines/{}/force-stop", web["id"].as_str().unwrap());
    assert_eq!(admin.send("POST", &stop, None).await.status, 202);
    wait_until("web stopped again", Duration::from_secs(10), || async { web_state().await == "stopped" })
        .await;

    // The list names each machine's tenant, sorts by it, and a click again reverses it.
    b.open(base, "/machines").await;
    b.wait_text(&format!("{} [data-test=machine-tenant-cell]", sel::machine_row("web")), |t| t == "acme")
        .await;
    b.click(&sel::sort_by("tenant")).await;
    b.click(&sel::sort_by("tenant")).await;
    let names = || b.texts(sel::MACHINE_ROW_NAMES);
    assert_eq!(names().await, ["other", "web"], "zeta's first, sorted by tenant downwards");
    let sorted = b.find("th[aria-sort=descending]").await.text().await.unwrap();
    assert!(sorted.starts_with("Tenant"), "{sorted}");

    // Ticked machines start together; shutting them down asks first.
    b.click("[data-test=tick-all]").await;
    b.wait_text("[data-test=bulk-count]", |t| t == "2 ticked").await;
    b.click("[data-test=bulk-start]").await;
    b.wait_text("[data-test=bulk-outcome]", |t| t == "2 started.").await;
    for name in ["web", "other"] {
        b.wait_text(&format!("{} {}", sel::machine_row(name), sel::STATE), |t| t == "running").await;
    }
    b.click("[data-test=tick-all]").await;
    b.click("[data-test=bulk-stop]").await;
    b.wait_text(sel::CONFIRM_TITLE, |t| t == "Shut down 2 machines?").await;
    b.answer(false).await;
    b.wait_text(&format!("{} {}", sel::machine_row("web"), sel::STATE), |t| t == "running").await;
    b.click("[data-test=tick-all]").await;

    // The switch finds a tenant by its name; the list then holds that tenant's machines only.
    b.click(sel::TENANT_SWITCH).await;
    b.type_into(sel::TENANT_SWITCH, "zeta").await;
    wait_until("only zeta's machines", Duration::from_secs(5), || async { names().await == ["other"] }).await;
    b.screenshot("80-tenant-switched").await;

    // Renamed, then (empty) deleted, after its name is typed.
    b.open(base, &format!("/admin/tenants/{acme}")).await;
    b.fill(sel::TENANT_RENAME, "acme-corp").await;
    b.click(sel::TENANT_RENAME_SAVE).await;
    b.wait_text(sel::TENANT_TITLE, |t| t == "Tenant acme-corp").await;
    assert!(
        !b.find(sel::TENANT_DELETE).await.is_enabled().await.unwrap(),
        "a tenant with a machine is deletable"
    );
    let id = web["id"].as_str().unwrap();
    // Running since the bulk start: deleted all the same.
    assert_eq!(admin.send("DELETE", &format!("/api/v1/machines/{id}?force=true"), None).await.status, 202);
    wait_until("web gone", Duration::from_secs(10), || async {
        admin.send("GET", &format!("/api/v1/machines/{id}"), None).await.status == 404
    })
    .await;
    b.client.refresh().await.unwrap();
    b.click(sel::TENANT_DELETE).await;
    b.answer(true).await;
    b.wait_text("main h1", |t| t == "Admin").await;
    assert!(b.absent(&sel::tenant_link("acme-corp")).await, "the deleted tenant is still listed");
    b.close().await;
}

/// A console with something on every page (a tenant, a machine with a long name, its audit
/// trail), and every page of the app with the heading it shows once loaded.
async fn every_page() -> (SimConsole, Vec<(String, String)>) {
    use serde_json::json;
    let console = SimConsole::start();
    let admin = console.admin().await;
    let tenant_id = tenant_create(&admin, "acme").await;
    let long = "a-machine-with-a-rather-long-name";
    let req = json!({"name": long, "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "tenant_id": tenant_id});
    let machine = admin.send("POST", "/api/v1/machines", Some(req)).await;
    let machine_id = machine.body["id"].as_str().unwrap().to_string();
    let nodes = admin.send("GET", "/api/v1/nodes", None).await;
    let node_id = nodes.body[0]["id"].as_str().unwrap().to_string();
    let pages = [
        ("/".to_string(), "Dashboard"),
        ("/machines".into(), "Machines"),
        ("/machines/new".into(), "New machine"),
        (format!("/machines/{machine_id}"), long),
        (format!("/machines/{machine_id}/hardware"), long),
        (format!("/machines/{machine_id}/tasks"), long),
        (format!("/machines/{machine_id}/audit"), long),
        ("/images".into(), "Images"),
        ("/tasks".into(), "Tasks"),
        ("/nodes/new".into(), "Add a node"),
        (format!("/nodes/{node_id}"), "local"),
        ("/account".into(), "Account"),
        ("/admin/tenants".into(), "Admin"),
        (format!("/admin/tenants/{tenant_id}"), "Tenant acme"),
        ("/admin/users".into(), "Admin"),
        ("/admin/audit".into(), "Admin"),
        ("/no-such-page".into(), "Not found"),
    ];
    (console, pages.into_iter().map(|(p, h)| (p, h.to_string())).collect())
}

/// axe-core finds no critical or serious accessibility failure on any page, the login page
/// included, in the light and the dark theme, on a desktop and on a phone. When it does, the
/// test lists every one of them.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_passes_axe_in_both_themes_and_on_a_phone() {
    let (console, pages) = every_page().await;
    let base = console.backend.url.as_str();
    let b = Browser::start().await;
    let mut failures = Vec::new();
    for (width, height) in [(1400, 1000), (390, 844)] {
        b.client.set_window_size(width, height).await.unwrap();
        for theme in ["light", "dark"] {
            // Logged out, so the login page is checked too, in this theme.
            b.client.delete_all_cookies().await.unwrap();
            b.open(base, "/login").await;
            b.client
                .execute("localStorage.setItem('corral-theme', arguments[0])", vec![theme.into()])
                .await
                .unwrap();
            b.open(base, "/login").await;
            b.find(sel::LOGIN_USERNAME).await;
            let mut found = vec![("/login".to_string(), b.accessibility_failures().await)];
            b.submit_login("admin", &console.backend.admin_password).await;
            // (On a phone the user's name is folded away with the menu.)
            b.wait_text("main h1", |t| t == "Dashboard").await;
            for (path, heading) in &pages {
                b.open(base, path).await;
                b.wait_text("main h1", |t| t == heading).await;
                // What loads after the heading (tables, the machine's panels) counts too.
                tokio::time::sleep(Duration::from_millis(300)).await;
                found.push((path.clone(), b.accessibility_failures().await));
            }
            for (path, list) in found {
                failures.extend(list.into_iter().map(|f| format!("{path} ({theme}, {width} px): {f}")));
            }
        }
    }
    assert!(failures.is_empty(), "axe found {} failures:\n{}", failures.len(), failures.join("\n"));
    b.close().await;
}

/// On a phone (390 × 844) no page is wider than the screen, and the top bar's links are
/// behind a menu button that opens them.
#[tokio::test(flavor = "multi_thread")]
async fn every_page_fits_a_phone() {
    let (console, pages) = every_page().await;
    let backend = &console.backend;
    let base = backend.url.as_str();
    let b = Browser::start().await;
    b.login(base, "admin", &backend.admin_password).await;
    b.client.set_window_size(390, 844).await.unwrap();
    for (path, heading) in &pages {
        b.open(base, path).await;
        b.wait_text("main h1", |t| t == heading).await;
        // What loads after the heading (tables, the machine's panels) counts too.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let over = b.overflow_x().await;
        if over > 0 {
            b.screenshot("phone-overflow").await;
        }
        assert_eq!(over, 0, "{path} is {over} px wider than a 390 px screen");
    }
    b.screenshot("60-phone-audit").await;

    // The links are folded away; the menu button shows them and a link folds them again.
    assert!(!b.find(sel::NAV_ADMIN).await.is_displayed().await.unwrap(), "the links show unasked");
    b.click(sel::MENU_TOGGLE).await;
    b.screenshot("61-phone-menu").await;
    b.click("nav a[href='/machines']").await;
    b.wait_text("main h1", |t| t == "Machines").await;
    b.wait_title("Machines · Corral").await;
    assert!(!b.find(sel::NAV_ADMIN).await.is_displayed().await.unwrap(), "the menu stayed open");
    b.close().await;
}

/// On a qemu node: create a machine from the node's image through the form, start it, take
/// a snapshot with RAM, roll back to it and clone it, all from the machine page; what the
/// guest wrote on its disk is read back through the page's serial terminal after the
/// rollback and in the clone.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_snapshots_a_real_vm_from_the_machine_page() {
    let frontend = frontend_dist();
    let image = corral_e2e::tiny_image();
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_with(dir.path(), "q", &["--driver", "qemu", "--accel", "tcg"]);
    let task = bridge.import_image("tiny.qcow2", &image).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend));
    let base = backend.url.as_str();
    let b = Browser::start().await;
    b.login(base, "admin", &backend.admin_password).await;
    b.wait_text(sel::NODE_STATUS, |t| t == "online").await;

    // The images page lists the node's image; an admin imports a copy and watches the task.
    b.open(base, "/images").await;
    b.find(&sel::image_row("tiny.qcow2")).await;
    b.type_into(sel::IMPORT_NAME, "copy.qcow2").await;
    b.type_into(sel::IMPORT_SOURCE, &image.display().to_string()).await;
    b.click(sel::IMPORT_SUBMIT).await;
    b.wait_text(sel::IMPORT_TASK_STATE, |t| t == "succeeded").await;
    b.find(&sel::image_row("copy.qcow2")).await;
    b.screenshot("10-image-imported").await;
    // An import whose checksum does not match fails: the page says so as it happens, with
    // no reload (the node's answer that it started once arrived after its failure and won).
    b.fill(sel::IMPORT_NAME, "bad.qcow2").await;
    b.fill(sel::IMPORT_SHA256, &"0".repeat(64)).await;
    b.click(sel::IMPORT_SUBMIT).await;
    b.wait_text(sel::IMPORT_TASK_STATE, |t| t == "failed").await;
    assert!(b.absent(&sel::image_row("bad.qcow2")).await, "a failed import left an image");
    b.open(base, "/tasks").await;
    b.wait_text(&sel::task_state("copy.qcow2"), |t| t == "succeeded").await;
    b.wait_text(&sel::task_by("copy.qcow2"), |t| t == "admin").await;

    b.open(base, "/machines/new").await;
    b.wait_text(sel::CREATE_IMAGE_OPTION, |t| t == "copy.qcow2" || t == "tiny.qcow2").await;
    b.type_into(sel::CREATE_NAME, "vm-snap").await;
    b.fill(sel::CREATE_MEMORY, "128").await;
    b.fill(sel::CREATE_DISK, "1").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    b.type_into(sel::CREATE_FORWARDS, "80:80").await;
    b.wait_text(sel::CREATE_FORWARDS_ERROR, |t| t.contains("privileged")).await;
    b.fill(sel::CREATE_FORWARDS, &format!("{port}:22")).await;
    b.click(sel::CREATE_SUBMIT).await;
    b.state_is("stopped").await;
    b.wait_text(sel::PORTS, |t| t == format!("127.0.0.1:{port} → 22/tcp")).await;
    b.click(sel::START).await;
    b.state_is("running").await;
    b.machine_tab("snapshots").await;
    b.find(sel::NO_SNAPSHOTS).await;
    b.open_console("serial").await;
    b.console_connected().await;
    b.terminal_shows(READY).await;
    b.guest_disk_write("/mnt/f", "before", 1).await;

    b.take_snapshot("golden").await;
    b.wait_text(&sel::snapshot_row("golden"), |t| t.contains("current") && t.contains("RAM")).await;
    // The snapshot ran as a task on the node; the machine's tasks tab follows it.
    b.machine_tab("tasks").await;
    b.wait_text(&sel::machine_task_state("golden"), |t| t == "succeeded").await;
    b.open_console("serial").await;
    b.console_connected().await;
    b.guest_disk_write("/mnt/f", "after", 2).await;
    b.guest_disk_write("/mnt/g", "later", 3).await;
    b.take_snapshot("later").await;
    b.wait_text(&sel::snapshot_row("later"), |t| t.contains("current")).await;
    b.screenshot("08-snapshots").await;

    // The rollback brings back the guest's memory and its disk as they were.
    b.snapshot_act("golden", SnapshotAct::Rollback).await;
    b.wait_text(&sel::snapshot_row("golden"), |t| t.contains("current")).await;
    b.state_is("running").await;
    b.open_console("serial").await;
    b.console_connected().await;
    assert_eq!(b.guest_disk_read("/mnt/f", 4).await, "before", "the rollback restored the disk");
    assert_eq!(b.guest_disk_read("/mnt/g", 5).await, "missing", "and took back what came after");

    b.snapshot_act("golden", SnapshotAct::Clone).await;
    b.wait_text(sel::BANNER_OK, |t| t.contains("golden-clone")).await;
    b.screenshot("09-cloned").await;
    let api = Api::login(base, "admin", &backend.admin_password).await;
    let by_name = |name: &'static str| {
        let api = &api;
        async move { api.machines().await.into_iter().find(|m| m.name == name).map(|m| m.id) }
    };
    wait_until("the clone in the list", Duration::from_secs(10), || async {
        by_name("golden-clone").await.is_some()
    })
    .await;

    // The clone boots with the disk of its snapshot.
    let clone = by_name("golden-clone").await.unwrap();
    b.open(base, &format!("/machines/{clone}")).await;
    b.state_is("stopped").await;
    b.click(sel::START).await;
    b.state_is("running").await;
    b.open_console("serial").await;
    b.console_connected().await;
    b.terminal_shows(READY).await;
    assert_eq!(b.guest_disk_read("/mnt/f", 6).await, "before", "the clone has what came before its snapshot");
    assert_eq!(b.guest_disk_read("/mnt/g", 7).await, "missing", "and nothing written after it");

    // Settings: a taken name is refused with the server's words; a free one is taken.
    let original = by_name("vm-snap").await.unwrap();
    b.open(base, &format!("/machines/{original}")).await;
    b.wait_text(sel::MACHINE_NAME, |t| t == "vm-snap").await;
    b.fill(sel::SETTINGS_NAME, "golden-clone").await;
    b.click(sel::SETTINGS_SAVE).await;
    b.wait_text(sel::SETTINGS_ERROR, |t| t.contains("already has a machine named")).await;
    b.fill(sel::SETTINGS_NAME, "vm-renamed").await;
    b.click(sel::SETTINGS_SAVE).await;
    b.wait_text(sel::MACHINE_NAME, |t| t == "vm-renamed").await;
    b.close().await;
}

/// An admin adds a node over SSH from the dashboard: installs the backend's key, fetches and
/// checks the node's host key, trusts it; later the node's key changes and the card says so
/// until the admin trusts the new one.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_adds_a_node_over_ssh_and_trusts_its_changed_key() {
    use corral_e2e::sshd::{SshdProc, ssh_user};
    let frontend = frontend_dist();
    let dir = tempfile::tempdir().unwrap();
    let backend = BackendProc::start(&dir.path().join("backend"), &[], Some(&frontend));
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    let key: corral_api::node::SshPublicKey = api.get("/api/v1/ssh-key").await;
    let bridge = BridgeProc::start(dir.path(), "remote");
    let mut sshd = SshdProc::start(&dir.path().join("sshd"), &key.public_key);
    let b = Browser::start().await;

    b.login(&backend.url, "admin", &backend.admin_password).await;
    b.click(sel::ADD_NODE).await;
    b.wait_text(sel::SSH_PUBLIC_KEY, |t| t.trim() == key.public_key).await;
    for (field, value) in [
        ("node-name", "remote".to_string()),
        ("node-host", "127.0.0.1".to_string()),
        ("node-user", ssh_user()),
        ("node-socket", "bridge.sock".to_string()),
    ] {
        b.fill(&sel::node_field(field), &value).await;
    }
    b.fill(sel::NODE_PORT, &sshd.port.to_string()).await;
    b.click(sel::NODE_FETCH_KEY).await;
    let fingerprint = sshd.host_key_fingerprint();
    b.wait_text(sel::NODE_KEY_SHOWN, |t| t.contains(&fingerprint)).await;
    // A relative socket path is refused under its field, which takes the focus.
    b.click(sel::NODE_ENROLL).await;
    b.wait_text("#node-socket-error", |t| t.contains("an absolute path")).await;
    let socket = b.find(&sel::node_field("node-socket")).await;
    assert_eq!(socket.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    let focused = b.client.execute("return document.activeElement.dataset.test", vec![]).await.unwrap();
    assert_eq!(focused, "node-socket", "the bad field has the focus");
    b.fill(&sel::node_field("node-socket"), &bridge.socket.display().to_string()).await;
    b.wait_text("#node-socket-error", str::is_empty).await;
    b.screenshot("20-add-node").await;
    b.click(sel::NODE_ENROLL).await;
    b.wait_text(sel::NODE_STATUS, |t| t == "online").await;
    b.screenshot("21-node-added").await;

    // Its allocation ratios: a word is refused under the field, in words; a number is kept.
    b.click(sel::RATIOS_OPEN).await;
    b.fill(sel::RATIO_CPU, "many").await;
    b.click(sel::RATIO_SAVE).await;
    b.wait_text(sel::RATIO_CPU_ERROR, |t| t == "a number such as 4 or 1.5").await;
    b.fill(sel::RATIO_CPU, "2.5").await;
    b.click(sel::RATIO_SAVE).await;
    b.wait_text(sel::RATIO_CPU_ERROR, str::is_empty).await;
    wait_until("the ratio saved", Duration::from_secs(5), || async {
        let nodes: Vec<corral_api::node::Node> = api.get("/api/v1/nodes").await;
        nodes.iter().any(|n| n.ratios.cpu == 2.5)
    })
    .await;

    sshd.stop();
    sshd.new_host_key();
    let fresh = sshd.host_key_fingerprint();
    sshd.restart();
    b.wait_text(sel::NODE_STATUS, |t| t == "key mismatch").await;
    b.wait_text(sel::NODE_KEY_MISMATCH, |t| t.contains(&fresh)).await;
    b.screenshot("22-key-mismatch").await;
    b.click(sel::NODE_TRUST_KEY).await;
    b.wait_text(sel::NODE_STATUS, |t| t == "online").await;
    b.close().await;
}

/// A user opens the screen of a real TCG guest (the canvas shows it, and a command typed into
/// it as keystrokes runs), then its serial line (types a command, sees the output;
/// after a reload the history is replayed).
#[tokio::test(flavor = "multi_thread")]
async fn a_user_watches_the_screen_and_types_on_the_serial_line_of_a_real_vm() {
    let frontend = frontend_dist();
    let guest = TinyGuest::start("screen", Some(&frontend)).await;
    let (backend, id) = (&guest.backend, guest.machine);
    let b = Browser::start().await;
    b.login(&backend.url, "admin", &backend.admin_password).await;
    b.open(&backend.url, &format!("/machines/{id}")).await;
    b.state_is("running").await;
    // The README's picture of a machine's page.
    b.wait_text(sel::MACHINE_SIZE, |t| t.contains("vCPU")).await;
    b.screenshot("29-machine-summary").await;

    // The screen: noVNC connects, and the guest's text console lights the canvas up.
    b.open_console("vnc").await;
    b.console_connected().await;
    wait_until("the guest's text console on the canvas", Duration::from_secs(60), || async {
        b.canvas_lit().await > 2000
    })
    .await;
    // Text typed as keystrokes runs in the shell on the guest's screen (tty1), which writes
    // its answer to the serial line: "vnc-42" shows up there only if every key arrived, with
    // Shift where the text needs it (`$`, `(`, `*`, `)`, `>`). A blinking cursor proves nothing.
    b.type_into(sel::VNC_TEXT, "echo vnc-$((6*7)) > /dev/ttyS0").await;
    b.click(sel::VNC_TYPE).await;
    b.click(sel::VNC_TYPE_ENTER).await;
    b.screenshot("30-vnc-console").await;
    // The console tab passes axe too (the sim's pages, which have no consoles, are checked in
    // every_page_passes_axe_in_both_themes_and_on_a_phone).
    let found = b.accessibility_failures().await;
    assert!(found.is_empty(), "axe on the screen's tab:\n{}", found.join("\n"));

    // The serial line: the boot log is there, a command typed in the terminal runs.
    b.open_console("serial").await;
    b.console_connected().await;
    b.terminal_shows(READY).await;
    b.terminal_shows("vnc-42").await;
    b.serial_type("echo serial-$((6*7))").await;
    b.terminal_shows("serial-42").await;
    b.screenshot("31-serial-console").await;
    // Leaving the screen for the serial line let the screen's socket call back into a page
    // part already gone, a panic each time.
    assert_eq!(b.page_errors().await, Vec::<String>::new(), "the page reported errors");

    // A reload starts from nothing in the page: the node's history brings it all back.
    b.client.refresh().await.unwrap();
    b.open_console("serial").await;
    b.console_connected().await;
    b.terminal_shows("serial-42").await;

    // The pop-out page is the console alone, under its machine's name; a second screen
    // viewer shares it.
    b.open(&backend.url, &format!("/machines/{id}/console/vnc")).await;
    b.console_connected().await;
    b.find(sel::VNC_SCREEN_CANVAS).await;
    b.wait_text(sel::POPOUT_TITLE, |t| t.ends_with("· screen")).await;
    assert!(b.absent(sel::CURRENT_USER).await, "the pop-out carries the app's header");

    // Stopped under an open console, the console waits for the machine instead of asking
    // again and again (each refusal a line in the audit log), and reconnects when it runs.
    b.open(&backend.url, &format!("/machines/{id}")).await;
    b.open_console("serial").await;
    // The page left a moment ago held the line, and its socket may still be closing: the
    // line is then offered to take over, as to anyone else.
    let takeover = "[data-test=serial-takeover]";
    wait_until("the serial line, or an offer to take it over", Duration::from_secs(10), || async {
        !b.absent(takeover).await || b.texts(sel::CONSOLE_LINK).await == ["connected"]
    })
    .await;
    if !b.absent(takeover).await {
        b.click(takeover).await;
    }
    b.console_connected().await;
    let path = format!("/api/v1/machines/{id}");
    assert_eq!(guest.api.send("POST", &format!("{path}/force-stop"), None).await.status, 202);
    b.wait_text(sel::CONSOLE_LINK, |t| t.ends_with("reconnects when it runs")).await;
    let refusals = || async {
        let log = guest.api.send("GET", &format!("/api/v1/audit?machine_id={id}"), None).await;
        log.body
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "console.create" && e["result"] != "ok")
            .count()
    };
    let before = refusals().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(refusals().await, before, "the console kept asking for tickets while the machine was stopped");
    assert_eq!(guest.api.send("POST", &format!("{path}/start"), None).await.status, 202);
    b.console_connected().await;
    b.close().await;
}

/// An admin works through the admin panel: a tenant with a quota, an owner made into it
/// (password shown once), users listed and one disabled, the audit log of it all, and an
/// API token created and revoked from the account page.
#[tokio::test(flavor = "multi_thread")]
async fn an_admin_runs_tenants_users_quotas_tokens_and_audit_from_the_panel() {
    let console = SimConsole::start();
    let backend = &console.backend;
    let base = backend.url.as_str();
    let b = Browser::start().await;
    b.login(base, "admin", &backend.admin_password).await;

    b.click(sel::NAV_ADMIN).await;
    // A name that is not one is said under its field, and nothing is made.
    b.type_into(sel::TENANT_NAME, "Not A Name").await;
    b.click(sel::TENANT_CREATE).await;
    b.wait_text("#tenant-name-error", |t| !t.is_empty()).await;
    let invalid = b.find(sel::TENANT_NAME).await.attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    b.fill(sel::TENANT_NAME, "acme").await;
    b.click(sel::TENANT_CREATE).await;
    b.click(&sel::tenant_link("acme")).await;
    b.type_into(sel::QUOTA_VCPUS, "8").await;
    b.type_into(sel::QUOTA_MACHINES, "4").await;
    b.click(sel::QUOTA_SAVE).await;
    b.wait_text(sel::QUOTA_TABLE, |t| t.contains("vCPUs 0 8") && t.contains("Machines 0 4")).await;
    b.type_into(sel::MEMBER_NEW_NAME, "olga").await;
    b.type_into(sel::MEMBER_NEW_ROLE, "owner").await;
    b.click(sel::MEMBER_ADD).await;
    let shown = b.wait_text(sel::NEW_USER_PASSWORD, |t| t.contains("olga: ")).await;
    // Olga logs in once, so the log has something of hers.
    let password = shown.rsplit("olga: ").next().unwrap().trim().to_string();
    let login = serde_json::json!({"username": "olga", "password": password});
    let r = reqwest::Client::new().post(format!("{base}/api/v1/session")).json(&login).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "olga logs in");
    b.find(&sel::member_row("olga")).await;
    b.screenshot("40-admin-tenant").await;

    b.open(base, "/admin/users").await;
    // An admin's own row offers nothing the server would refuse.
    b.wait_text(&format!("{} td:last-child", sel::user_row("admin")), |t| t == "you").await;
    b.click(&format!("{} [data-test=user-toggle]", sel::user_row("olga"))).await;
    b.wait_text(sel::CONFIRM_TITLE, |t| t == "Disable olga?").await;
    b.answer(true).await;
    b.wait_text(&format!("{} [data-test=user-state]", sel::user_row("olga")), |t| t == "disabled").await;
    b.screenshot("41-admin-users").await;

    b.open(base, "/admin/audit").await;
    for action in ["tenant.create", "user.create", "user.update"] {
        b.find(&sel::audit_row(action)).await;
    }
    // Targets read as names, linked to their pages.
    b.wait_text(&format!("{} {}", sel::audit_row("quota.set"), sel::AUDIT_TARGET), |t| t == "tenant acme")
        .await;
    b.screenshot("42-admin-audit").await;
    // Filters take names, not ids: olga's entries only, then users' actions only.
    b.fill(sel::AUDIT_USER, "olga").await;
    b.click(sel::AUDIT_ACTION).await; // leaves the name field: it applies
    wait_until("only olga's entries", Duration::from_secs(5), || async {
        b.texts("[data-test=audit-row] td:nth-child(2)").await == ["olga"]
    })
    .await;
    b.fill(sel::AUDIT_USER, "nobody-at-all").await;
    b.click(sel::AUDIT_ACTION).await;
    b.wait_text(sel::ERROR, |t| t.contains("no user is named")).await;
    b.fill(sel::AUDIT_USER, "").await;
    b.find(sel::AUDIT_ACTION).await.select_by_label("Users").await.unwrap();
    wait_until("users' actions only", Duration::from_secs(5), || async {
        let actions = b.texts("[data-test=audit-row] td:nth-child(3)").await;
        !actions.is_empty() && actions.iter().all(|a| a.starts_with("user."))
    })
    .await;

    b.open(base, "/account").await;
    // A wrong field is said under it, in words, as it is typed.
    b.type_into("[data-test=token-days]", "soon").await;
    b.wait_text("#token-days-error", |t| t.contains("a whole number of days")).await;
    // Erased as a person does (WebDriver's clear fires no input event).
    let backspace = char::from(fantoccini::key::Key::Backspace).to_string();
    b.type_into("[data-test=token-days]", &backspace.repeat(4)).await;
    b.wait_text("#token-days-error", str::is_empty).await;
    b.type_into(sel::TOKEN_NAME, "backup-script").await;
    b.click(sel::TOKEN_CREATE).await;
    let secret = b.wait_text(sel::TOKEN_SECRET, |t| t.starts_with("corral_")).await;
    let api = reqwest::Client::new();
    let r = api.get(format!("{base}/api/v1/machines")).bearer_auth(secret.trim()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200, "the token works");
    b.click(&format!("{} [data-test=token-revoke]", sel::token_row("backup-script"))).await;
    b.wait_text(sel::CONFIRM_TITLE, |t| t == "Revoke the token backup-script?").await;
    b.answer(true).await;
    b.wait_gone(&sel::token_row("backup-script")).await;
    b.wait_gone(sel::TOKEN_SECRET).await;
    let r = api.get(format!("{base}/api/v1/machines")).bearer_auth(secret.trim()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401, "revoked");
    b.close().await;
}

/// On a node that runs VMs and zones: a zone made from the form (which offers the zone image
/// only once "Zone" is chosen), its console opened, a command typed and answered, a shell of
/// one's own opened at the page's size, and a snapshot taken of its files, all from its page.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_creates_a_zone_opens_its_console_and_snapshots_it() {
    let frontend = frontend_dist();
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_with(dir.path(), "mixed", &["--driver", "qemu,lxc", "--accel", "tcg"]);
    let task = bridge.import_image("busybox.tar.gz", &zone_image()).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], Some(&frontend));
    let base = backend.url.as_str();
    let b = Browser::start().await;
    b.login(base, "admin", &backend.admin_password).await;

    b.open(base, "/machines/new").await;
    b.fill(sel::CREATE_NAME, "web-zone").await;
    b.click(sel::CREATE_KIND_ZONE).await;
    b.wait_text(sel::CREATE_IMAGE_OPTION, |t| t == "busybox.tar.gz").await;
    b.fill(sel::CREATE_MEMORY, "128").await;
    b.screenshot("zone-01-create-form").await;
    b.click(sel::CREATE_SUBMIT).await;

    b.wait_text(sel::MACHINE_NAME, |t| t == "web-zone").await;
    b.wait_text(sel::KIND, |t| t.starts_with("zone")).await;
    b.wait_text(sel::ZONE_OS, |t| t == "busybox 1.35.0, busybox init").await;
    b.wait_text(sel::ZONE_STORAGE, |t| t.contains("not enforced")).await;
    b.state_is("stopped").await;
    b.click(sel::START).await;
    b.state_is("running").await;

    b.open_console("serial").await;
    b.console_connected().await;
    b.terminal_shows("corral-zone: ready").await;
    b.serial_type("echo from-the-page-$((6*7))").await;
    b.terminal_shows("from-the-page-42").await;
    b.screenshot("zone-02-console").await;

    // A shell of one's own, on a terminal the size of the page's.
    b.open_console("shell").await;
    b.console_connected().await;
    // Typed before the shell reads its terminal, a line is lost: ash flushes what waits in
    // the terminal when it starts. Its prompt says it is reading.
    b.terminal_shows("/ #").await;
    b.serial_type("stty size; echo shell-$((6*7))").await;
    let shown = b.terminal_shows("shell-42").await;
    assert!(!shown.contains("24 80"), "the shell kept the default size, not the page's: {shown}");
    b.screenshot("zone-02b-shell").await;
    let found = b.accessibility_failures().await;
    assert!(found.is_empty(), "axe on the zone's console tab:\n{}", found.join("\n"));

    b.machine_tab("snapshots").await;
    b.find(sel::SNAPSHOT_FILES_ONLY).await;
    b.take_snapshot("first").await;
    b.find(&sel::snapshot_row("first")).await;
    b.screenshot("zone-03-snapshot").await;
    let id =
        bridge.client().machine_list().await.unwrap().into_iter().find(|m| m.name == "web-zone").unwrap().id;
    assert!(
        bridge.data_dir.join("zones").join(id.to_string()).join("snapshots/first/rootfs").is_dir(),
        "the snapshot's files are on the node"
    );

    b.open(base, "/machines").await;
    b.wait_text(&format!("{} {}", sel::machine_row("web-zone"), sel::MACHINE_KIND), |t| t == "zone").await;
    b.close().await;
}

/// A user keeps an SSH key on the account page and gives it to a new machine with user data
/// from the template; the machine's page says what its guest was given, and its owner
/// changes the user data for the next boot. A machine on a host bridge is given a static
/// address. Bad input is said under its field.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_gives_a_new_machine_their_key_and_user_data() {
    // The sim takes the bridge's name on trust: nothing is sent on any network.
    let console = SimConsole::start_with(&["--host-bridges", "br-lab"]);
    let base = console.backend.url.as_str();
    let b = Browser::start().await;
    b.login(base, "admin", &console.backend.admin_password).await;

    b.open(base, "/account").await;
    b.fill(sel::SSH_KEY_NAME, "laptop").await;
    b.fill(sel::SSH_KEY_TEXT, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEDP").await;
    b.click(sel::SSH_KEY_ADD).await;
    b.wait_text(sel::SSH_KEY_TEXT_ERROR, |t| t.contains("cut short")).await;
    b.fill(sel::SSH_KEY_TEXT, KEY).await;
    b.click(sel::SSH_KEY_ADD).await;
    b.wait_text(sel::SSH_KEY_FINGERPRINT, |t| t == FINGERPRINT).await;
    b.screenshot("40-ssh-keys").await;

    b.open(base, "/machines/new").await;
    b.fill(sel::CREATE_NAME, "keyed").await;
    b.click(&sel::create_key("laptop")).await;
    b.fill(sel::CREATE_USER_DATA, "echo hi").await;
    b.click(sel::CREATE_SUBMIT).await;
    b.wait_text(sel::CREATE_USER_DATA_ERROR, |t| t.contains("#cloud-config")).await;
    b.click(sel::CREATE_USER_DATA_TEMPLATE).await;
    b.wait_text(sel::CREATE_USER_DATA_ERROR, str::is_empty).await;
    b.screenshot("41-create-first-boot").await;
    b.click(sel::CREATE_SUBMIT).await;

    b.wait_text(sel::MACHINE_NAME, |t| t == "keyed").await;
    b.wait_text(sel::GUEST_KEYS, |t| t.contains("laptop") && t.contains(FINGERPRINT)).await;
    b.wait_text(sel::GUEST_USER_DATA, |t| t.starts_with("#cloud-config,") && t.ends_with("bytes")).await;
    b.wait_text(sel::GUEST_REVISION, |t| t.starts_with('1')).await;

    // The owner changes it for the next boot: YAML that is not is refused under the box.
    b.click(sel::GUEST_USER_DATA_OPEN).await;
    b.wait_value(sel::GUEST_USER_DATA_TEXT, |t| t.contains("packages:")).await;
    b.fill(sel::GUEST_USER_DATA_TEXT, "#cloud-config\npackages: [htop\n").await;
    b.click(sel::GUEST_USER_DATA_SAVE).await;
    b.wait_text(sel::GUEST_USER_DATA_TEXT_ERROR, |t| t.contains("not YAML")).await;
    b.fill(sel::GUEST_USER_DATA_TEXT, "#!/bin/sh\necho two\n").await;
    b.click(sel::GUEST_USER_DATA_SAVE).await;
    b.wait_text(sel::GUEST_REVISION, |t| t.starts_with('2')).await;
    b.wait_text(sel::GUEST_USER_DATA, |t| t.starts_with("script,")).await;
    b.screenshot("42-machine-first-boot").await;

    // On a user-mode NIC there is no address to give; on a host bridge there is.
    b.open(base, "/machines/new").await;
    b.fill(sel::CREATE_NAME, "fixed").await;
    assert!(b.absent(sel::CREATE_ADDRESS).await, "an address offered for a user-mode NIC");
    b.find(sel::CREATE_NETWORK).await.select_by_label("Host bridge br-lab").await.unwrap();
    b.fill(sel::CREATE_HOSTNAME, "fixed.lab.example").await;
    b.fill(sel::CREATE_ADDRESS, "192.0.2.10").await;
    b.wait_text(sel::CREATE_NETWORK_ERROR, |t| t.contains("prefix")).await;
    b.fill(sel::CREATE_ADDRESS, "192.0.2.10/24").await;
    b.fill(sel::CREATE_GATEWAY, "198.51.100.1").await;
    b.wait_text(sel::CREATE_NETWORK_ERROR, |t| t.contains("gateway")).await;
    b.fill(sel::CREATE_GATEWAY, "192.0.2.1").await;
    b.fill(sel::CREATE_NAMESERVERS, "192.0.2.53, 192.0.2.54").await;
    b.wait_text(sel::CREATE_NETWORK_ERROR, str::is_empty).await;
    b.click(sel::CREATE_SUBMIT).await;
    b.wait_text(sel::MACHINE_NAME, |t| t == "fixed").await;
    b.wait_text(sel::GUEST_HOSTNAME, |t| t == "fixed.lab.example").await;
    b.wait_text(sel::GUEST_ADDRESS, |t| {
        t == "192.0.2.10/24 via 192.0.2.1, name servers 192.0.2.53, 192.0.2.54"
    })
    .await;
    b.close().await;
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEDP++AB6YIP5+uvo3/GxR5jU8eMI4ChHm/l8zJPXNDq olive@laptop";
const FINGERPRINT: &str = "SHA256:0NoZMkog07CDEvQUAsX8g6zJJqxgLPyGSFd0IuRhWj8";
