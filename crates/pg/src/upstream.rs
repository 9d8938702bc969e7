//! The connection to the real database, with credentials only signoff holds.

use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::{backend, frontend};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::frame::FrameReader;

/// Where and as whom signoff connects.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub connect_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("`{0}` is not a PostgreSQL URL: {1}")]
    Url(String, String),
    #[error("cannot reach the database at {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("the database at {0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("the database refused signoff's login: {0}")]
    Refused(String),
    #[error("the database asked for a password, but the target's `upstream` has none")]
    NoPassword,
    #[error("the database asked for an authentication method signoff does not speak ({0})")]
    Method(&'static str),
    #[error("the database connection failed during login: {0}")]
    Protocol(String),
}

impl UpstreamConfig {
    /// Parses a `postgres://user:password@host:port/db` URL or a libpq
    /// key=value string.
    pub fn parse(url: &str) -> Result<UpstreamConfig, UpstreamError> {
        let bad = |m: String| UpstreamError::Url(redact(url), m);
        let config: tokio_postgres::Config = url.parse().map_err(|e| bad(format!("{e}")))?;
        let host = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            None => "127.0.0.1".into(),
            #[allow(unreachable_patterns)]
            Some(_) => return Err(bad("only TCP hosts are supported".into())),
        };
        let user = config
            .get_user()
            .ok_or_else(|| bad("it names no user".into()))?
            .to_owned();
        Ok(UpstreamConfig {
            host,
            port: config.get_ports().first().copied().unwrap_or(5432),
            database: config.get_dbname().unwrap_or(&user).to_owned(),
            password: config
                .get_password()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
            user,
            connect_timeout: config
                .get_connect_timeout()
                .copied()
                .unwrap_or(Duration::from_secs(10)),
        })
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

/// A logged-in upstream session.
pub struct Connected {
    pub reader: FrameReader<tokio::net::tcp::OwnedReadHalf>,
    pub writer: tokio::net::tcp::OwnedWriteHalf,
    /// ParameterStatus frames, forwarded to the client as they are.
    pub parameters: Vec<bytes::Bytes>,
    pub process_id: i32,
    pub secret_key: i32,
    /// The first ReadyForQuery frame.
    pub ready: bytes::Bytes,
}

/// Connects and logs in, passing the client's session parameters along.
pub async fn connect(
    config: &UpstreamConfig,
    session_params: &[(String, String)],
    max_frame: usize,
) -> Result<Connected, UpstreamError> {
    let addr = config.addr();
    let stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(&addr))
        .await
        .map_err(|_| UpstreamError::Timeout(addr.clone(), config.connect_timeout))?
        .map_err(|source| UpstreamError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = stream.set_nodelay(true);
    let login = login(stream, config, session_params, max_frame);
    tokio::time::timeout(config.connect_timeout, login)
        .await
        .map_err(|_| UpstreamError::Timeout(addr, config.connect_timeout))?
}

async fn login(
    stream: TcpStream,
    config: &UpstreamConfig,
    session_params: &[(String, String)],
    max_frame: usize,
) -> Result<Connected, UpstreamError> {
    let protocol = |e: std::io::Error| UpstreamError::Protocol(e.to_string());
    let (read, mut writer) = stream.into_split();
    let mut reader = FrameReader::new(read, max_frame);
    let mut params: Vec<(&str, &str)> = vec![
        ("user", config.user.as_str()),
        ("database", config.database.as_str()),
    ];
    params.extend(session_params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut buf = BytesMut::new();
    frontend::startup_message(params, &mut buf).map_err(protocol)?;
    writer.write_all(&buf).await.map_err(protocol)?;

    let mut scram: Option<ScramSha256> = None;
    let mut parameters = Vec::new();
    let mut key = (0, 0);
    loop {
        let frame = reader
            .next()
            .await
            .map_err(|e| UpstreamError::Protocol(e.to_string()))?
            .ok_or_else(|| UpstreamError::Protocol("the database closed the connection".into()))?;
        let mut bytes = BytesMut::from(&frame.bytes[..]);
        let message = backend::Message::parse(&mut bytes)
            .map_err(protocol)?
            .ok_or_else(|| UpstreamError::Protocol("incomplete message".into()))?;
        buf.clear();
        match message {
            backend::Message::AuthenticationOk => {}
            backend::Message::AuthenticationCleartextPassword => {
                let password = config.password.as_ref().ok_or(UpstreamError::NoPassword)?;
                frontend::password_message(password.as_bytes(), &mut buf).map_err(protocol)?;
            }
            backend::Message::AuthenticationMd5Password(body) => {
                let password = config.password.as_ref().ok_or(UpstreamError::NoPassword)?;
                let hash = postgres_protocol::authentication::md5_hash(
                    config.user.as_bytes(),
                    password.as_bytes(),
                    body.salt(),
                );
                frontend::password_message(hash.as_bytes(), &mut buf).map_err(protocol)?;
            }
            backend::Message::AuthenticationSasl(body) => {
                let password = config.password.as_ref().ok_or(UpstreamError::NoPassword)?;
                let mut mechanisms = body.mechanisms();
                let mut offered = false;
                while let Some(m) =
                    fallible_iterator::FallibleIterator::next(&mut mechanisms).map_err(protocol)?
                {
                    offered |= m == SCRAM_SHA_256;
                }
                if !offered {
                    return Err(UpstreamError::Method("SASL without SCRAM-SHA-256"));
                }
                let client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
                frontend::sasl_initial_response(SCRAM_SHA_256, client.message(), &mut buf)
                    .map_err(protocol)?;
                scram = Some(client);
            }
            backend::Message::AuthenticationSaslContinue(body) => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| UpstreamError::Protocol("SASL continue out of order".into()))?;
                client.update(body.data()).map_err(protocol)?;
                frontend::sasl_response(client.message(), &mut buf).map_err(protocol)?;
            }
            backend::Message::AuthenticationSaslFinal(body) => {
                let client = scram
                    .as_mut()
                    .ok_or_else(|| UpstreamError::Protocol("SASL final out of order".into()))?;
                client
                    .finish(body.data())
                    .map_err(|e| UpstreamError::Refused(format!("server signature: {e}")))?;
            }
            backend::Message::AuthenticationKerberosV5
            | backend::Message::AuthenticationScmCredential
            | backend::Message::AuthenticationGss
            | backend::Message::AuthenticationSspi
            | backend::Message::AuthenticationGssContinue(_) => {
                return Err(UpstreamError::Method("Kerberos, GSSAPI or SSPI"))
            }
            backend::Message::ParameterStatus(_) => parameters.push(frame.bytes.clone()),
            backend::Message::BackendKeyData(body) => {
                key = (body.process_id(), body.secret_key());
            }
            backend::Message::NoticeResponse(_) => {}
            backend::Message::ErrorResponse(body) => {
                let mut fields = body.fields();
                let mut message = String::new();
                while let Some(f) =
                    fallible_iterator::FallibleIterator::next(&mut fields).map_err(protocol)?
                {
                    if f.type_() == b'M' {
                        message = String::from_utf8_lossy(f.value_bytes()).into_owned();
                    }
                }
                return Err(UpstreamError::Refused(message));
            }
            backend::Message::ReadyForQuery(_) => {
                return Ok(Connected {
                    reader,
                    writer,
                    parameters,
                    process_id: key.0,
                    secret_key: key.1,
                    ready: frame.bytes,
                });
            }
            _ => {
                return Err(UpstreamError::Protocol(format!(
                    "unexpected message `{}` during login",
                    frame.tag as char
                )))
            }
        }
        if !buf.is_empty() {
            writer.write_all(&buf).await.map_err(protocol)?;
        }
    }
}

/// Asks the database to cancel what `process_id` is running.
pub async fn cancel(
    config: &UpstreamConfig,
    process_id: i32,
    secret_key: i32,
) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(config.addr()).await?;
    let mut buf = BytesMut::new();
    frontend::cancel_request(process_id, secret_key, &mut buf);
    stream.write_all(&buf).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_passwords_never_show() {
        let c = UpstreamConfig::parse("postgres://app:s3cret@db.internal:6543/orders").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.user.as_str()),
            ("db.internal", 6543, "app")
        );
        assert_eq!(
            (c.database.as_str(), c.password.as_deref()),
            ("orders", Some("s3cret"))
        );
        let c = UpstreamConfig::parse("host=127.0.0.1 user=postgres dbname=test").unwrap();
        assert_eq!((c.port, c.password), (5432, None));
        let e = UpstreamConfig::parse("postgres://app:s3cret@h/db?bogus=1").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(redact("postgres://a:b@h/d"), "postgres://a:***@h/d");
    }
}
