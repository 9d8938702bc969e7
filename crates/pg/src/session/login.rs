//! Logging a client in: SCRAM-SHA-256 with its API key as the password.

use bytes::{Bytes, BytesMut};
use pgwire::messages::startup::Authentication;
use pgwire::messages::Message;
use signoff_core::scram::principal_salt;
use signoff_core::Caller;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::{fatal, fatal_with_hint};
use crate::frame::{Frame, FrameReader};
use crate::{messages, scram, Gate};

/// SCRAM-SHA-256 with the caller's API key as the password.
pub(super) async fn login<R, W, G>(
    client: &mut FrameReader<R>,
    write: &mut W,
    user: &str,
    gate: &G,
) -> Result<Caller, String>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
    G: Gate,
{
    let known = gate.login(user).await?;
    // An unknown user goes through the same exchange, so that a client cannot
    // tell unknown users from wrong keys.
    let (keys, salt, iterations) = match known {
        Some(l) => (l.keys, l.salt, l.iterations),
        None => (
            Vec::new(),
            principal_salt(user),
            signoff_core::scram::ITERATIONS,
        ),
    };
    send(write, Authentication::SASL(vec![scram::MECHANISM.into()])).await?;
    let first = password_message(client).await?;
    let Some(first) = messages::sasl_initial(first.body()) else {
        let why = "malformed SASL initial response";
        let _ = fatal(write, "08P01", why).await;
        return Err(why.into());
    };
    let exchange = match scram::server_first(first.mechanism, first.data, &salt, iterations) {
        Ok(x) => x,
        Err(e) => {
            let _ = fatal(write, "28000", &format!("SCRAM authentication failed: {e}")).await;
            return Err(e.to_string());
        }
    };
    send(
        write,
        Authentication::SASLContinue(Bytes::copy_from_slice(
            exchange.server_first_message().as_bytes(),
        )),
    )
    .await?;
    let last = password_message(client).await?;
    let verifiers: Vec<_> = keys.iter().map(|(_, v)| v.clone()).collect();
    let (matched, server_final) = match exchange.finish(last.body(), &verifiers) {
        Ok(ok) => ok,
        Err(e) => {
            let _ = fatal_with_hint(
                write,
                "28P01",
                &format!("password authentication failed for user \"{user}\""),
                Some("log in as a signoff principal (`agent:NAME` or `user:NAME`) with one of its API keys as the password; create one with `signoff keys create --principal agent:NAME`"),
            )
            .await;
            return Err(e.to_string());
        }
    };
    let caller = match gate.caller(user, &keys[matched].0) {
        Ok(c) => c,
        Err(e) => {
            let _ = fatal(write, "28000", &e).await;
            return Err(e);
        }
    };
    send(write, Authentication::SASLFinal(Bytes::from(server_final))).await?;
    Ok(caller)
}

async fn password_message<R: AsyncRead + Unpin>(
    client: &mut FrameReader<R>,
) -> Result<Frame, String> {
    let frame = client
        .next()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the client left during login")?;
    if frame.tag != b'p' {
        return Err(format!(
            "expected a password message, got `{}`",
            frame.tag as char
        ));
    }
    Ok(frame)
}

async fn send<W: AsyncWrite + Unpin>(write: &mut W, m: Authentication) -> Result<(), String> {
    let mut out = BytesMut::new();
    m.encode(&mut out).map_err(|e| e.to_string())?;
    write.write_all(&out).await.map_err(|e| e.to_string())
}
