//! Subscriber emulator: PPPoE clients built on the same wire/ppp code in the peer role.
