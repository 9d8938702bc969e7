//! The stdio front of `signoff mcp`: newline-delimited JSON-RPC (MCP stdio
//! transport), checked line by line before rmcp sees it. A line that is not
//! one JSON-RPC message, or is over the limit, is answered with the JSON-RPC
//! error (`-32700`, `-32600`) and dropped; the session goes on.

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, DuplexStream,
};
use tokio::sync::mpsc;

use crate::jsonrpc::{check_message, Rejection};

/// The largest message accepted on stdin.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// Sits between a client's byte streams and rmcp: returns the reader and
/// writer rmcp serves on. Checked lines go to rmcp; rejections and rmcp's
/// own lines go out on `output`, each line whole.
pub fn framed<R, W>(input: R, output: W, max: usize) -> (DuplexStream, DuplexStream)
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (mut to_rmcp, rmcp_in) = tokio::io::duplex(64 * 1024);
    let (rmcp_out, from_rmcp) = tokio::io::duplex(64 * 1024);
    let (errors, error_lines) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        let mut input = tokio::io::BufReader::new(input);
        let mut line = Vec::new();
        loop {
            match read_line(&mut input, &mut line, max).await {
                Ok(Line::End) | Err(_) => break,
                Ok(Line::TooLong) => reject(&errors, Rejection::too_large(max)),
                Ok(Line::Complete) => {
                    let text = line.trim_ascii();
                    if text.is_empty() {
                        continue;
                    }
                    match check_message(text) {
                        Ok(_) => {
                            if to_rmcp.write_all(text).await.is_err()
                                || to_rmcp.write_all(b"\n").await.is_err()
                            {
                                break;
                            }
                        }
                        Err(r) => reject(&errors, r),
                    }
                }
            }
        }
        // Dropping `to_rmcp` is the end of input for rmcp.
    });
    tokio::spawn(merge(from_rmcp, error_lines, output));
    (rmcp_in, rmcp_out)
}

fn reject(errors: &mpsc::UnboundedSender<Vec<u8>>, r: Rejection) {
    tracing::info!(code = r.code, message = %r.message, "refused a message on stdin");
    let mut line = r.response().to_string().into_bytes();
    line.push(b'\n');
    let _ = errors.send(line);
}

enum Line {
    Complete,
    TooLong,
    End,
}

/// Reads one line into `line`, never holding more than `max` bytes of it:
/// the rest of an overlong line is read and dropped.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    line.clear();
    let mut too_long = false;
    loop {
        let buf = input.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Line::TooLong,
                (false, true) => Line::End,
                (false, false) => Line::Complete,
            });
        }
        let (chunk, done, ended) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        if !too_long {
            if line.len() + chunk.len() > max {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        input.consume(done);
        if ended {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

/// Writes rmcp's lines and the rejections to `output`, one whole line at a time.
async fn merge<W: AsyncWrite + Unpin>(
    from_rmcp: DuplexStream,
    mut errors: mpsc::UnboundedReceiver<Vec<u8>>,
    mut output: W,
) {
    let mut from_rmcp = tokio::io::BufReader::new(from_rmcp);
    let mut line = Vec::new();
    let (mut rmcp_open, mut errors_open) = (true, true);
    loop {
        // `read_until` keeps what it read in `line` if the other branch
        // wins, so no partial line is lost.
        let next = tokio::select! {
            read = from_rmcp.read_until(b'\n', &mut line), if rmcp_open => match read {
                Ok(n) if n > 0 => Some(std::mem::take(&mut line)),
                _ => {
                    rmcp_open = false;
                    None
                }
            },
            err = errors.recv(), if errors_open => {
                errors_open = err.is_some();
                err
            },
            else => break,
        };
        if let Some(bytes) = next {
            if output.write_all(&bytes).await.is_err() || output.flush().await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// What rmcp would receive, and what the client reads back, for input
    /// with good, bad and overlong lines.
    #[tokio::test]
    async fn bad_lines_are_answered_and_good_ones_pass() {
        let input = [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.to_owned(),
            "{not json".to_owned(),
            "   ".to_owned(),
            format!(
                r#"{{"jsonrpc":"2.0","id":2,"method":"x","params":"{}"}}"#,
                "y".repeat(200)
            ),
            r#"{"jsonrpc":"2.0","id":3}"#.to_owned(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        ]
        .join("\n");
        let (client_out, out_read) = tokio::io::duplex(1 << 20);
        let (mut rmcp_in, rmcp_out) =
            framed(std::io::Cursor::new(input.into_bytes()), client_out, 100);
        drop(rmcp_out);
        let mut seen = String::new();
        rmcp_in.read_to_string(&mut seen).await.unwrap();
        assert_eq!(
            seen,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
        );
        let mut answered = String::new();
        let mut out_read = out_read;
        out_read.read_to_string(&mut answered).await.unwrap();
        let codes: Vec<(i64, serde_json::Value)> = answered
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["error"]["code"].as_i64().unwrap(), v["id"].clone()))
            .collect();
        assert_eq!(
            codes,
            [
                (-32700, serde_json::Value::Null),
                (-32600, serde_json::Value::Null),
                (-32600, serde_json::json!(3))
            ]
        );
    }
}
