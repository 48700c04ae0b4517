//! Server-sent events: an incremental parser over a byte stream.
//!
//! Follows the WHATWG "event stream interpretation" rules that matter to model APIs:
//! `event:`, `data:` (several lines joined by `\n`), `id:`, comments (lines starting with
//! `:`), one optional space after the colon, and lines ended by `\n`, `\r\n` or `\r`. Bytes
//! may arrive split anywhere (inside a line, between `\r` and `\n`, inside a UTF-8
//! character); the parser keeps what it has not finished and emits an event at each blank
//! line.

use std::collections::VecDeque;
use std::sync::Arc;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field, `None` when the event had none (the spec's `message`).
    pub event: Option<String>,
    /// The `data:` lines joined by `\n`.
    pub data: String,
    /// The last `id:` field seen in this event, if any. Shared, not copied, by the events
    /// that follow it: a long id repeated into every later event would take memory far beyond
    /// the stream's size.
    pub id: Option<Arc<str>>,
}

/// An incremental SSE parser. Feed it bytes with [`SseParser::push`], take events with
/// [`SseParser::next_event`], and call [`SseParser::finish`] at the end of the stream.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being read (not yet ended).
    line: Vec<u8>,
    /// The previous chunk ended with `\r`: a `\n` at the start of the next one belongs to it.
    after_cr: bool,
    event: Option<String>,
    data: String,
    /// Whether any `data:` field was seen since the last dispatch.
    has_data: bool,
    id: Option<Arc<str>>,
    ready: VecDeque<SseEvent>,
    /// Comments seen so far (`: keep-alive` and the like); for diagnostics and tests.
    comments: u64,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse `chunk`; complete events become available from [`SseParser::next_event`].
    pub fn push(&mut self, chunk: &[u8]) {
        let mut rest = chunk;
        // An empty chunk says nothing about the byte after a `\r`: keep waiting for it.
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if let Some(stripped) = rest.strip_prefix(b"\n") {
                rest = stripped;
            }
        }
        // memchr scans a word at a time; a byte-by-byte search was a tenth of the harness's
        // CPU per sample (docs/performance.md).
        while let Some(end) = memchr::memchr2(b'\n', b'\r', rest) {
            self.line.extend_from_slice(&rest[..end]);
            let is_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            let line = std::mem::take(&mut self.line);
            self.line_done(&line);
            // Reuse the allocation for the next line.
            self.line = line;
            self.line.clear();
        }
        self.line.extend_from_slice(rest);
    }

    /// The next complete event, if one is ready.
    pub fn next_event(&mut self) -> Option<SseEvent> {
        self.ready.pop_front()
    }

    /// The byte stream ended. Fields read from complete lines but not yet followed by a
    /// blank line are dispatched as a last event (servers often omit the final blank line);
    /// an unterminated last line is a cut stream and is dropped. Returns whether such a
    /// truncated line was dropped.
    pub fn finish(&mut self) -> bool {
        let truncated = !self.line.is_empty();
        self.line.clear();
        self.after_cr = false;
        self.dispatch();
        truncated
    }

    /// How many comment lines were seen.
    pub fn comments(&self) -> u64 {
        self.comments
    }

    fn line_done(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        // Valid UTF-8 (nearly always) is checked by `from_utf8`'s ASCII fast path;
        // `from_utf8_lossy` goes through its chunk iterator even then.
        let value = match std::str::from_utf8(value) {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(value),
        };
        match name {
            b"event" => self.event = Some(value.into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"id" if !value.contains('\0') => self.id = Some(Arc::from(value.as_ref())),
            // `retry:` and unknown fields are ignored, as the spec says.
            _ => {}
        }
    }

    fn dispatch(&mut self) {
        if !self.has_data {
            // An event with no data is not dispatched; its type is forgotten.
            self.event = None;
            return;
        }
        self.has_data = false;
        self.ready.push_back(SseEvent {
            event: self.event.take(),
            data: std::mem::take(&mut self.data),
            id: self.id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_chunks(input: &[u8], chunk: usize) -> (Vec<SseEvent>, bool) {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for part in input.chunks(chunk.max(1)) {
            p.push(part);
            while let Some(e) = p.next_event() {
                out.push(e);
            }
        }
        let truncated = p.finish();
        while let Some(e) = p.next_event() {
            out.push(e);
        }
        (out, truncated)
    }

    /// Every way of splitting the input gives the same events.
    fn parse(input: &[u8]) -> Vec<SseEvent> {
        let (whole, _) = parse_in_chunks(input, input.len());
        for chunk in 1..input.len().min(40) {
            assert_eq!(parse_in_chunks(input, chunk).0, whole, "chunk size {chunk}");
        }
        whole
    }

    fn event(name: Option<&str>, data: &str) -> SseEvent {
        SseEvent {
            event: name.map(str::to_owned),
            data: data.to_owned(),
            id: None,
        }
    }

    #[test]
    fn named_events_comments_and_multiline_data() {
        let input = b": keep-alive\nevent: a\ndata: one\ndata:two\ndata:  three\n\ndata: x\n\n";
        let events = parse(input);
        assert_eq!(
            events,
            vec![event(Some("a"), "one\ntwo\n three"), event(None, "x")]
        );
    }

    #[test]
    fn crlf_and_bare_cr_line_endings() {
        for input in [
            &b"event: a\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n"[..],
            &b"event: a\rdata: 1\r\rdata: 2\r\r"[..],
            &b"event: a\ndata: 1\n\ndata: 2\n\n"[..],
        ] {
            assert_eq!(
                parse(input),
                vec![event(Some("a"), "1"), event(None, "2")],
                "{}",
                String::from_utf8_lossy(input).escape_debug()
            );
        }
    }

    #[test]
    fn a_crlf_split_between_chunks_is_one_line_end() {
        let mut p = SseParser::new();
        p.push(b"data: 1\r");
        p.push(b"\n\r");
        p.push(b"\ndata: 2\r\n\r\n");
        assert_eq!(p.next_event(), Some(event(None, "1")));
        assert_eq!(p.next_event(), Some(event(None, "2")));
        assert_eq!(p.next_event(), None);
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        let mut p = SseParser::new();
        p.push(b"event: a\r");
        p.push(b"");
        p.push(b"\ndata: 1\n\n");
        assert_eq!(p.next_event(), Some(event(Some("a"), "1")));
    }

    #[test]
    fn utf8_split_inside_a_character() {
        let input = "data: héllo wörld ✓\n\n".as_bytes();
        assert_eq!(parse(input), vec![event(None, "héllo wörld ✓")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        assert_eq!(
            parse(b"event: lonely\n\ndata: after\n\n"),
            vec![event(None, "after")]
        );
    }

    #[test]
    fn field_without_colon_and_empty_data() {
        assert_eq!(parse(b"data\n\n"), vec![event(None, "")]);
        assert_eq!(parse(b"data:\ndata:\n\n"), vec![event(None, "\n")]);
    }

    #[test]
    fn ids_are_kept_and_retry_is_ignored() {
        let events = parse(b"id: 7\nretry: 100\ndata: x\n\n");
        assert_eq!(events[0].id.as_deref(), Some("7"));
        assert_eq!(events[0].data, "x");
    }

    #[test]
    fn end_of_stream_dispatches_complete_lines_and_drops_a_cut_line() {
        let (events, truncated) = parse_in_chunks(b"data: [DONE]\n", 100);
        assert_eq!(events, vec![event(None, "[DONE]")]);
        assert!(!truncated);
        let (events, truncated) = parse_in_chunks(b"data: 1\n\ndata: {\"par", 3);
        assert_eq!(events, vec![event(None, "1")]);
        assert!(truncated);
    }

    #[test]
    fn comments_are_counted() {
        let mut p = SseParser::new();
        p.push(b": ping\n:\n\n");
        assert_eq!(p.comments(), 2);
        assert_eq!(p.next_event(), None);
    }

    #[test]
    fn contract_fixture_openai_include_usage() {
        let events = parse(include_bytes!(
            "../fixtures/openai_stream_include_usage.sse"
        ));
        assert_eq!(events.len(), 5);
        assert!(events.iter().all(|e| e.event.is_none()));
        assert!(events[3].data.contains("\"choices\":[]"));
        assert_eq!(events[4].data, "[DONE]");
    }

    #[test]
    fn contract_fixture_anthropic_midstream_error() {
        let events = parse(include_bytes!(
            "../fixtures/anthropic_stream_midstream_error.sse"
        ));
        let names: Vec<_> = events.iter().map(|e| e.event.as_deref()).collect();
        assert_eq!(
            names,
            vec![Some("message_start"), Some("ping"), Some("error")]
        );
        assert!(events[2].data.contains("overloaded_error"));
    }
}
