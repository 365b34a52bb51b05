//! The tokio shell: AF_PACKET socket on the access NIC, timers, signals.
