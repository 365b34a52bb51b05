//! Map names, keys and values (filled in by the data-plane work).

/// Directory where the maps are pinned.
pub const PIN_DIR: &str = "/sys/fs/bpf/pppoe-bras";
