//! FreeRADIUS for `--radius`: its config directory and the daemon's
//! RADIUS keys.

use std::{
    path::Path,
    process::{Command, Stdio},
};

use anyhow::Result;

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
/// 3.2.1 does not sign answers by itself: post-auth adds the
/// Message-Authenticator the BRAS requires.
pub(super) fn radius_config(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let d = dir.display();
    let conf = format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
raddbdir = {d}
confdir = ${{raddbdir}}
modconfdir = ${{confdir}}/mods-config
logdir = ${{raddbdir}}
radacctdir = ${{raddbdir}}
run_dir = ${{raddbdir}}
db_dir = ${{raddbdir}}
libdir = /usr/lib/freeradius
pidfile = ${{run_dir}}/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
	destination = stdout
	auth = no
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}}
thread pool {{
	start_servers = 4
	max_servers = 8
	min_spare_servers = 2
	max_spare_servers = 8
}}
client bras {{
	ipaddr = 192.0.2.1
	secret = {RADIUS_SECRET}
	require_message_authenticator = yes
}}
modules {{
	pap {{
	}}
	chap {{
	}}
	files {{
		filename = ${{raddbdir}}/users
	}}
	detail {{
		filename = ${{raddbdir}}/detail
		permissions = 0600
		header = "%t"
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = {RADIUS_ADDR}
		port = 1812
	}}
	listen {{
		type = acct
		ipaddr = {RADIUS_ADDR}
		port = 1813
	}}
	authorize {{
		chap
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
	}}
	preacct {{
	}}
	accounting {{
		detail
	}}
	post-auth {{
		update reply {{
			&Message-Authenticator := 0x00
		}}
		Post-Auth-Type REJECT {{
			update reply {{
				&Message-Authenticator := 0x00
			}}
		}}
	}}
}}
"#
    );
    std::fs::write(dir.join("radiusd.conf"), conf)?;
    std::fs::write(dir.join("dictionary"), "")?;
    std::fs::write(
        dir.join("users"),
        "subscriber Cleartext-Password := \"password\"\n",
    )?;
    let _ = std::fs::remove_file(dir.join("detail"));
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
