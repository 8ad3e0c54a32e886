//! A real cloud guest: Debian 12 from `scripts/build-debian-image.sh`, under TCG, made through
//! the backend with a user's SSH key and user data. It boots, cloud-init reads the seed, and
//! the test logs in over SSH through a port forward with the key, then finds its hostname
//! and the file the user data wrote. One guest, one boot (it takes minutes under TCG).
//!
//! Needs the Debian image: `scripts/test.sh` builds it (once per machine) and sets
//! `CORRAL_DEBIAN_IMAGE`.

use std::time::Duration;

use corral_e2e::cloud::{WRITTEN, debian_login};

#[tokio::test(flavor = "multi_thread")]
async fn a_debian_guest_lets_its_user_in_with_the_key_it_was_given() {
    let dir = tempfile::tempdir().unwrap();
    let login = debian_login(dir.path(), "tcg", Duration::from_secs(360)).await;
    assert_eq!(login.hostname, "deb", "the hostname from meta-data");
    assert_eq!(login.written, WRITTEN.1, "the file the user data wrote");
    eprintln!(
        "debian guest: create to SSH login {:.0} s under {}; cloud-init {:?} s",
        login.create_to_login.as_secs_f64(),
        login.accel,
        login.cloud_init_secs
    );
}
