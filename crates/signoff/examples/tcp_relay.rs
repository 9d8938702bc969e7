//! A plain TCP relay on the same tokio runtime signoff uses: bytes copied
//! both ways, nothing parsed, decided or audited. `bench/run.sh pg` runs it
//! beside pgbouncer and signoff, so the figures show what the runtime's
//! threads and wake-ups cost on the machine before signoff does any work.
//!
//!   tcp_relay LISTEN UPSTREAM    e.g. tcp_relay 127.0.0.1:6433 127.0.0.1:5432
//!
//! `RELAY_RUNTIME=current` runs it on one current-thread runtime instead,
//! pgbouncer's shape (one thread for every connection).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let runtime = match std::env::var("RELAY_RUNTIME").as_deref() {
        Ok("current") => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(relay())
}

async fn relay() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(upstream)) = (args.next(), args.next()) else {
        eprintln!("usage: tcp_relay LISTEN UPSTREAM (both host:port)");
        std::process::exit(2);
    };
    let upstream: SocketAddr = upstream
        .parse()
        .map_err(|e| std::io::Error::other(format!("`{upstream}`: {e}")))?;
    let listener = TcpListener::bind(&listen).await?;
    eprintln!("relaying {listen} to {upstream}");
    loop {
        let (mut client, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(upstream).await else {
                return;
            };
            // As signoff does on both legs: small messages leave at once.
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        });
    }
}
