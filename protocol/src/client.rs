//! A blocking client: connect to the daemon's `SOCK_SEQPACKET` socket, read the Hello, then one
//! Detections message per call to [`Client::next`].

use std::fmt;
use std::io::{self, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::time::Duration;
use std::vec;
use std::vec::Vec;

use nix::errno::Errno;
use nix::libc::{suseconds_t, time_t};
use nix::sys::socket::{self, sockopt, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use nix::sys::time::TimeVal;

use crate::{
    decode, ClassNames, DecodeError, DecodeErrorKind, Detections, Hello, Kind, Message,
    MAX_MESSAGE_LEN,
};

/// A connection to the daemon. Reads only: the protocol has clients send nothing (the daemon
/// closes a client that does).
pub struct Client {
    fd: OwnedFd,
    /// Receives one packet; [`MAX_MESSAGE_LEN`] bytes, allocated once at connect.
    buf: Vec<u8>,
    hello: StoredHello,
}

/// What went wrong talking to the daemon.
#[derive(Debug)]
pub enum ClientError {
    /// No connection: no daemon listening at `path`, no permission, or a path too long for a
    /// Unix socket address.
    Connect { path: PathBuf, source: io::Error },
    /// The daemon closed the connection (it stopped, restarted, or dropped this client).
    Closed,
    /// Nothing arrived within the read timeout; the client is still usable.
    Timeout,
    /// The daemon sent something that is not a valid message at this point of the stream.
    Protocol(DecodeError),
    /// Receiving failed for another reason.
    Io(io::Error),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { path, source } => write!(
                f,
                "cannot connect to {}: {source} (is the edge-infer daemon running?)",
                path.display()
            ),
            ClientError::Closed => f.write_str("the daemon closed the connection"),
            ClientError::Timeout => {
                f.write_str("no message from the daemon within the read timeout")
            }
            ClientError::Protocol(e) => write!(f, "protocol error {e}"),
            ClientError::Io(e) => write!(f, "receiving from the daemon failed: {e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Connect { source, .. } | ClientError::Io(source) => Some(source),
            ClientError::Protocol(e) => Some(e),
            ClientError::Closed | ClientError::Timeout => None,
        }
    }
}

impl From<DecodeError> for ClientError {
    fn from(e: DecodeError) -> Self {
        ClientError::Protocol(e)
    }
}

impl Client {
    /// Connects to the daemon's socket at `path` and reads its Hello. Blocks until the Hello
    /// arrives; reads have no timeout (see [`Client::connect_with_timeout`]).
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        Client::open(path.as_ref(), None)
    }

    /// Like [`Client::connect`], but waiting at most `timeout` for the Hello and, afterwards,
    /// for each message ([`ClientError::Timeout`]). Change it with [`Client::set_read_timeout`].
    pub fn connect_with_timeout(
        path: impl AsRef<Path>,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        Client::open(path.as_ref(), Some(timeout))
    }

    fn open(path: &Path, timeout: Option<Duration>) -> Result<Client, ClientError> {
        let connect_error = |e: Errno| ClientError::Connect {
            path: path.to_path_buf(),
            source: e.into(),
        };
        let fd = socket::socket(
            AddressFamily::Unix,
            SockType::SeqPacket,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(connect_error)?;
        let addr = UnixAddr::new(path).map_err(connect_error)?;
        socket::connect(fd.as_raw_fd(), &addr).map_err(connect_error)?;
        set_timeout(&fd, timeout)?;

        let mut buf = vec![0u8; MAX_MESSAGE_LEN];
        let len = recv_packet(&fd, &mut buf)?;
        let hello = match decode(&buf[..len])? {
            Message::Hello(hello) => StoredHello::new(&hello),
            Message::Detections(_) => return Err(unexpected(Kind::Detections).into()),
        };
        Ok(Client { fd, buf, hello })
    }

    /// The daemon's Hello: model, sizes and class names (`hello().class_names.get(d.class)`).
    pub fn hello(&self) -> Hello<'_> {
        self.hello.view()
    }

    /// Blocks for the next Detections message. Besides the decoder's checks it rejects, with a
    /// [`ClientError::Protocol`] error, more records than the Hello's `max_detections`, a class
    /// not below the Hello's class count, and a second Hello. Allocates nothing.
    #[allow(
        clippy::should_implement_trait,
        reason = "blocks, and the stream ends with an error (Closed), not None: not an Iterator"
    )]
    pub fn next(&mut self) -> Result<Detections, ClientError> {
        let len = recv_packet(&self.fd, &mut self.buf)?;
        match decode(&self.buf[..len])? {
            Message::Detections(detections) => {
                self.hello().check_detections(&detections)?;
                Ok(detections)
            }
            Message::Hello(_) => Err(unexpected(Kind::Hello).into()),
        }
    }

    /// How long [`Client::next`] waits before [`ClientError::Timeout`]; `None` waits forever.
    /// A zero duration is an error, as for std's sockets.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        set_timeout(&self.fd, timeout)
    }
}

