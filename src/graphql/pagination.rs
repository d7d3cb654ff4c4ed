//! Relay cursor pagination over a list that has already been filtered and ordered for one tenant
//! (or the catalog). Cursors are opaque positions in that ordering: they reveal nothing about the
//! rows, so a cursor from another tenant's list is just a number here.

use crate::error::AppError;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{OutputType, SimpleObject};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;
/// Page size when the client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: usize = 20;

/// Extra fields on every connection.
#[derive(SimpleObject)]
pub struct TotalCount {
    /// Number of items matching the filter, over all pages.
    pub total_count: usize,
}

/// Validated pagination arguments.
#[derive(Debug, Clone)]
pub struct PageArgs {
    first: Option<usize>,
    after: Option<usize>,
    last: Option<usize>,
    before: Option<usize>,
}

fn size(name: &str, v: Option<i32>) -> Result<Option<usize>, AppError> {
    match v {
        None => Ok(None),
        Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(Some(n as usize)),
        Some(n) => Err(AppError::bad_input(
            name,
            format!("{name} must be between 1 and {MAX_PAGE_SIZE} (got {n})"),
        )),
    }
}

fn cursor(name: &str, v: Option<String>) -> Result<Option<usize>, AppError> {
    match v {
        None => Ok(None),
        Some(c) => decode_cursor(&c)
            .map(Some)
            .ok_or_else(|| AppError::bad_input(name, format!("{name} is not a valid cursor"))),
    }
}

/// Encodes a position as a cursor.
pub fn encode_cursor(offset: usize) -> String {
    URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// Decodes a cursor made by [`encode_cursor`].
pub fn decode_cursor(c: &str) -> Option<usize> {
    let bytes = URL_SAFE_NO_PAD.decode(c).ok()?;
    std::str::from_utf8(&bytes).ok()?.strip_prefix("o:")?.parse().ok()
}

/// A page size given as `first` (1..=100, `BAD_USER_INPUT` otherwise), or the default, for
/// lists paged by key rather than by position.
pub fn page_size(first: Option<i32>) -> Result<usize, AppError> {
    Ok(size("first", first)?.unwrap_or(DEFAULT_PAGE_SIZE))
}

impl PageArgs {
    /// Checks sizes (1..=100) and cursors; errors are `BAD_USER_INPUT` naming the argument.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Self, AppError> {
        Ok(PageArgs {
            first: size("first", first)?,
            after: cursor("after", after)?,
            last: size("last", last)?,
            before: cursor("before", before)?,
        })
    }

    /// The half-open range `[start, end)` of a list of `len` items this page covers.
    /// Whether the page is the list's first (`first` only, or nothing: no cursor, no `last`).
    pub fn is_first_page(&self) -> bool {
        self.after.is_none() && self.before.is_none() && self.last.is_none()
    }

    pub fn window(&self, len: usize) -> (usize, usize) {
        let mut start = self.after.map_or(0, |a| a.saturating_add(1)).min(len);
        let mut end = self.before.map_or(len, |b| b.min(len)).max(start);
        match (self.first, self.last) {
            (Some(f), _) => {
                end = end.min(start + f);
                if let Some(l) = self.last {
                    start = start.max(end.saturating_sub(l));
                }
            }
            (None, Some(l)) => start = start.max(end.saturating_sub(l)),
            (None, None) => end = end.min(start + DEFAULT_PAGE_SIZE),
        }
        (start, end)
    }
}

/// A page of a list of `total` items of which `items` holds at least the items up to the
/// page's end (the rest need not be at hand), as a Relay connection.
pub fn paginate_prefix<T, N, F>(
    items: Vec<T>,
    total: usize,
    args: &PageArgs,
    wrap: F,
) -> Connection<String, N, TotalCount>
where
    N: OutputType,
    F: Fn(T) -> N,
{
    let (start, end) = args.window(total);
    debug_assert!(end <= items.len(), "the items hold the page");
    let mut conn =
        Connection::with_additional_fields(start > 0, end < total, TotalCount { total_count: total });
    conn.edges.extend(
        items
            .into_iter()
            .enumerate()
            .skip(start)
            .take(end - start)
            .map(|(i, item)| Edge::new(encode_cursor(i), wrap(item))),
    );
    conn
}

/// Cuts one page out of `items` and wraps it as a Relay connection.
pub fn paginate<T, N, F>(items: Vec<T>, args: &PageArgs, wrap: F) -> Connection<String, N, TotalCount>
where
    N: OutputType,
    F: Fn(T) -> N,
{
    let total = items.len();
    paginate_prefix(items, total, args, wrap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(first: Option<i32>, after: Option<usize>, last: Option<i32>, before: Option<usize>) -> PageArgs {
        PageArgs::new(first, after.map(encode_cursor), last, before.map(encode_cursor)).unwrap()
    }

    #[test]
    fn windows_follow_relay_semantics() {
        assert_eq!(args(Some(3), None, None, None).window(10), (0, 3), "first page");
        assert_eq!(
            args(Some(3), Some(2), None, None).window(10),
            (3, 6),
            "after the third item"
        );
        assert_eq!(args(None, None, Some(3), None).window(10), (7, 10), "last page");
        assert_eq!(
            args(None, None, Some(3), Some(7)).window(10),
            (4, 7),
            "before the eighth item"
        );
        assert_eq!(
            args(Some(5), Some(8), None, None).window(10),
            (9, 10),
            "short final page"
        );
        assert_eq!(
            args(Some(5), Some(50), None, None).window(10),
            (10, 10),
            "past the end"
        );
        assert_eq!(
            args(None, None, None, None).window(100),
            (0, DEFAULT_PAGE_SIZE),
            "default size"
        );
    }

    #[test]
    fn page_sizes_outside_1_to_100_are_refused() {
        assert!(PageArgs::new(Some(0), None, None, None).is_err());
        assert!(PageArgs::new(Some(101), None, None, None).is_err());
        assert!(PageArgs::new(None, None, Some(-1), None).is_err());
        assert!(PageArgs::new(None, Some("bogus".into()), None, None).is_err());
    }
}
