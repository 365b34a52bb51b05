//! The FreeRADIUS 3 server the RADIUS netns tests and `cargo xtask bench
//! sessions --radius` run against: a config directory of its own, the BRAS
//! as the one client, `pap`, `chap` and `files` (`users`) for
//! authentication, `detail` for accounting. 3.2.1 does not sign its
//! answers by itself: post-auth adds the Message-Authenticator the BRAS
//! requires (what later 3.2 releases do by default).
//!
//! One definition for both: `tests/netns_radius.rs` has this file as `mod
//! freeradius;`, xtask (which does not link this crate) through `#[path]`.
//! `radiusd.conf` next to it is the template, `@NAME@` its placeholders.

use std::path::Path;

/// Whom FreeRADIUS serves, where, and for what load.
pub struct Radiusd<'a> {
    /// The BRAS's address: the one client.
    pub client: &'a str,
    /// FreeRADIUS's address: authentication on 1812, accounting on 1813.
    pub listen: &'a str,
    pub secret: &'a str,
    pub load: Load,
}

/// What the server is tuned for.
#[allow(dead_code)] // each includer builds one of the two
pub enum Load {
    /// The netns tests (`freeradius -X`): up to a thousand sessions, a log
    /// line per authentication.
    Tests,
    /// The sessions bench (`freeradius -f`): tens of thousands of
    /// sessions, threads, no log line per authentication.
    Bench,
}

impl Radiusd<'_> {
    /// `radiusd.conf` of the config directory `raddb`.
    pub fn conf(&self, raddb: &Path) -> String {
        let (max_requests, log_auth, threads) = match self.load {
            Load::Tests => ("1024", "yes", ["1", "4", "1", "2"]),
            Load::Bench => ("65536", "no", ["4", "8", "2", "8"]),
        };
        let raddb = raddb.display().to_string();
        [
            ("@RADDB@", raddb.as_str()),
            ("@MAX_REQUESTS@", max_requests),
            ("@LOG_AUTH@", log_auth),
            ("@START_SERVERS@", threads[0]),
            ("@MAX_SERVERS@", threads[1]),
            ("@MIN_SPARE_SERVERS@", threads[2]),
            ("@MAX_SPARE_SERVERS@", threads[3]),
            ("@CLIENT@", self.client),
            ("@SECRET@", self.secret),
            ("@LISTEN@", self.listen),
        ]
        .iter()
        .fold(include_str!("radiusd.conf").to_owned(), |conf, (k, v)| {
            conf.replace(k, v)
        })
    }

    /// The config directory `dir`: `radiusd.conf`, an empty `dictionary`
    /// and `users`; a `detail` file of an earlier run is removed.
    pub fn write_dir(&self, dir: &Path, users: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("radiusd.conf"), self.conf(dir))?;
        std::fs::write(dir.join("dictionary"), "")?;
        std::fs::write(dir.join("users"), users)?;
        let _ = std::fs::remove_file(dir.join("detail"));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_filled() {
        for load in [Load::Tests, Load::Bench] {
            let radiusd = Radiusd {
                client: "192.0.2.1",
                listen: "192.0.2.2",
                secret: "s",
                load,
            };
            let conf = radiusd.conf(Path::new("/tmp/raddb"));
            assert!(!conf.contains('@'), "{conf}");
        }
    }
}
