//! The manager's queued frames and map changes carried out: frames to the
//! access NIC, `DataplaneOp`s to the data plane (and to AAA).

use super::*;

/// The data plane's view of a session.
pub(crate) fn session_row(
    key: &SessionKey,
    bras_mac: [u8; 6],
    address: Ipv4Addr,
    mtu: u16,
) -> SessionRow {
    SessionRow {
        vlans: (key.vlans.outer_vid(), key.vlans.inner_vid()),
        outer_tpid: key.vlans.outer.map_or(0, |t| t.tpid),
        client_mac: key.peer_mac,
        bras_mac,
        session_id: key.session_id,
        address,
        mtu,
    }
}

/// Send queued frames and apply queued map changes; true when the data
/// plane changed (the state file is then out of date).
pub(super) fn flush(
    manager: &mut Manager,
    sock: &PacketSocket,
    dataplane: &mut Dataplane,
    mac: [u8; 6],
    aaa: &mut Aaa,
) -> bool {
    let mut changed = false;
    while let Some(frame) = manager.poll_transmit() {
        if let Err(e) = sock.send(&frame) {
            log::warn!("send on access interface: {e}");
        }
    }
    let mut failed = Vec::new();
    while let Some(op) = manager.poll_dataplane() {
        changed = true;
        let (fail, removed) = apply(dataplane, op.clone(), mac);
        aaa.applied(manager, dataplane, mac, &op, fail.is_none(), removed);
        failed.extend(fail);
    }
    if !failed.is_empty() {
        let now = Instant::now();
        for (key, error) in &failed {
            manager.install_failed(now, key, error);
        }
        flush(manager, sock, dataplane, mac, aaa);
    }
    changed
}

/// Apply one map change; returns the session whose rows could not be
/// installed, with why, so the caller ends it, and the counters of removed
/// rows.
fn apply(
    dataplane: &mut Dataplane,
    op: DataplaneOp,
    bras_mac: [u8; 6],
) -> (
    Option<(SessionKey, String)>,
    Option<crate::dataplane::SessionCounters>,
) {
    match op {
        DataplaneOp::Install { key, address, mtu } => {
            let row = session_row(&key, bras_mac, address, mtu);
            if let Err(e) = dataplane.install(&row) {
                let hint = format!(
                    "{e:#}; with NAT, capacity is public addresses × port blocks ({} now): add \
                     public_addresses or use a smaller port_block_size",
                    dataplane.block_capacity()
                );
                return (Some((key, hint)), None);
            } else if let Some((ip, first, size)) = dataplane.nat_block(&row) {
                // RFC 6888 §4 / RFC 7422: with port blocks, this one line per
                // session is enough to trace any flow back to the subscriber.
                log::info!(
                    "session {:#06x} address={address} nat={ip}:{first}-{}",
                    key.session_id,
                    u32::from(first) + u32::from(size) - 1
                );
            }
        }
        DataplaneOp::Remove { key, address, down } => {
            let row = session_row(&key, bras_mac, address, 0);
            let (bytes, removed) = match dataplane.remove(&row) {
                Ok(c) => (
                    format!(
                        "packets={}/{} bytes={}/{}",
                        c.up_packets, c.down_packets, c.up_bytes, c.down_bytes
                    ),
                    Some(c),
                ),
                Err(e) => {
                    log::error!("session {:#06x}: remove map rows: {e:#}", key.session_id);
                    ("bytes=?".to_owned(), None)
                }
            };
            if let Some(down) = down {
                let shown = (!address.is_unspecified()).then_some(address);
                log::info!("{}", down.log_line(&key, shown, &bytes));
            }
            return (None, removed);
        }
        DataplaneOp::InstallV6 {
            key,
            prefix64,
            delegated,
            ..
        } => {
            // The rows are found by the session's key; the address is unused.
            let row = session_row(&key, bras_mac, std::net::Ipv4Addr::UNSPECIFIED, 0);
            if let Err(e) = dataplane.set_v6(&row, Some(prefix64.0), delegated) {
                log::warn!("session {:#06x}: IPv6 data path: {e:#}", key.session_id);
            }
        }
        DataplaneOp::RemoveV6 {
            key,
            prefix64,
            delegated,
        } => {
            let row = session_row(&key, bras_mac, std::net::Ipv4Addr::UNSPECIFIED, 0);
            if prefix64.is_some() {
                dataplane.clear_v6(&row);
            } else if delegated.is_some() {
                // Only the delegated prefix went: keep the /64.
                if let Err(e) = dataplane.drop_delegated(&row) {
                    log::warn!("session {:#06x}: IPv6 data path: {e:#}", key.session_id);
                }
            }
        }
    }
    (None, None)
}
