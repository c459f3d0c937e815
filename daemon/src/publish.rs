//! The detection socket: a Unix SOCK_SEQPACKET listener, a Hello to each client on connect,
//! one Detections message per frame. Sends never block: a client whose socket is full loses
//! that frame (counted, and told in its next message) and is disconnected after
//! `max_missed` misses in a row. Clients send nothing; a client that does is disconnected.

use crate::stats::Stats;
use edge_infer_protocol as proto;
use nix::errno::Errno;
use nix::sys::socket::{
    accept4, bind, connect, listen, recv, send, socket, AddressFamily, Backlog, MsgFlags, SockFlag,
    SockType, UnixAddr,
};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Mutex;

pub const MAX_CLIENTS: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{path}: another edge-infer is serving this socket")]
    InUse { path: String },
    #[error("{path}: {what}: {errno}")]
    Os {
        path: String,
        what: &'static str,
        errno: Errno,
    },
    #[error("socket group '{0}' does not exist")]
    NoGroup(String),
}

struct Client {
    fd: OwnedFd,
    /// Frames lost since the last message that reached it.
    dropped: u32,
    /// Frames lost in a row.
    missed: u32,
    id: u64,
}

pub struct Publisher {
    path: PathBuf,
    listener: OwnedFd,
    clients: Mutex<heapless::Vec<Client, MAX_CLIENTS>>,
    max_clients: usize,
    max_missed: u32,
    hello: Vec<u8>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Publisher {
    /// Binds the socket, replacing a stale file only when no live daemon answers on it.
    pub fn bind(
        path: &Path,
        mode: u32,
        group: Option<&str>,
        max_clients: usize,
        max_missed: u32,
        hello: Vec<u8>,
    ) -> Result<Publisher, SocketError> {
        let p = path.display().to_string();
        let os = |what: &'static str| {
            let p = p.clone();
            move |errno| SocketError::Os {
                path: p,
                what,
                errno,
            }
        };
        let addr = UnixAddr::new(path).map_err(os("address"))?;
        let fresh = || {
            socket(
                AddressFamily::Unix,
                SockType::SeqPacket,
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
                None,
            )
        };
        if path.exists() {
            let probe = fresh().map_err(os("socket"))?;
            match connect(probe.as_raw_fd(), &addr) {
                Ok(()) => return Err(SocketError::InUse { path: p }),
                Err(Errno::ECONNREFUSED) | Err(Errno::ENOTSOCK) | Err(Errno::EPROTOTYPE) => {
                    log::info!("{p}: replacing a stale socket file");
                    std::fs::remove_file(path).map_err(|e| SocketError::Os {
                        path: p.clone(),
                        what: "remove stale socket",
                        errno: Errno::from_raw(e.raw_os_error().unwrap_or(0)),
                    })?;
                }
                Err(Errno::EAGAIN) => return Err(SocketError::InUse { path: p }),
                Err(e) => return Err(os("probe existing socket")(e)),
            }
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let listener = fresh().map_err(os("socket"))?;
        bind(listener.as_raw_fd(), &addr).map_err(os("bind"))?;
        listen(&listener, Backlog::new(16).unwrap_or(Backlog::MAXCONN)).map_err(os("listen"))?;
        nix::sys::stat::fchmodat(
            nix::fcntl::AT_FDCWD,
            path,
            nix::sys::stat::Mode::from_bits_truncate(mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .map_err(os("chmod"))?;
        if let Some(g) = group {
            let gid = nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| SocketError::NoGroup(g.into()))?
                .gid;
            nix::unistd::chown(path, None, Some(gid)).map_err(os("chown"))?;
        }
        Ok(Publisher {
            path: path.into(),
            listener,
            clients: Mutex::new(heapless::Vec::new()),
            max_clients: max_clients.min(MAX_CLIENTS),
            max_missed,
            hello,
            next_id: std::sync::atomic::AtomicU64::new(1),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn client_count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, heapless::Vec<Client, MAX_CLIENTS>> {
        self.clients.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Accepts waiting clients (sending each the Hello) and drops clients that closed or
    /// sent bytes. Called by the main loop, never on the per-frame path.
    pub fn housekeeping(&self) {
        loop {
            let fd = match accept4(
                self.listener.as_raw_fd(),
                SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            ) {
                Ok(fd) => fd,
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => break,
                Err(e) => {
                    log::warn!("{}: accept: {e}", self.path.display());
                    break;
                }
            };
            // SAFETY: accept4 just returned this descriptor and nothing else owns it.
            let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let mut clients = self.lock();
            if clients.len() >= self.max_clients {
                log::warn!(
                    "refusing a client: already {} (socket.max_clients)",
                    clients.len()
                );
                continue;
            }
            if let Err(e) = send(
                fd.as_raw_fd(),
                &self.hello,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                log::warn!("client could not take the Hello: {e}");
                continue;
            }
            let id = self.next_id.fetch_add(1, Relaxed);
            log::info!("client {id} connected ({} now)", clients.len() + 1);
            let _ = clients.push(Client {
                fd,
                dropped: 0,
                missed: 0,
                id,
            });
        }
        let mut buf = [0u8; 1];
        self.lock().retain(
            |c| match recv(c.fd.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => true,
                Ok(0) => {
                    log::info!("client {} disconnected", c.id);
                    false
                }
                Ok(_) => {
                    log::warn!(
                        "client {} sent data, which the protocol does not allow; disconnecting it",
                        c.id
                    );
                    false
                }
                Err(e) => {
                    log::info!("client {} gone: {e}", c.id);
                    false
                }
            },
        );
    }

    /// Sends one encoded Detections message to every client without blocking.
    pub fn publish(&self, packet: &mut [u8], stats: &Stats) {
        let max_missed = self.max_missed;
        self.lock().retain_mut(|c| {
            let _ = proto::set_dropped_since_last(packet, c.dropped);
            match send(
                c.fd.as_raw_fd(),
                packet,
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            ) {
                Ok(_) => {
                    c.dropped = 0;
                    c.missed = 0;
                    true
                }
                Err(Errno::EAGAIN) | Err(Errno::ENOBUFS) => {
                    c.dropped = c.dropped.saturating_add(1);
                    c.missed += 1;
                    stats.client_drops.fetch_add(1, Relaxed);
                    if c.missed >= max_missed {
                        log::warn!(
                            "client {} missed {} frames in a row; disconnecting it",
                            c.id,
                            c.missed
                        );
                        false
                    } else {
                        true
                    }
                }
                Err(_) => false,
            }
        });
    }

    /// Closes every client and removes the socket file.
    pub fn shutdown(&self) {
        self.lock().clear();
        let _ = std::fs::remove_file(&self.path);
    }
}
