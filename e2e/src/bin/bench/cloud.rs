//! The Debian cloud guest from create to a login over SSH with the key it was given, under
//! TCG (and KVM where this node's accelerator can boot Linux guests), with cloud-init's own
//! account of its stages beside it: how much of the wait is the guest's first boot work.

use std::path::Path;
use std::time::Duration;

use corral_bridge::host::{Accel, AccelChoice, choose_accel};

use super::metrics::FigureRow;

fn row(login: &corral_e2e::cloud::Login) -> FigureRow {
    let what = if login.accel == "kvm" {
        "Debian cloud guest: create → SSH login with its key (KVM)"
    } else {
        "Debian cloud guest: create → SSH login with its key (TCG)"
    };
    FigureRow {
        what,
        ours: format!("{:.0} s", login.create_to_login.as_secs_f64()),
        base_name: "cloud-init's own stages, inside that (`cloud-init analyze show`)",
        base: login.cloud_init_secs.map(|s| format!("{s:.1} s")).unwrap_or_else(|| "not reported".into()),
        goal: "stated".into(),
    }
}

pub async fn rows(dir: &Path) -> Vec<FigureRow> {
    let tcg = corral_e2e::cloud::debian_login(&dir.join("tcg"), "tcg", Duration::from_secs(600)).await;
    let mut rows = vec![row(&tcg)];
    let Accel { name, reason } = choose_accel(AccelChoice::Auto, Path::new("/sys"), Path::new("/dev/kvm"));
    if name == "kvm" {
        let kvm = corral_e2e::cloud::debian_login(&dir.join("kvm"), "kvm", Duration::from_secs(600)).await;
        rows.push(row(&kvm));
    } else {
        rows.push(FigureRow {
            what: "Debian cloud guest: create → SSH login with its key (KVM)",
            ours: "not measured".into(),
            base_name: "this node's accelerator",
            base: reason,
            goal: "stated".into(),
        });
    }
    rows
}
