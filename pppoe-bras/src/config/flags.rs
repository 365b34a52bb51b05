//! [`Overrides`]: what the command line (and a pppd options file, under
//! it) sets, by TOML key name, as text. The resolvers read it through
//! `place::Resolver` by the key's name, as they read the file.

use std::collections::BTreeMap;

use super::keys::KEYS;

/// Values set on the command line (or by a `-O` file), each winning over
/// the file: by TOML key name (`lcp_echo_interval`), the flag's value(s)
/// as typed (`--no-nat` as `nat = "false"`). [`super::Config::resolve`] checks them with the same
/// rules as the file and blames the flag.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides(BTreeMap<&'static str, Vec<String>>);

/// No flags: for the tables inside the file (`[[radius_servers]]`), whose
/// field names are not keys.
pub(super) static NONE: Overrides = Overrides(BTreeMap::new());

impl Overrides {
    /// `key` set to `values`, as its flag(s) would.
    pub fn with<V: Into<String>>(
        mut self,
        key: &'static str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.set(key, values);
        self
    }

    /// Sets `key` (a TOML key name) to `values`, replacing what was set.
    pub fn set<V: Into<String>>(&mut self, key: &'static str, values: impl IntoIterator<Item = V>) {
        debug_assert!(KEYS.iter().any(|k| k.name == key), "{key} is not a key");
        self.0
            .insert(key, values.into_iter().map(Into::into).collect());
    }

    /// What `key` was set to, if anything.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.0.get(key).map(Vec::as_slice)
    }

    /// `key`'s values, to add to (empty if unset).
    pub(super) fn values_mut(&mut self, key: &'static str) -> &mut Vec<String> {
        self.0.entry(key).or_default()
    }

    /// Every key of `under` not set here (flags over a `-O` file).
    pub(super) fn fill_from(&mut self, under: &Overrides) {
        for (&key, values) in &under.0 {
            self.0.entry(key).or_insert_with(|| values.clone());
        }
    }
}
