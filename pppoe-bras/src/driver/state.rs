//! The hitless-restart state file: read at start (what a previous daemon
//! left), written within `STATE_PERIOD` of every change.

use super::*;

/// The state file a previous daemon left, if it can be adopted (else it is
/// removed with a log line saying why).
pub(super) fn read_state(
    path: &std::path::Path,
    pin_dir: &std::path::Path,
) -> Option<crate::state::StateFile> {
    let bytes = std::fs::read(path).ok()?;
    match crate::state::StateFile::decode(&bytes, &pin_dir.to_string_lossy()) {
        Ok(f) => {
            log::info!(
                "state file {}: {} sessions of a previous daemon to re-adopt",
                path.display(),
                f.sessions.len()
            );
            Some(f)
        }
        Err(e) => {
            log::warn!("{}: {e}", path.display());
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// The data-plane row of a saved session.
pub(super) fn adopted_row(
    s: &crate::state::SavedSession,
    bras_mac: [u8; 6],
) -> crate::dataplane::Adopted {
    crate::dataplane::Adopted {
        row: SessionRow {
            vlans: (
                s.outer_tag.map_or(0, |t| t.1),
                s.inner_tag.map_or(0, |t| t.1),
            ),
            outer_tpid: s.outer_tag.map_or(0, |t| t.0),
            client_mac: s.client_mac,
            bras_mac,
            session_id: s.session_id,
            address: s.address,
            mtu: s.peer_mru,
        },
        slot: s.slot,
        block: s.block,
    }
}

/// The discovery key of a saved session.
pub(super) fn saved_key(s: &crate::state::SavedSession) -> SessionKey {
    use crate::wire::eth::{VlanTag, Vlans};
    let tag = |t: Option<(u16, u16)>| t.map(|(tpid, vid)| VlanTag { tpid, vid });
    SessionKey {
        vlans: Vlans {
            outer: tag(s.outer_tag),
            inner: tag(s.inner_tag),
        },
        peer_mac: s.client_mac,
        session_id: s.session_id,
    }
}

/// Write the state file atomically (temporary file, fsync, rename): a
/// crash leaves the previous file or this one, never half of one.
pub(super) fn write_state(
    path: &std::path::Path,
    manager: &Manager,
    dataplane: &Dataplane,
    aaa: &Aaa,
    pin_dir: &std::path::Path,
) {
    use std::io::Write as _;
    let sessions = manager
        .saved_sessions()
        .into_iter()
        .filter_map(|(key, mut s)| {
            let (slot, block) = dataplane.allocation(s.address)?;
            s.slot = slot;
            s.block = block;
            aaa.save(&key, &mut s);
            Some(s)
        })
        .collect();
    let file = crate::state::StateFile::new(&pin_dir.to_string_lossy(), sessions);
    let tmp = path.with_extension("tmp");
    let res = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&file.encode())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        log::warn!("writing the state file {}: {e}", path.display());
    }
}
