//! A tiny JSON object writer that keeps keys in the order written (the order the real APIs
//! use), without building a map. Strings are escaped by `serde_json`.

/// An object being written; `finish` closes it.
#[derive(Debug)]
pub(crate) struct Obj {
    buf: Vec<u8>,
    first: bool,
}

impl Obj {
    pub(crate) fn new() -> Self {
        let mut buf = Vec::with_capacity(160);
        buf.push(b'{');
        Self { buf, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.buf.push(b',');
        }
        self.first = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    pub(crate) fn str(mut self, k: &str, v: &str) -> Self {
        self.key(k);
        // Serialising a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.buf, v);
        self
    }

    pub(crate) fn opt_str(self, k: &str, v: Option<&str>) -> Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }

    pub(crate) fn num(mut self, k: &str, v: u64) -> Self {
        self.key(k);
        self.buf.extend_from_slice(v.to_string().as_bytes());
        self
    }

    pub(crate) fn null(self, k: &str) -> Self {
        self.raw(k, b"null")
    }

    pub(crate) fn raw(mut self, k: &str, v: &[u8]) -> Self {
        self.key(k);
        self.buf.extend_from_slice(v);
        self
    }

    pub(crate) fn obj(self, k: &str, v: Obj) -> Self {
        let v = v.finish();
        self.raw(k, &v)
    }

    /// An array of objects.
    pub(crate) fn arr(mut self, k: &str, items: impl IntoIterator<Item = Obj>) -> Self {
        self.key(k);
        self.buf.push(b'[');
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(&item.finish());
        }
        self.buf.push(b']');
        self
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.buf.push(b'}');
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_ordered_valid_json() {
        let out = Obj::new()
            .str("type", "a\"b\n")
            .num("n", 3)
            .null("z")
            .opt_str("o", None)
            .obj("inner", Obj::new().str("k", "v"))
            .arr("list", [Obj::new(), Obj::new().num("x", 1)])
            .finish();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            r#"{"type":"a\"b\n","n":3,"z":null,"o":null,"inner":{"k":"v"},"list":[{},{"x":1}]}"#
        );
        serde_json::from_str::<serde_json::Value>(&s).unwrap();
    }
}
