//! Discovery's counters, each named once.

use crate::wire::Error;

crate::counters::counters! {
    /// Discovery's counters: frames handled and frames dropped, by reason
    /// (`pppoe-bras stats` shows them as `discovery.<name>`). Every dropped
    /// frame counts in exactly one `drop_*` counter, whose name the debug
    /// log line gives as the reason.
    pub enum DiscoveryStat in DiscoveryStats {
        /// PADI to us or broadcast with session id 0 (before the rate limits).
        PadiRx = "padi_rx",
        /// PADO sent (or queued for `pado_delay`).
        PadoTx = "pado_tx",
        /// PADR to us with session id 0 (before the cookie check).
        PadrRx = "padr_rx",
        /// PADS that started a session.
        PadsTx = "pads_tx",
        /// PADS re-sent for a retransmitted PADR.
        PadsRetransmit = "pads_retransmit",
        /// PADS with session id 0 and an error tag.
        PadsErrorTx = "pads_error_tx",
        /// PADT matching a live session.
        PadtRx = "padt_rx",
        /// PADT for a session that had just ended (the peer's Terminate-Request
        /// or ours came first): the normal end of a hang-up, not a drop.
        PadtAfterEnd = "padt_after_end",
        /// Not EtherType 0x8863.
        DropEthertype = "drop_ethertype",
        /// Source MAC multicast, broadcast or zero.
        DropBadSrcMac = "drop_bad_src_mac",
        /// Destination neither us nor (for PADI) broadcast.
        DropBadDstMac = "drop_bad_dst_mac",
        /// VER/TYPE not 1/1.
        DropBadVersion = "drop_bad_version",
        /// Truncated header or tags, length past the end.
        DropMalformed = "drop_malformed",
        /// PADI/PADR with a non-zero session id.
        DropBadSessionId = "drop_bad_session_id",
        /// PADO, PADS, session code or unknown code sent to the AC.
        DropUnexpectedCode = "drop_unexpected_code",
        /// PADI/PADR without a Service-Name tag.
        DropNoServiceName = "drop_no_service_name",
        /// Service-Name not served (PADI ignored, PADR answered with an error).
        DropUnknownService = "drop_unknown_service",
        /// PADR with a missing, forged or expired AC-Cookie.
        DropBadCookie = "drop_bad_cookie",
        /// Session limits or id space exhausted.
        DropLimit = "drop_limit",
        /// Reply would not fit in 1500 bytes (oversized echoed tags).
        DropTooBig = "drop_too_big",
        /// PADT for no live session.
        DropUnknownSession = "drop_unknown_session",
        /// Tag stack not in the `vlans` list.
        DropVlan = "drop_vlan",
        /// PADI over the per-MAC rate.
        DropRateMac = "drop_rate_mac",
        /// PADI over the total rate.
        DropRateTotal = "drop_rate_total",
        /// PADO not sent: too many waiting for `pado_delay`.
        DropPadoBacklog = "drop_pado_backlog",
    }
}

impl DiscoveryStat {
    /// The counter a header or tag parse error goes to.
    pub(super) fn of_parse_error(e: Error) -> Self {
        match e {
            Error::BadVersion(_) => DiscoveryStat::DropBadVersion,
            _ => DiscoveryStat::DropMalformed,
        }
    }
}
