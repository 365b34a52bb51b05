//! Where a value came from — the file's line or the flag — and the
//! [`Resolver`] that takes each value from the flag (which wins; looked up
//! by the key's name in the [`Overrides`]) or the file, checks it and
//! blames the right place when it is wrong.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{Range, RangeInclusive};
use std::path::PathBuf;
use std::time::Duration;

use toml::Spanned;

use super::flags::NONE;
use super::keys::flag_name;
use super::syntax::unicast;
use super::{ConfigError, Overrides};

/// A value of the file, with its span.
pub(super) type S<T> = Option<Spanned<T>>;
/// A list of the file, with the span of the list and of each item.
pub(super) type SList = Option<Spanned<Vec<Spanned<String>>>>;

/// The config file's text, for turning spans into lines.
pub(super) struct Source {
    pub(super) origin: String,
    pub(super) text: String,
    pub(super) dir: PathBuf,
}

impl Source {
    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// Where a value came from, to blame it.
#[derive(Clone)]
pub(super) enum Place<'a> {
    File {
        src: &'a Source,
        span: Range<usize>,
        key: &'static str,
    },
    Flag(&'static str),
}

impl Place<'_> {
    /// `"{key} {value}: {problem}"` at the value's line, or on the flag.
    pub(super) fn bad(&self, value: impl fmt::Debug, problem: impl fmt::Display) -> ConfigError {
        match self {
            Place::File { src, span, key } => ConfigError::At {
                origin: src.origin.clone(),
                line: src.line_col(span.start).0,
                column: None,
                message: format!("{key} {value:?}: {problem}"),
            },
            Place::Flag(flag) => ConfigError::Invalid {
                origin: "command line".to_string(),
                message: format!("{flag} {value:?}: {problem}"),
            },
        }
    }
}

/// List items, each with where it was written.
pub(super) type Placed<'a> = Vec<(String, Place<'a>)>;

pub(super) fn raw_span<T>(v: &S<T>) -> Option<Range<usize>> {
    v.as_ref().map(|s| s.span())
}

/// A flag's text in the file's type (`"5"` for an integer key).
pub(super) trait FromFlag: Sized {
    fn from_flag(text: &str) -> Result<Self, &'static str>;
}

impl FromFlag for String {
    fn from_flag(text: &str) -> Result<Self, &'static str> {
        Ok(text.to_owned())
    }
}

impl FromFlag for i64 {
    fn from_flag(text: &str) -> Result<Self, &'static str> {
        text.parse().map_err(|_| "not a whole number")
    }
}

impl FromFlag for bool {
    fn from_flag(text: &str) -> Result<Self, &'static str> {
        text.parse().map_err(|_| "write true or false")
    }
}

/// Checks and builds one value from the flag (wins) or the file.
pub(super) struct Resolver<'a> {
    pub(super) src: Option<&'a Source>,
    /// The flags (and a `-O` file's values), by key name.
    pub(super) flags: &'a Overrides,
}

