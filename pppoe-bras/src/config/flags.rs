//! The command line's side of the key table: [`Overrides`], what the flags
//! set, by TOML key name, as text. Its clap args are made from each
//! [`keys::KEYS`] row's [`Flag`] (flattened into `run` and `check-config`),
//! plus pppoe-server's `-R START -N COUNT`, which adds a `pool` range. A
//! pppd options file (`-O`, `pppd.rs`) fills the same map under the flags;
//! the resolvers read it through `place::Resolver` by the key's name, so
//! no code here or in `main.rs` names a key.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use clap::builder::TypedValueParser;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Args, Command, FromArgMatches};

use super::keys::{Flag, Takes, KEYS};
use super::pppd::pppoe_server_pool;

/// Values set on the command line (or by a `-O` file), each winning over
/// the file: by TOML key name (`lcp_echo_interval`), the flag's value(s)
/// as typed (a switch's as its [`Takes::Switch`] value, `--no-nat` as
/// `nat = "false"`). [`super::Config::resolve`] checks them with the same
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

/// One clap arg for a key's flag; its id is the key's name.
fn arg(name: &'static str, f: &Flag) -> Arg {
    let mut arg = Arg::new(name)
        .long(f.long.trim_start_matches('-'))
        .help(f.help);
    if let Some(letter) = f.short {
        arg = arg.short(letter);
    }
    if let Some(alias) = f.alias {
        arg = arg.visible_alias(alias);
    }
    let text = value_parser!(String);
    match f.takes {
        Takes::Switch(_) => arg.action(ArgAction::SetTrue),
        Takes::One => arg.value_name(f.value).value_parser(text),
        Takes::Number => arg
            .value_name(f.value)
            .value_parser(value_parser!(u32).map(|n| n.to_string())),
        Takes::Repeated => arg
            .value_name(f.value)
            .value_parser(text)
            .action(ArgAction::Append),
        Takes::Commas => arg
            .value_name(f.value)
            .value_parser(text)
            .action(ArgAction::Append)
            .value_delimiter(','),
    }
}

/// pppoe-server's `-R START -N COUNT`, shown after `--pool`.
fn pppoe_server_args() -> [Arg; 2] {
    [
        Arg::new("remote_start")
            .short('R')
            .long("remote-start")
            .value_name("ADDR")
            .value_parser(value_parser!(Ipv4Addr))
            .requires("pool_size")
            .help("pppoe-server's -R: first remote address of the pool (with -N)"),
        Arg::new("pool_size")
            .short('N')
            .long("pool-size")
            .value_name("N")
            .value_parser(value_parser!(u32))
            .requires("remote_start")
            .help("pppoe-server's -N: number of pool addresses from -R"),
    ]
}

impl Args for Overrides {
    fn augment_args(mut cmd: Command) -> Command {
        for key in KEYS {
            if let Some(f) = &key.flag {
                cmd = cmd.arg(arg(key.name, f));
            }
            if key.name == "pool" {
                cmd = cmd.args(pppoe_server_args());
            }
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

impl FromArgMatches for Overrides {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let mut o = Overrides::default();
        o.update_from_arg_matches(m)?;
        Ok(o)
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        for key in KEYS {
            let Some(flag) = key.flag else { continue };
            if let Takes::Switch(value) = flag.takes {
                if m.get_flag(key.name) {
                    self.set(key.name, [value]);
                }
            } else if let Some(values) = m.get_many::<String>(key.name) {
                self.set(key.name, values.cloned());
            }
        }
        let start = m.get_one::<Ipv4Addr>("remote_start");
        if let (Some(&start), Some(&count)) = (start, m.get_one::<u32>("pool_size")) {
            self.values_mut("pool")
                .push(pppoe_server_pool(start, count));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Overrides, clap::Error> {
        let cmd = Overrides::augment_args(Command::new("run").no_binary_name(true));
        Overrides::from_arg_matches(&cmd.try_get_matches_from(args)?)
    }

    #[test]
    fn flags_land_under_their_key_names_as_typed() {
        let o = parse(&[
            "-I",
            "eth1",
            "--uplink",
            "eth0",
            "-S",
            "a",
            "-S",
            "b",
            "--auth",
            "pap,chap",
            "--lcp-echo-interval",
            "5",
            "--no-nat",
            "--pool",
            "10.0.0.0/24",
            "-R",
            "10.1.0.1",
            "-N",
            "2",
        ])
        .unwrap();
        let want = Overrides::default()
            .with("access_interface", ["eth1"])
            .with("uplink_interface", ["eth0"])
            .with("service_names", ["a", "b"])
            .with("auth", ["pap", "chap"])
            .with("lcp_echo_interval", ["5"])
            .with("nat", ["false"])
            .with("pool", ["10.0.0.0/24", "10.1.0.1-10.1.0.2"]);
        assert_eq!(o, want);
        assert_eq!(parse(&[]).unwrap(), Overrides::default());
    }

    #[test]
    fn clap_still_refuses_what_it_refused() {
        for args in [
            &["--lcp-echo-interval", "ten"][..],
            &["--max-sessions", "-1"],
            &["--ac-name", "a", "--ac-name", "b"],
            &["-R", "10.0.0.1"],
            &["-N", "3"],
        ] {
            assert!(parse(args).is_err(), "{args:?}");
        }
    }
}
