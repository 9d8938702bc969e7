//! Server-sent events as the streamable-HTTP transport frames JSON-RPC
//! messages. The splice reads an upstream's events while their bytes go on
//! unchanged, so this splitter is fed chunk by chunk and hands back each
//! event's raw bytes; `sse-stream` parses a body it owns and re-encodes.
//! Lines end with LF or CRLF (MCP servers send one of the two).

use bytes::Bytes;

/// Splits a byte stream into events.
#[derive(Default)]
pub struct Events {
    buf: Vec<u8>,
    /// `buf[..scanned]` holds no blank line; the next search starts here.
    scanned: usize,
}

impl Events {
    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete event's bytes, its closing blank line included.
    pub fn next_event(&mut self) -> Option<Vec<u8>> {
        let mut line_start = self.scanned;
        while let Some(n) = self.buf[line_start..].iter().position(|&b| b == b'\n') {
            let line = &self.buf[line_start..line_start + n];
            let blank = line.is_empty() || line == b"\r";
            line_start += n + 1;
            if blank {
                self.scanned = 0;
                return Some(self.buf.drain(..line_start).collect());
            }
        }
        self.scanned = line_start;
        None
    }

    /// Bytes held for an event not yet complete.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// What is left once the stream has ended: an event cut short, if any.
    pub fn rest(&mut self) -> Option<Vec<u8>> {
        self.scanned = 0;
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }
}

/// The event's data: its `data:` lines joined with newlines, or `None` for
/// an event without any (a comment, a priming event).
pub fn data(event: &[u8]) -> Option<String> {
    let mut out: Option<String> = None;
    for line in lines(event) {
        let Some(value) = line.strip_prefix(b"data:") else {
            continue;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        let value = String::from_utf8_lossy(value);
        match &mut out {
            Some(text) => {
                text.push('\n');
                text.push_str(&value);
            }
            None => out = Some(value.into_owned()),
        }
    }
    out
}

/// The event with its data replaced by `data`, its other fields (`id`,
/// `event`, `retry`, comments) kept in place.
pub fn with_data(event: &[u8], data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let mut written = false;
    for line in lines(event) {
        if line.starts_with(b"data:") {
            if !written {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(data.as_bytes());
                out.push(b'\n');
                written = true;
            }
            continue;
        }
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    if !written {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// A new event carrying `data`.
pub fn event(data: &str) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data.as_bytes());
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The event's non-blank lines, without their line endings.
fn lines(event: &[u8]) -> impl Iterator<Item = &[u8]> {
    event
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut events = Events::default();
        let mut out = Vec::new();
        for chunk in chunks {
            events.push(chunk);
            while let Some(e) = events.next_event() {
                out.push(e);
            }
        }
        out.extend(events.rest());
        out
    }

    #[test]
    fn events_are_split_however_the_bytes_arrive() {
        let stream = b"id: 1\ndata: {\"a\":1}\n\n: keep-alive\r\n\r\ndata: x\ndata: y\n\nretry: 5";
        let whole = split(&[stream]);
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(split(&bytewise), whole);
        assert_eq!(whole.concat(), stream.to_vec(), "no byte is lost or added");
        let data: Vec<_> = whole.iter().map(|e| data(e)).collect();
        assert_eq!(
            data,
            [
                Some("{\"a\":1}".to_owned()),
                None,
                Some("x\ny".to_owned()),
                None
            ]
        );
    }

    #[test]
    fn rewritten_events_keep_their_other_fields() {
        let e = b"event: message\r\nid: 7\r\ndata: {\"old\":1}\r\n\r\n";
        let new = with_data(e, "{\"new\":2}");
        assert_eq!(
            new,
            b"event: message\nid: 7\ndata: {\"new\":2}\n\n".to_vec()
        );
        assert_eq!(data(&new).as_deref(), Some("{\"new\":2}"));
        assert_eq!(data(&event("{}")).as_deref(), Some("{}"));
    }
}
