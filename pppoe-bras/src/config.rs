//! Configuration: TOML file plus pppoe-server-style flags.
