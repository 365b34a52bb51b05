//! PPP control packets (code, identifier, length, data) and their options.
