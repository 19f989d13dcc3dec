//! The wire crate's error: what is wrong with an input, in the shape `outpost_core::Error`
//! needs (the mapping is in `core/src/error.rs`, one variant each, messages kept as they are).
//!
//! Like everything in Outpost, messages name what is wrong and where, never the input's values
//! (which may be customer data, tokens or key material).

/// Why an input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Unusable input from the caller (`$filter` text, an org URL, a decimal, a filter the SQL
    /// compiler cannot take). Core maps it to `InvalidArgument`.
    #[error("invalid argument: {reason}")]
    Invalid {
        /// What is wrong with it.
        reason: String,
    },
    /// Damaged, truncated or tampered data (a keyslot file, a stored record). Core maps it to
    /// `Corrupt`.
    #[error("corrupt: {what}")]
    Corrupt {
        /// Which part is damaged (file or field name; never contents).
        what: String,
    },
    /// An intact file written by a newer format version. Core maps it to `NewerFormat`.
    #[error("written by a newer version (format {found}, this build reads up to {supported})")]
    NewerFormat {
        /// The version found.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A cryptographic primitive failed where it cannot (a bug). Core maps it to `Internal`.
    #[error("internal error: {reason}")]
    Internal {
        /// A description for the bug report.
        reason: String,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(reason: impl std::fmt::Display) -> Self {
        Error::Invalid { reason: reason.to_string() }
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Error::Corrupt { what: what.to_string() }
    }

    pub(crate) fn internal(reason: impl std::fmt::Display) -> Self {
        Error::Internal { reason: reason.to_string() }
    }
}
