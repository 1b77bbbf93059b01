//! The results feed: a tenant's result events in a stable order, read page by page after an
//! opaque cursor ([`crate::JobStore::results`]), so that a client that missed web-hooks can
//! catch up and a report can export history.
//!
//! The feed is an index over the result history every store keeps already: it holds what
//! the history holds (today, every event, for ever) and costs one small write per event.

use serde::{Deserialize, Serialize};

use super::{StoreError, StoreResult};
use crate::model::ResultEvent;

/// Most entries one [`crate::JobStore::results`] call returns.
pub const MAX_FEED_PAGE: usize = 1000;

/// A position in a tenant's feed: the entries after it are the ones not yet seen.
///
/// Its text form (32 hexadecimal digits) is opaque to clients. What the two numbers mean is
/// the backend's business: sled orders by event sequence, PostgreSQL by the committing
/// transaction and then the sequence, so that an event committed late never lands behind a
/// cursor already handed out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedCursor {
    /// The backend's first ordering key.
    pub major: u64,
    /// The backend's second ordering key.
    pub minor: u64,
}

impl FeedCursor {
    /// The position before every entry.
    pub const START: Self = Self { major: 0, minor: 0 };

    /// Reads a cursor that its `Display` (`to_string`) wrote.
    pub fn parse(text: &str) -> StoreResult<Self> {
        let invalid = || {
            StoreError::InvalidCursor(
                "not a results cursor: pass the `next` or an entry's `cursor` of an earlier page"
                    .into(),
            )
        };
        if text.len() != 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let major = u64::from_str_radix(&text[..16], 16).map_err(|_| invalid())?;
        let minor = u64::from_str_radix(&text[16..], 16).map_err(|_| invalid())?;
        Ok(Self { major, minor })
    }
}

impl std::fmt::Display for FeedCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}{:016x}", self.major, self.minor)
    }
}

/// One result event of the feed with the cursor just after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedEntry {
    /// Pass as `after` to continue after this entry.
    pub cursor: FeedCursor,
    /// The event, exactly as web-hooks carry it.
    pub event: ResultEvent,
}

/// A page of a tenant's feed.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedPage {
    /// Entries in feed order.
    pub entries: Vec<FeedEntry>,
    /// Where the next page starts: the last entry's cursor, or the cursor asked for when
    /// there was nothing new. Always present, so that a client can poll from it later.
    pub next: FeedCursor,
    /// Whether more entries were already there past this page.
    pub more: bool,
}

impl FeedPage {
    /// A page from entries fetched with one more than `limit` asked for, after `after`.
    // Used by the backends; a build with neither (a provider crate's) leaves it unused.
    #[cfg_attr(
        not(any(feature = "sled", feature = "postgres", feature = "testing")),
        allow(dead_code)
    )]
    pub(crate) fn from_fetched(
        mut entries: Vec<FeedEntry>,
        after: FeedCursor,
        limit: usize,
    ) -> Self {
        let more = entries.len() > limit;
        entries.truncate(limit);
        let next = entries.last().map_or(after, |e| e.cursor);
        Self {
            entries,
            next,
            more,
        }
    }
}

/// The page size a caller asked for, within the store's bounds (0 means 100).
#[cfg_attr(
    not(any(feature = "sled", feature = "postgres", feature = "testing")),
    allow(dead_code)
)]
pub(crate) fn page_limit(limit: usize) -> usize {
    match limit {
        0 => 100,
        n => n.min(MAX_FEED_PAGE),
    }
}

impl Serialize for FeedCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FeedCursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order() {
        let a = FeedCursor {
            major: 7,
            minor: u64::MAX,
        };
        let b = FeedCursor { major: 8, minor: 0 };
        assert!(a < b);
        assert_eq!(FeedCursor::parse(&a.to_string()).unwrap(), a);
        assert_eq!(
            FeedCursor::parse(&FeedCursor::START.to_string()).unwrap(),
            FeedCursor::START
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "abc",
            "zz00000000000000000000000000000",
            "+000000000000000000000000000000f",
            "ſ0000000000000000000000000000000",
        ] {
            assert!(
                matches!(FeedCursor::parse(bad), Err(StoreError::InvalidCursor(_))),
                "{bad:?}"
            );
        }
    }
}
