//! The HTTP health probe every target shares: one `GET` over plain HTTP/1.1 with a timeout,
//! judged by its status (2xx and 3xx are healthy). Deliberately tiny and std-only: probes
//! talk to the release's own host and port, never through proxies, never with TLS.
use crate::deploy::health::Observation;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// An `http://host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("`{url}`: only http:// URLs are probed"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("`{url}`: bad port"))?),
            None => (authority, 80),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !host_ok || path.contains(char::is_whitespace) {
            return Err(format!("`{url}`: not a host and path autosd can probe"));
        }
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            path: path.to_string(),
        })
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

/// One probe. A refused or timed-out connection, or a status outside 2xx/3xx, is `NotReady`:
/// whether that fails the gate depends on its phase (see `health::Gate`).
pub fn probe(url: &HttpUrl, timeout: Duration) -> Observation {
    match get_status(url, timeout) {
        Ok(status) if (200..400).contains(&status) => Observation::Healthy,
        Ok(status) => Observation::NotReady(format!("{url} answered HTTP {status}")),
        Err(e) => Observation::NotReady(format!("{url}: {e}")),
    }
}

/// The status code of `GET url`.
pub fn get_status(url: &HttpUrl, timeout: Duration) -> std::io::Result<u16> {
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other("the host has no address"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUser-Agent: autosd-probe\r\nConnection: close\r\n\r\n",
        url.path, url.host, url.port
    );
    stream.write_all(request.as_bytes())?;
    // The status line fits in the first bytes; the body is not needed.
    let mut buf = [0u8; 256];
    let mut len = 0;
    while len < buf.len() {
        let n = stream.read(&mut buf[len..])?;
        if n == 0 {
            break;
        }
        len += n;
        if buf[..len].contains(&b'\n') {
            break;
        }
    }
    parse_status_line(&buf[..len])
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line"))
}

fn parse_status_line(bytes: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_parse() {
        let u = HttpUrl::parse("http://127.0.0.1:8080/health").expect("url");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/health")
        );
        assert_eq!(HttpUrl::parse("http://localhost").expect("url").port, 80);
        assert!(HttpUrl::parse("https://x/").is_err());
        assert!(HttpUrl::parse("http://a b/").is_err());
        assert!(HttpUrl::parse("http://x:99999/").is_err());
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line(b"HTTP/1.0 404 Not Found\r\n"), Some(404));
        assert_eq!(parse_status_line(b"SSH-2.0\r\n"), None);
    }

    fn serve_once(response: &'static str) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response.as_bytes());
            }
        });
        port
    }

    #[test]
    fn probes_judge_by_status() {
        let t = Duration::from_secs(2);
        let ok = serve_once("HTTP/1.1 204 No Content\r\n\r\n");
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{ok}/")).expect("url");
        assert_eq!(probe(&url, t), Observation::Healthy);
        let bad = serve_once("HTTP/1.1 503 Unavailable\r\n\r\n");
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{bad}/")).expect("url");
        assert!(matches!(probe(&url, t), Observation::NotReady(r) if r.contains("503")));
    }

    #[test]
    fn refused_connection_is_not_ready() {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let url = HttpUrl::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
        assert!(matches!(
            probe(&url, Duration::from_millis(500)),
            Observation::NotReady(_)
        ));
    }
}
