//! Framing: splits a byte stream into protocol messages without decoding them,
//! so that what is forwarded is exactly what was received.
//!
//! Hand-written rather than pgwire's codec: a proxy forwards most frames
//! untouched, and pgwire's decoder copies every message into owned structs.
//! Bodies that must be read (Query, Parse, Bind, …) are decoded with pgwire.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

/// A whole message: tag, length and body, as on the wire.
#[derive(Clone, Debug)]
pub struct Frame {
    pub tag: u8,
    pub bytes: Bytes,
}

impl Frame {
    pub fn body(&self) -> &[u8] {
        &self.bytes[5..]
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("message `{}` of {len} bytes is over the {max}-byte limit", *tag as char)]
    TooLarge { tag: u8, len: usize, max: usize },
    #[error("message `{}` has an invalid length {len}", *tag as char)]
    BadLength { tag: u8, len: i64 },
    #[error("the connection closed in the middle of a message")]
    Truncated,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads frames from `io`, refusing any larger than `max` bytes.
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    max: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R, max: usize) -> Self {
        FrameReader {
            io,
            buf: BytesMut::with_capacity(16 * 1024),
            max,
        }
    }

    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    pub fn into_parts(self) -> (R, BytesMut) {
        (self.io, self.buf)
    }

    pub fn from_parts(io: R, buf: BytesMut, max: usize) -> Self {
        FrameReader { io, buf, max }
    }

    /// The next tagged frame; `None` on a clean end of stream.
    pub async fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(frame) = self.buffered()? {
                return Ok(Some(frame));
            }
            if !self.fill().await? {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(FrameError::Truncated),
                };
            }
        }
    }

    /// A frame already in the buffer, without reading.
    pub fn buffered(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let tag = self.buf[0];
        let len = i32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len < 4 {
            return Err(FrameError::BadLength {
                tag,
                len: len.into(),
            });
        }
        let total = len as usize + 1;
        if total > self.max {
            return Err(FrameError::TooLarge {
                tag,
                len: total,
                max: self.max,
            });
        }
        if self.buf.len() < total {
            self.buf.reserve(total - self.buf.len());
            return Ok(None);
        }
        Ok(Some(Frame {
            tag,
            bytes: self.buf.split_to(total).freeze(),
        }))
    }

    /// Whether more bytes may come: reads once, `false` at end of stream.
    pub async fn fill(&mut self) -> Result<bool, FrameError> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(16 * 1024);
        }
        Ok(self.io.read_buf(&mut self.buf).await? > 0)
    }

    /// Bytes read but not yet taken as frames, so a hold can keep reading.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// An untagged startup-phase packet (StartupMessage, SSLRequest,
    /// CancelRequest): length, then body. `None` on a clean end of stream.
    pub async fn startup_packet(&mut self) -> Result<Option<Bytes>, FrameError> {
        const MAX_STARTUP: usize = 10_000;
        loop {
            if self.buf.len() >= 4 {
                let len = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if !(8..=MAX_STARTUP as i32).contains(&len) {
                    return Err(match len {
                        l if l > MAX_STARTUP as i32 => FrameError::TooLarge {
                            tag: b'0',
                            len: l as usize,
                            max: MAX_STARTUP,
                        },
                        l => FrameError::BadLength {
                            tag: b'0',
                            len: l.into(),
                        },
                    });
                }
                if self.buf.len() >= len as usize {
                    let mut packet = self.buf.split_to(len as usize);
                    packet.advance(4);
                    return Ok(Some(packet.freeze()));
                }
            }
            if !self.fill().await? {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(FrameError::Truncated),
                };
            }
        }
    }
}

/// Reads a NUL-terminated string from `buf`, advancing past it.
pub fn cstr<'a>(buf: &mut &'a [u8]) -> Option<&'a str> {
    let end = buf.iter().position(|&b| b == 0)?;
    let s = std::str::from_utf8(&buf[..end]).ok()?;
    *buf = &buf[end + 1..];
    Some(s)
}

/// Encodes one tagged message.
pub fn message(tag: u8, body: &[u8], out: &mut BytesMut) {
    out.extend_from_slice(&[tag]);
    out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn frames(input: &[u8], max: usize) -> Result<Vec<(u8, usize)>, FrameError> {
        let mut r = FrameReader::new(input, max);
        let mut out = Vec::new();
        while let Some(f) = r.next().await? {
            out.push((f.tag, f.body().len()));
        }
        Ok(out)
    }

    #[tokio::test]
    async fn splits_frames_and_refuses_bad_ones() {
        let mut two = BytesMut::new();
        message(b'Q', b"SELECT 1\0", &mut two);
        message(b'S', b"", &mut two);
        assert_eq!(
            frames(&two, 1024).await.unwrap(),
            vec![(b'Q', 9), (b'S', 0)]
        );
        let err = frames(&two, 8).await.unwrap_err().to_string();
        assert_eq!(err, "message `Q` of 14 bytes is over the 8-byte limit");
        let err = frames(b"Q\0\0\0\x02", 1024).await.unwrap_err().to_string();
        assert_eq!(err, "message `Q` has an invalid length 2");
        let err = frames(b"Q\xff\xff\xff\xff", 1024)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid length -1"), "{err}");
        let err = frames(&two[..7], 1024).await.unwrap_err().to_string();
        assert_eq!(err, "the connection closed in the middle of a message");
        assert!(frames(b"", 1024).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reads_startup_packets() {
        let mut r = FrameReader::new(&b"\0\0\0\x08\x04\xd2\x16\x2f"[..], 1024);
        assert_eq!(
            &r.startup_packet().await.unwrap().unwrap()[..],
            b"\x04\xd2\x16\x2f"
        );
        let mut r = FrameReader::new(&b"\x7f\0\0\0"[..], 1024);
        assert!(r.startup_packet().await.is_err());
    }
}