impl<'a> Resolver<'a> {
    /// For a table inside the file (`[[radius_servers]]`): no flags, since
    /// its fields are not keys.
    pub(super) fn file_only(&self) -> Resolver<'a> {
        Resolver {
            src: self.src,
            flags: &NONE,
        }
    }

    /// What errors without a line name: the file, or the command line.
    pub(super) fn origin(&self) -> String {
        self.src
            .map_or("command line".to_string(), |s| s.origin.clone())
    }

    /// A path written in the file, relative to the file's directory; a
    /// flag's (or an absolute) path as given.
    pub(super) fn path(&self, written: &str) -> PathBuf {
        let p = PathBuf::from(written);
        match self.src {
            Some(src) if p.is_relative() => src.dir.join(p),
            _ => p,
        }
    }

    pub(super) fn file_place(&self, span: Range<usize>, key: &'static str) -> Option<Place<'a>> {
        self.src.map(|src| Place::File { src, span, key })
    }

    /// A scalar from the flag or the file, with its place.
    pub(super) fn scalar<T: FromFlag>(
        &self,
        key: &'static str,
        file: S<T>,
    ) -> Result<Option<(T, Place<'a>)>, ConfigError> {
        if let Some(text) = self.flags.get(key).and_then(<[String]>::last) {
            let place = Place::Flag(flag_name(key));
            let v = T::from_flag(text).map_err(|e| place.bad(text, e))?;
            return Ok(Some((v, place)));
        }
        let Some(file) = file else {
            return Ok(None);
        };
        Ok(self
            .file_place(file.span(), key)
            .map(|place| (file.into_inner(), place)))
    }

    /// A list from the flag or the file; every item with its place. The
    /// list's own place too (for "too many entries").
    pub(super) fn list(&self, key: &'static str, file: SList) -> Option<(Placed<'a>, Place<'a>)> {
        if let Some(v) = self.flags.get(key) {
            let p = Place::Flag(flag_name(key));
            return Some((v.iter().map(|s| (s.clone(), p.clone())).collect(), p));
        }
        let file = file?;
        let whole = self.file_place(file.span(), key)?;
        let items = file
            .into_inner()
            .into_iter()
            .filter_map(|s| {
                let place = self.file_place(s.span(), key)?;
                Some((s.into_inner(), place))
            })
            .collect();
        Some((items, whole))
    }

    pub(super) fn int<T: TryFrom<i64>>(
        &self,
        key: &'static str,
        file: S<i64>,
        default: T,
        range: RangeInclusive<i64>,
        hint: &str,
    ) -> Result<T, ConfigError> {
        let Some((v, place)) = self.scalar(key, file)? else {
            return Ok(default);
        };
        if !range.contains(&v) {
            return Err(place.bad(
                v,
                format!("must be from {} to {}{hint}", range.start(), range.end()),
            ));
        }
        T::try_from(v).map_err(|_| place.bad(v, "out of range"))
    }

    /// [`Resolver::int`] for a whole number of seconds.
    pub(super) fn secs(
        &self,
        key: &'static str,
        file: S<i64>,
        default: Duration,
        range: RangeInclusive<i64>,
        hint: &str,
    ) -> Result<Duration, ConfigError> {
        self.int(key, file, default.as_secs(), range, hint)
            .map(Duration::from_secs)
    }

    pub(super) fn string(
        &self,
        key: &'static str,
        file: S<String>,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<Option<(String, Place<'a>)>, ConfigError> {
        let Some((v, place)) = self.scalar(key, file)? else {
            return Ok(None);
        };
        check(&v).map_err(|e| place.bad(&v, e))?;
        Ok(Some((v, place)))
    }

    pub(super) fn addr(
        &self,
        key: &'static str,
        file: S<String>,
    ) -> Result<Option<Ipv4Addr>, ConfigError> {
        let Some((v, place)) = self.scalar(key, file)? else {
            return Ok(None);
        };
        unicast(&v).map(Some).map_err(|e| place.bad(&v, e))
    }

    pub(super) fn addr_list(
        &self,
        key: &'static str,
        file: SList,
        default: Vec<Ipv4Addr>,
        max: usize,
    ) -> Result<Vec<Ipv4Addr>, ConfigError> {
        let Some((items, whole)) = self.list(key, file) else {
            return Ok(default);
        };
        if items.len() > max {
            let shown: Vec<&str> = items.iter().map(|(s, _)| s.as_str()).collect();
            let what = if max == 2 {
                "servers (primary and secondary, RFC 1877)"
            } else {
                "addresses"
            };
            return Err(whole.bad(shown, format!("at most {max} {what}; remove the rest")));
        }
        items
            .into_iter()
            .map(|(s, place)| unicast(&s).map_err(|e| place.bad(&s, e)))
            .collect()
    }
}
