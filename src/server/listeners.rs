//! Where the server listens: the sockets bound for `--web.listen-address` (one or more), or
//! the ones systemd passed for socket activation (`--web.systemd-socket`).

use std::future::Future;
use std::net::SocketAddr;
use std::task::Poll;

use tokio::net::{TcpListener, TcpStream};

/// The listening sockets the server accepts connections on.
#[derive(Debug)]
pub struct Listeners(Vec<TcpListener>);

impl Listeners {
    /// Binds each address in turn; an address given as several (`:PORT`: IPv6 and IPv4)
    /// binds the first that the system allows. Fails naming the address that could not be
    /// bound.
    pub(crate) async fn bind(addresses: &[(String, Vec<SocketAddr>)]) -> std::io::Result<Self> {
        let mut bound = Vec::with_capacity(addresses.len());
        for (given, choices) in addresses {
            let mut last = None;
            let mut listener = None;
            for address in choices {
                match TcpListener::bind(address).await {
                    Ok(l) => {
                        listener = Some(l);
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            match listener {
                Some(l) => bound.push(l),
                None => {
                    let e = last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into());
                    return Err(std::io::Error::new(
                        e.kind(),
                        format!("cannot listen on {given}: {e}"),
                    ));
                }
            }
        }
        Ok(Listeners(bound))
    }

    /// The sockets systemd passed (`LISTEN_FDS`, `LISTEN_PID`), which must be listening TCP
    /// sockets.
    #[cfg(unix)]
    pub(crate) fn from_systemd() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd as _;
        /// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
        const FIRST: i32 = 3;
        let invalid = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, why);
        if let Ok(pid) = std::env::var("LISTEN_PID")
            && pid.trim() != std::process::id().to_string()
        {
            return Err(invalid(format!(
                "LISTEN_PID is {pid}, not this process: the sockets are someone else's"
            )));
        }
        let count: i32 = std::env::var("LISTEN_FDS")
            .map_err(|_| invalid("systemd passed no sockets (LISTEN_FDS is not set)".into()))?
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=64).contains(n))
            .ok_or_else(|| invalid("LISTEN_FDS is not a number from 1 to 64".into()))?;
        let mut listeners = Vec::new();
        for fd in FIRST..FIRST + count {
            if !is_listening_tcp(fd) {
                return Err(invalid(format!(
                    "descriptor {fd} from systemd is not a listening TCP socket"
                )));
            }
            // SAFETY: systemd hands this descriptor to this process (LISTEN_PID), nothing
            // else in the process owns it, and it was just checked to be a listening socket.
            let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            listener.set_nonblocking(true)?;
            listeners.push(TcpListener::from_std(listener)?);
        }
        Ok(Listeners(listeners))
    }

    /// Without systemd there are no sockets to take over.
    #[cfg(not(unix))]
    pub(crate) fn from_systemd() -> std::io::Result<Self> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "socket activation needs systemd",
        ))
    }

    /// The addresses listened on, in the order given.
    pub fn local_addrs(&self) -> std::io::Result<Vec<SocketAddr>> {
        self.0.iter().map(TcpListener::local_addr).collect()
    }

    /// The next connection on any of the sockets.
    pub(crate) fn accept(&self) -> impl Future<Output = std::io::Result<(TcpStream, SocketAddr)>> {
        std::future::poll_fn(|cx| {
            for listener in &self.0 {
                if let Poll::Ready(accepted) = listener.poll_accept(cx) {
                    return Poll::Ready(accepted);
                }
            }
            Poll::Pending
        })
    }
}

impl From<TcpListener> for Listeners {
    fn from(listener: TcpListener) -> Self {
        Listeners(vec![listener])
    }
}

/// Whether `fd` is an open socket of the IPv4 or IPv6 family that is listening.
#[cfg(unix)]
fn is_listening_tcp(fd: i32) -> bool {
    let option = |name: libc::c_int| {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes of the sizes given; a descriptor
        // that is not a socket makes the call fail with ENOTSOCK, nothing else.
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                name,
                (&raw mut value).cast(),
                &raw mut len,
            )
        };
        (r == 0).then_some(value)
    };
    option(libc::SO_ACCEPTCONN) == Some(1)
        && matches!(
            option(libc::SO_DOMAIN),
            Some(libc::AF_INET | libc::AF_INET6)
        )
        && option(libc::SO_TYPE) == Some(libc::SOCK_STREAM)
}
