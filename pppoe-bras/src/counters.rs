//! Named counters of the control plane, kept the way common's `Stat`
//! keeps the data plane's: one enum per component names each counter once
//! (its stable snake_case name and a doc line) and indexes an array of
//! values. `counters!` makes both from one list, so the `pppoe-bras
//! stats` lines (`<component>.<name>`), the debug log names and the metric
//! labels (`metrics.rs` splits `drop_*` reasons from events by the name)
//! all come from that list.

/// Declares a counter enum and the array of its values:
///
/// ```ignore
/// counters! {
///     /// What the component counts.
///     pub enum DiscoveryStat in DiscoveryStats {
///         /// PADIs accepted for an answer.
///         PadiRx = "padi_rx",
///     }
/// }
/// ```
///
/// The enum gets `ALL` (declaration order: the order of `stats` output),
/// `COUNT` and `name()`; the array type (`Default`, `Copy`, indexed by the
/// enum: `stats[DiscoveryStat::PadiRx] += 1`) gets `counters()` and
/// `add_since()`. Names must stay stable: tests, dashboards and scripts
/// read them.
macro_rules! counters {
    (
        $(#[$enum_attr:meta])*
        pub enum $stat:ident in $stats:ident {
            $( $(#[$attr:meta])* $variant:ident = $name:literal ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $stat {
            $( $(#[$attr])* $variant ),+
        }

        impl $stat {
            /// Every counter, in index (and output) order.
            pub const ALL: &'static [$stat] = &[$($stat::$variant),+];
            /// Number of counters.
            pub const COUNT: usize = Self::ALL.len();

            /// Stable snake_case name (`stats` output, logs, metric labels).
            pub const fn name(self) -> &'static str {
                match self {
                    $($stat::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $stat {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        #[doc = concat!("The value of every [`", stringify!($stat), "`], indexed by it.")]
        #[derive(Clone, Copy, PartialEq, Eq)]
        pub struct $stats([u64; $stat::COUNT]);

        impl ::std::default::Default for $stats {
            fn default() -> Self {
                $stats([0; $stat::COUNT])
            }
        }

        impl ::std::ops::Index<$stat> for $stats {
            type Output = u64;
            fn index(&self, s: $stat) -> &u64 {
                &self.0[s as usize]
            }
        }

        impl ::std::ops::IndexMut<$stat> for $stats {
            fn index_mut(&mut self, s: $stat) -> &mut u64 {
                &mut self.0[s as usize]
            }
        }

        impl $stats {
            /// Every counter with its name, in declaration order.
            pub fn counters(&self) -> Vec<(&'static str, u64)> {
                $stat::ALL.iter().map(|&s| (s.name(), self[s])).collect()
            }

            /// Add what each counter of another set grew by between two
            /// readings of it, `before` and `after`.
            pub fn add_since(&mut self, before: &Self, after: &Self) {
                for ((sum, b), a) in self.0.iter_mut().zip(before.0).zip(after.0) {
                    *sum += a - b;
                }
            }
        }

        impl ::std::fmt::Debug for $stats {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_map().entries(self.counters()).finish()
            }
        }
    };
}

pub(crate) use counters;

#[cfg(test)]
mod tests {
    use crate::dae::DaeStat;
    use crate::discovery::DiscoveryStat;
    use crate::radius_client::{ClientStat, ServerStat};
    use crate::session::ManagerStat;
    use crate::v6::V6Stat;

    fn check(all: &[&'static str]) {
        let mut names = all.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "a name twice in {all:?}");
        for n in all {
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{n} is not snake_case"
            );
        }
    }

    #[test]
    fn names_are_unique_snake_case_and_in_index_order() {
        for (i, s) in DiscoveryStat::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        check(
            &DiscoveryStat::ALL
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>(),
        );
        // session.* holds the manager's counters and the IPv6 ones.
        let session: Vec<_> = ManagerStat::ALL
            .iter()
            .map(|s| s.name())
            .chain(V6Stat::ALL.iter().map(|s| s.name()))
            .collect();
        check(&session);
        // radius.<addr:port>.* also holds `dead`; radius.auth.* and
        // radius.acct.* the live figures.
        let server: Vec<_> = ServerStat::ALL
            .iter()
            .map(|s| s.name())
            .chain(["dead"])
            .collect();
        check(&server);
        let client: Vec<_> = ["in_flight", "queued", "max_outstanding"]
            .into_iter()
            .chain(ClientStat::ALL.iter().map(|s| s.name()))
            .collect();
        check(&client);
        check(&DaeStat::ALL.iter().map(|s| s.name()).collect::<Vec<_>>());
    }
}
