//! Query strings: reading a page's parameters and writing links that keep them.

/// A page's query parameters, in order; empty values are dropped (an empty filter filters
/// nothing).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(query: &str) -> Query {
        Query(
            form_urlencoded::parse(query.as_bytes())
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn owned(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    /// The 1-based page number (`page`), at least 1.
    pub(crate) fn page(&self) -> u64 {
        self.get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1u64)
            .max(1)
    }

    /// This query with `key` set to `value` (or removed when `None`).
    pub(crate) fn with(&self, key: &str, value: Option<&str>) -> Query {
        let mut pairs: Vec<(String, String)> =
            self.0.iter().filter(|(k, _)| k != key).cloned().collect();
        if let Some(v) = value {
            pairs.push((key.to_owned(), v.to_owned()));
        }
        Query(pairs)
    }

    /// `?a=1&b=2` (empty for no parameters), URL-encoded (not yet HTML-escaped).
    pub(crate) fn to_suffix(&self) -> String {
        if self.0.is_empty() {
            return String::new();
        }
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            s.append_pair(k, v);
        }
        format!("?{}", s.finish())
    }
}

/// `path?k=v&...` from pairs, URL-encoded (not yet HTML-escaped).
pub(crate) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let mut q = Query::default();
    for (k, v) in pairs {
        q.0.push(((*k).to_owned(), (*v).to_owned()));
    }
    format!("{path}{}", q.to_suffix())
}

/// A path segment, percent-encoded (run ids are plain, but a link never trusts that).
pub(crate) fn segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// A path segment back (the inverse of [`segment`]).
pub(crate) fn unsegment(text: &str) -> String {
    form_urlencoded::parse(format!("x={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_round_trip_and_drop_empty_values() {
        let q = Query::parse("task=a%20b&item=&q=%3Cscript%3E&page=3");
        assert_eq!(q.get("task"), Some("a b"));
        assert_eq!(q.get("item"), None);
        assert_eq!(q.get("q"), Some("<script>"));
        assert_eq!(q.page(), 3);
        assert_eq!(q.with("page", None).to_suffix(), "?task=a+b&q=%3Cscript%3E");
        assert_eq!(Query::parse("page=0").page(), 1);
        assert_eq!(
            link("/compare", &[("a", "r1"), ("b", "r 2")]),
            "/compare?a=r1&b=r+2"
        );
    }

    #[test]
    fn segments_round_trip() {
        for s in ["20261206T003609Z-52c792", "a b/c+d?e", "é"] {
            assert_eq!(unsegment(&segment(s)), s);
        }
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
