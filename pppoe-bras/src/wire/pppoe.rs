//! PPPoE header and discovery tags (RFC 2516, RFC 4638).
