//! The connection to the real database, with credentials only signoff holds.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::{backend, frontend};
use tokio::io::AsyncWriteExt;
use tokio::net::{tcp, unix, TcpStream, UnixStream};
use tokio_util::either::Either;

use crate::frame::FrameReader;

/// Where and as whom signoff connects.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub addr: UpstreamAddr,
    pub user: String,
    pub password: Option<String>,
    pub database: String,
    pub connect_timeout: Duration,
}

/// Where the database listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamAddr {
    Tcp {
        host: String,
        port: u16,
    },
    /// A Unix-domain socket file, as libpq finds it: `host` is the socket's
    /// directory and the file is `.s.PGSQL.{port}` in it. For signoff beside
    /// the database: the upstream leg then needs no TCP port.
    Unix(PathBuf),
}

impl fmt::Display for UpstreamAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpstreamAddr::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            UpstreamAddr::Tcp { host, port } => write!(f, "{host}:{port}"),
            UpstreamAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
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
        if config.get_hosts().len() > 1 {
            return Err(bad("it names several hosts; give one".into()));
        }
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let addr = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(host)) => UpstreamAddr::Tcp {
                host: host.clone(),
                port,
            },
            Some(tokio_postgres::config::Host::Unix(dir)) => {
                UpstreamAddr::Unix(dir.join(format!(".s.PGSQL.{port}")))
            }
            None => UpstreamAddr::Tcp {
                host: "127.0.0.1".into(),
                port,
            },
        };
        let user = config
            .get_user()
            .ok_or_else(|| bad("it names no user".into()))?
            .to_owned();
        Ok(UpstreamConfig {
            addr,
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

/// The halves of a connection to the database, over TCP or its Unix socket.
pub type UpstreamRead = Either<tcp::OwnedReadHalf, unix::OwnedReadHalf>;
pub type UpstreamWrite = Either<tcp::OwnedWriteHalf, unix::OwnedWriteHalf>;

/// Opens a connection to `addr`, halved.
async fn open(addr: &UpstreamAddr) -> io::Result<(UpstreamRead, UpstreamWrite)> {
    Ok(match addr {
        UpstreamAddr::Tcp { host, port } => {
            let stream = TcpStream::connect((host.as_str(), *port)).await?;
            let _ = stream.set_nodelay(true);
            let (r, w) = stream.into_split();
            (Either::Left(r), Either::Left(w))
        }
        UpstreamAddr::Unix(path) => {
            let (r, w) = UnixStream::connect(path).await?.into_split();
            (Either::Right(r), Either::Right(w))
        }
    })
}

/// A logged-in upstream session.
pub struct Connected {
    pub reader: FrameReader<UpstreamRead>,
    pub writer: UpstreamWrite,
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
    let addr = config.addr.to_string();
    let halves = tokio::time::timeout(config.connect_timeout, open(&config.addr))
        .await
        .map_err(|_| UpstreamError::Timeout(addr.clone(), config.connect_timeout))?
        .map_err(|source| UpstreamError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let login = login(halves, config, session_params, max_frame);
    tokio::time::timeout(config.connect_timeout, login)
        .await
        .map_err(|_| UpstreamError::Timeout(addr, config.connect_timeout))?
}

async fn login(
    (read, mut writer): (UpstreamRead, UpstreamWrite),
    config: &UpstreamConfig,
    session_params: &[(String, String)],
    max_frame: usize,
) -> Result<Connected, UpstreamError> {
    let protocol = |e: std::io::Error| UpstreamError::Protocol(e.to_string());
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
    let (_read, mut stream) = open(&config.addr).await?;
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
            (c.addr.to_string(), c.user.as_str()),
            ("db.internal:6543".into(), "app")
        );
        assert_eq!(
            (c.database.as_str(), c.password.as_deref()),
            ("orders", Some("s3cret"))
        );
        let c = UpstreamConfig::parse("host=127.0.0.1 user=postgres dbname=test").unwrap();
        assert_eq!(
            (c.addr.to_string(), c.password),
            ("127.0.0.1:5432".into(), None)
        );
        let e = UpstreamConfig::parse("postgres://app:s3cret@h/db?bogus=1").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert_eq!(redact("postgres://a:b@h/d"), "postgres://a:***@h/d");
    }

    #[test]
    fn addresses_are_found_as_libpq_finds_them() {
        let socket = |s: &str| UpstreamConfig::parse(s).map(|c| c.addr);
        let expected = |p: &str| UpstreamAddr::Unix(PathBuf::from(p));
        for (url, addr) in [
            (
                "host=/var/run/postgresql user=postgres dbname=test",
                expected("/var/run/postgresql/.s.PGSQL.5432"),
            ),
            (
                "host=/tmp port=6000 user=postgres",
                expected("/tmp/.s.PGSQL.6000"),
            ),
            (
                "postgres://postgres@%2Fvar%2Frun%2Fpostgresql/test",
                expected("/var/run/postgresql/.s.PGSQL.5432"),
            ),
            (
                "postgresql:///test?host=/srv/pg&user=app",
                expected("/srv/pg/.s.PGSQL.5432"),
            ),
            (
                "postgres://app@[::1]:5433/db",
                UpstreamAddr::Tcp {
                    host: "::1".into(),
                    port: 5433,
                },
            ),
        ] {
            assert_eq!(socket(url).unwrap(), addr, "{url}");
        }
        assert_eq!(
            expected("/tmp/.s.PGSQL.5432").to_string(),
            "/tmp/.s.PGSQL.5432"
        );
        assert_eq!(
            socket("postgres://app@[::1]:5433/db").unwrap().to_string(),
            "[::1]:5433"
        );
        let e = socket("host=a,b user=app").unwrap_err();
        assert!(e.to_string().contains("several hosts"), "{e}");
    }
}
