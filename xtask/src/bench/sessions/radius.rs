//! FreeRADIUS for `--radius`: its config directory and the daemon's
//! RADIUS keys.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::Result;

/// The one FreeRADIUS configuration, shared with the daemon's netns tests.
#[path = "../../../../pppoe-bras/tests/freeradius/mod.rs"]
mod freeradius;

use freeradius::{Load, Radiusd};

/// FreeRADIUS's address in the inet namespace and the shared secret.
const RADIUS_ADDR: &str = "192.0.2.2";
const RADIUS_SECRET: &str = "bench-secret";

pub(super) fn have_freeradius() -> bool {
    Command::new("freeradius")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A FreeRADIUS 3 config directory in `dir`: the BRAS (192.0.2.1) as
/// client, every subscriber in `users` (CHAP), accounting to `detail`.
pub(super) fn radius_config(dir: &Path) -> Result<()> {
    let radiusd = Radiusd {
        client: "192.0.2.1",
        listen: RADIUS_ADDR,
        secret: RADIUS_SECRET,
        load: Load::Bench,
    };
    radiusd.write_dir(dir, "subscriber Cleartext-Password := \"password\"\n")?;
    Ok(())
}

/// The BRAS config's RADIUS part (top-level keys, then the tables).
pub(super) fn radius_toml() -> (String, String) {
    (
        "auth_sources = [\"radius\"]\n".to_owned(),
        format!(
            "[[radius_servers]]\naddress = \"{RADIUS_ADDR}\"\nsecret = \"{RADIUS_SECRET}\"\n\
             [[radius_servers]]\naddress = \"{RADIUS_ADDR}\"\nkind = \"acct\"\n\
             secret = \"{RADIUS_SECRET}\"\n"
        ),
    )
}
