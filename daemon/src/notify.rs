//! The systemd notify protocol (sd_notify(3)) without libsystemd: datagrams to the socket
//! named by NOTIFY_SOCKET ("@name" is the abstract namespace). Without NOTIFY_SOCKET every
//! call does nothing, so the daemon runs the same outside systemd.

use std::os::unix::net::UnixDatagram;

pub struct Notifier {
    socket: Option<(UnixDatagram, std::os::unix::net::SocketAddr)>,
    /// WATCHDOG_USEC from systemd: how often to ping, if at all.
    pub watchdog: Option<std::time::Duration>,
}

impl Notifier {
    pub fn from_env() -> Notifier {
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&us| us > 0)
            .filter(|_| {
                // WATCHDOG_PID, when set, must be us (systemd's rule for forked children).
                std::env::var("WATCHDOG_PID")
                    .ok()
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_none_or(|p| p == std::process::id())
            })
            .map(std::time::Duration::from_micros);
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|path| {
            let path = path.to_string_lossy().into_owned();
            let addr = if let Some(name) = path.strip_prefix('@') {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            } else {
                std::os::unix::net::SocketAddr::from_pathname(&path).ok()?
            };
            let sock = UnixDatagram::unbound().ok()?;
            Some((sock, addr))
        });
        Notifier { socket, watchdog }
    }

    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// Sends one state string, e.g. "READY=1\nSTATUS=streaming". Errors are logged, not fatal:
    /// a missing supervisor must not stop the detections.
    pub fn notify(&self, state: &str) {
        if let Some((sock, addr)) = &self.socket {
            if let Err(e) = sock.send_to_addr(state.as_bytes(), addr) {
                log::warn!("sd_notify failed: {e}");
            }
        }
    }
}
