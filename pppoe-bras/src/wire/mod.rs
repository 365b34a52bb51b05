//! Frame views and builders: Ethernet (+802.1Q/QinQ), PPPoE (header + tags),
//! PPP (protocol field, LCP/NCP packets and options); [`text`] escapes peer
//! strings for logs.
//!
//! Contract: parsing peer bytes never panics; it returns a typed [`Error`].
//! Builders append to a caller's `Vec<u8>`.

/// Declares a `u8`/`u16` code enum with an `Unknown(..)` variant and `From` in
/// both directions (smoltcp's `enum_with_unknown!`), so unknown values
/// round-trip.
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$variant_attr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$variant_attr])* $variant ),*,
            /// A value this code does not know.
            Unknown($ty),
        }

        impl ::core::convert::From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),*,
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),*,
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub mod eth;
pub mod ppp;
pub mod pppoe;
pub mod radius;
pub mod text;

/// Why a frame could not be parsed. Small and `Copy`, so hot paths can count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer bytes than the header needs.
    #[error("truncated: need {need} bytes, have {have}")]
    Truncated { need: usize, have: usize },
    /// A length field points past the end of the frame.
    #[error("length {claimed} exceeds the {available} bytes available")]
    BadLength { claimed: usize, available: usize },
    /// PPPoE VER/TYPE not 1/1.
    #[error("unsupported PPPoE version/type {0:#04x}")]
    BadVersion(u8),
    /// Anything else malformed, named.
    #[error("malformed: {0}")]
    Malformed(&'static str),
}
