//! A front door on a thread of its own: one current-thread runtime carries
//! all of a listener's sessions, as pgbouncer runs, so no two workers wake
//! each other per statement (the store writer is still woken once per
//! batch). Against the shared multi-thread runtime it used 13–22% less CPU
//! per statement and ran 7–20% more transactions (bench/RESULTS.md).

use std::sync::Arc;

use crate::{Gate, Settings};

#[derive(Debug, thiserror::Error)]
pub enum DoorError {
    #[error("cannot make the listener non-blocking: {0}")]
    Listener(std::io::Error),
    #[error("cannot build the door's runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the door's thread: {0}")]
    Thread(std::io::Error),
}

/// A running door; [`Door::stop`] ends it.
pub struct Door {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Door {
    /// Serves `listener` (bound by the caller, so a taken address is its
    /// error to report) on a new thread.
    pub fn start<G: Gate>(
        listener: std::net::TcpListener,
        settings: Settings,
        gate: Arc<G>,
    ) -> Result<Door, DoorError> {
        // tokio takes only a non-blocking listener.
        listener
            .set_nonblocking(true)
            .map_err(DoorError::Listener)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DoorError::Runtime)?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("signoff-pg-{}", settings.target))
            .spawn(move || {
                runtime.block_on(async move {
                    // Inside the runtime, so the listener joins its I/O driver.
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            tracing::error!(error = %e, "the PostgreSQL front door cannot listen");
                            return;
                        }
                    };
                    tokio::select! {
                        () = crate::serve(listener, settings, gate) => {}
                        _ = stopped => {}
                    }
                });
                // INVARIANT: dropping the runtime ends every session still
                // open on it, so `stop` returns only once they have ended.
            })
            .map_err(DoorError::Thread)?;
        Ok(Door { stop, thread })
    }

    /// Ends the door and its sessions, and waits until they have.
    pub fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::time::Duration;

    use super::*;
    use crate::fuzzing::{offline_settings, FuzzGate};

    fn door() -> (Door, std::net::SocketAddr) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let settings = Arc::unwrap_or_clone(offline_settings(None));
        (
            Door::start(listener, settings, Arc::new(FuzzGate)).unwrap(),
            addr,
        )
    }

    #[test]
    fn stopping_a_door_ends_its_open_sessions_and_frees_its_address() {
        let (door, addr) = door();
        // A session that has sent nothing yet: it waits for its startup message.
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        // A safety net so a broken stop fails the test instead of hanging it.
        client
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        door.stop();
        let mut buf = [0u8; 16];
        match client.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the session outlived its door: {other:?}"),
        }
        std::net::TcpListener::bind(addr).expect("the door's address is free again");
    }

    #[test]
    fn a_door_answers_while_another_is_stopped() {
        let (first, _) = door();
        let (second, addr) = door();
        first.stop();
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        // An SSLRequest: the door answers `N` (no TLS configured).
        std::io::Write::write_all(&mut client, &[0, 0, 0, 8, 4, 210, 22, 47]).unwrap();
        let mut answer = [0u8; 1];
        client.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"N");
        second.stop();
    }
}