impl AsFd for Client {
    /// The socket, e.g. to `poll` it beside other event sources before calling `next`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Client {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("fd", &self.fd)
            .field("hello", &self.hello())
            .finish()
    }
}

/// The Hello, kept past the receive buffer that held it.
struct StoredHello {
    model_name: String,
    input_width: u32,
    input_height: u32,
    source_width: u32,
    source_height: u32,
    max_detections: u32,
    /// The class-name records as the packet had them (already validated).
    class_records: Vec<u8>,
}

impl StoredHello {
    fn new(hello: &Hello<'_>) -> Self {
        StoredHello {
            model_name: hello.model_name.to_string(),
            input_width: hello.input_width,
            input_height: hello.input_height,
            source_width: hello.source_width,
            source_height: hello.source_height,
            max_detections: hello.max_detections,
            class_records: hello.class_names.wire_bytes().unwrap_or_default().to_vec(),
        }
    }

    fn view(&self) -> Hello<'_> {
        Hello {
            model_name: &self.model_name,
            input_width: self.input_width,
            input_height: self.input_height,
            source_width: self.source_width,
            source_height: self.source_height,
            max_detections: self.max_detections,
            class_names: ClassNames::wire(&self.class_records),
        }
    }
}

fn unexpected(found: Kind) -> DecodeError {
    DecodeError::new(6, "header.kind", DecodeErrorKind::UnexpectedKind { found })
}

/// Receives one packet into `buf` and returns its length.
fn recv_packet(fd: &OwnedFd, buf: &mut [u8]) -> Result<usize, ClientError> {
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        // MSG_TRUNC: Linux reports a longer packet's real length (and sets MSG_TRUNC in flags).
        match socket::recvmsg::<()>(fd.as_raw_fd(), &mut iov, None, MsgFlags::MSG_TRUNC) {
            Ok(msg) => {
                let truncated = msg.flags.contains(MsgFlags::MSG_TRUNC);
                let len = msg.bytes;
                if len > MAX_MESSAGE_LEN || truncated {
                    let kind = DecodeErrorKind::PacketTooLong { len };
                    return Err(DecodeError::new(MAX_MESSAGE_LEN, "packet", kind).into());
                }
                if len == 0 {
                    // End of stream: the daemon never sends an empty packet.
                    return Err(ClientError::Closed);
                }
                return Ok(len);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return Err(ClientError::Timeout),
            Err(Errno::ECONNRESET) => return Err(ClientError::Closed),
            Err(e) => return Err(ClientError::Io(e.into())),
        }
    }
}

fn set_timeout(fd: &OwnedFd, timeout: Option<Duration>) -> Result<(), ClientError> {
    let tv = match timeout {
        None => TimeVal::new(0, 0),
        Some(d) if d.is_zero() => {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "a zero read timeout");
            return Err(ClientError::Io(e));
        }
        Some(d) => {
            let secs = time_t::try_from(d.as_secs()).unwrap_or(time_t::MAX);
            // A non-zero timeout shorter than a microsecond must not become "no timeout".
            let micros = if secs == 0 {
                d.subsec_micros().max(1)
            } else {
                d.subsec_micros()
            };
            TimeVal::new(secs, micros as suseconds_t)
        }
    };
    socket::setsockopt(fd, sockopt::ReceiveTimeout, &tv).map_err(|e| ClientError::Io(e.into()))
}
