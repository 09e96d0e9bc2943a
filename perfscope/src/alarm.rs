//! Alarms reaching a watcher: signals through a signalfd (SIGUSR1 raises an alarm;
//! SIGTERM, SIGINT and SIGHUP stop it), and a unix socket that `perfscope alarm` talks
//! to. Also the `perfscope alarm` client.
//!
//! Socket protocol (one connection per alarm): the client sends one JSON line
//! `{"cmd":"alarm","label":...,"wait":bool,"format":"text"|"json"}`; the watcher answers
//! `{"status":"accepted","alarm":N}` (or `{"status":"error","message":...}`), and with
//! `wait`, once the analysis is done, `{"status":"done","exit_code":C,"bytes":B}`
//! followed by the B bytes of the report.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use report::alarm::{MAX_REQUEST, Reply, Request, parse_reply, parse_request};

use crate::cli::{AlarmArgs, Format};

pub use host::signals::SignalFd as Signals;
use host::signals::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};

/// Signals the watcher handles.
pub const SIGNALS: [i32; 4] = [SIGUSR1, SIGTERM, SIGINT, SIGHUP];

/// A client waiting for the report of its alarm.
#[derive(Debug)]
pub struct Waiter {
    stream: UnixStream,
    pub format: Format,
}

impl Waiter {
    /// Sends the report and closes the connection, on a thread of its own so that a
    /// slow reader never stalls the capture.
    pub fn send(self, body: String, exit_code: i32) {
        let mut stream = self.stream;
        std::thread::spawn(move || {
            let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
            let head = Reply::done(exit_code, body.len());
            let _ = send_line(&mut stream, &head).and_then(|()| stream.write_all(body.as_bytes()));
        });
    }
}

fn send_line(s: &mut UnixStream, r: &Reply) -> std::io::Result<()> {
    s.write_all(r.to_line().as_bytes())
}

struct Conn {
    stream: UnixStream,
    buf: Vec<u8>,
    since: Instant,
}

/// An alarm request read from the socket.
#[derive(Debug)]
pub struct Incoming {
    pub label: Option<String>,
    stream: UnixStream,
    wait: bool,
    format: Format,
}

impl Incoming {
    /// Tells the client its alarm number; returns the waiter if it waits for the report.
    pub fn accept(mut self, n: u64) -> Option<Waiter> {
        let ok = Reply::accepted(n);
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_write_timeout(Some(Duration::from_secs(2)));
        send_line(&mut self.stream, &ok).ok()?;
        self.wait.then_some(Waiter {
            stream: self.stream,
            format: self.format,
        })
    }

    pub fn reject(mut self, message: &str) {
        let _ = self.stream.set_nonblocking(false);
        let _ = self.stream.set_write_timeout(Some(Duration::from_secs(2)));
        let _ = send_line(&mut self.stream, &Reply::error(message));
    }
}

/// The watcher's socket.
pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    conns: Vec<Conn>,
}

/// Where a watcher with pid `pid` puts its socket by default.
pub fn default_paths(pid: u32) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        v.push(PathBuf::from(dir).join(format!("perfscope-{pid}.sock")));
    }
    v.push(PathBuf::from(format!("/run/perfscope/{pid}.sock")));
    v
}

impl Server {
    pub fn bind(path: &Path) -> anyhow::Result<Server> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the socket directory {}", dir.display()))?;
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        // sockets left by watchers that died (SIGKILL), this path's under a recycled pid
        sweep_stale(path);
        if path.exists() && UnixStream::connect(path).is_err() {
            let _ = std::fs::remove_file(path);
        }
        let listener = UnixListener::bind(path).with_context(|| {
            format!(
                "binding the alarm socket {} (give another --socket)",
                path.display()
            )
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {} to its owner", path.display()))?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            path: path.to_owned(),
            conns: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fds to poll for readability.
    pub fn fds(&self) -> Vec<RawFd> {
        std::iter::once(self.listener.as_raw_fd())
            .chain(self.conns.iter().map(|c| c.stream.as_raw_fd()))
            .collect()
    }

    /// Accepts connections and reads what is there; returns complete requests.
    pub fn service(&mut self) -> Vec<Incoming> {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_ok() && self.conns.len() < 64 {
                self.conns.push(Conn {
                    stream,
                    buf: Vec::new(),
                    since: Instant::now(),
                });
            }
        }
        let mut out = Vec::new();
        let mut keep = Vec::with_capacity(self.conns.len());
        for mut c in self.conns.drain(..) {
            let mut chunk = [0u8; 1024];
            let mut closed = false;
            loop {
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
                if c.buf.len() > MAX_REQUEST {
                    break;
                }
            }
            if let Some(end) = c.buf.iter().position(|&b| b == b'\n') {
                match parse_request(&c.buf[..end]) {
                    Ok(r) => out.push(Incoming {
                        label: r.label,
                        stream: c.stream,
                        wait: r.wait,
                        format: match r.format.as_deref() {
                            Some("json") => Format::Json,
                            _ => Format::Text,
                        },
                    }),
                    Err(e) => {
                        let _ = c.stream.set_nonblocking(false);
                        let _ = send_line(&mut c.stream, &Reply::error(&e));
                    }
                }
            } else if !closed
                && c.buf.len() <= MAX_REQUEST
                && c.since.elapsed() < Duration::from_secs(5)
            {
                keep.push(c);
            }
        }
        self.conns = keep;
        out
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The socket of the watcher the client means.
fn find_socket(a: &AlarmArgs) -> anyhow::Result<PathBuf> {
    if let Some(p) = &a.socket {
        return Ok(p.clone());
    }
    if let Some(pid) = a.pid {
        return default_paths(pid)
            .into_iter()
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "no alarm socket of watcher {pid} in {} (give the path it printed with --socket)",
                    default_paths(pid)
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" or ")
                )
            });
    }
    let mut found = Vec::new();
    let mut denied = Vec::new();
    let mut dirs: Vec<(PathBuf, &str)> = vec![(PathBuf::from("/run/perfscope"), "")];
    if let Some(d) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        dirs.push((PathBuf::from(d), "perfscope-"));
    }
    for (dir, prefix) in dirs {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied.push(dir);
                continue;
            }
            Err(_) => continue,
        };
        for (path, pid) in rd.flatten().filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let pid = name
                .strip_prefix(prefix)?
                .strip_suffix(".sock")?
                .parse::<u32>()
                .ok()?;
            Some((e.path(), pid))
        }) {
            if Path::new(&format!("/proc/{pid}")).exists() {
                found.push(path);
            } else if std::fs::remove_file(&path).is_ok() {
                eprintln!(
                    "perfscope: removed the socket of watcher {pid}, which is gone: {}",
                    path.display()
                );
            }
        }
    }
    match found.len() {
        0 if !denied.is_empty() => bail!(
            "permission denied reading {}: a watcher started by another user (root) keeps its \
             socket there; run perfscope alarm as that user (e.g. with sudo), or give --socket",
            denied
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
        0 => bail!(
            "no running perfscope watcher found; start one with `perfscope watch`, or give --socket"
        ),
        1 => Ok(found.remove(0)),
        _ => bail!(
            "several watchers are running; choose one with --socket: {}",
            found
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Removes sockets of watchers that are gone (killed with SIGKILL: nothing removed
/// theirs) from the folder of `path`.
pub fn sweep_stale(path: &Path) {
    let Some(dir) = path.parent() else { return };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let pid = name
            .trim_start_matches("perfscope-")
            .strip_suffix(".sock")
            .and_then(|n| n.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `perfscope alarm`: returns the exit code.
pub fn client(a: &AlarmArgs) -> anyhow::Result<i32> {
    let path = find_socket(a)?;
    let mut stream = match UnixStream::connect(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => bail!(
            "permission denied connecting to the watcher at {}: it belongs to another user \
             (root); run perfscope alarm as that user (e.g. with sudo)",
            path.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => bail!(
            "the watcher of {} is gone (the socket is stale: it was killed without a chance \
             to remove it); start a new one",
            path.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "connecting to the watcher at {} (is it running?)",
                    path.display()
                )
            });
        }
    };
    let req = Request {
        cmd: "alarm".into(),
        label: a.label.clone(),
        wait: a.wait,
        format: Some(match a.format {
            Format::Text => "text".into(),
            Format::Json => "json".into(),
        }),
    };
    let mut line = serde_json::to_string(&req)?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .context("sending the alarm")?;
    stream.set_read_timeout(Some(Duration::from_nanos(a.timeout)))?;
    let mut r = BufReader::new(stream);
    let first = read_reply(&mut r).context("reading the watcher's answer")?;
    if first.status != "accepted" {
        bail!(
            "the watcher refused the alarm: {}",
            first.message.unwrap_or_else(|| first.status.clone())
        );
    }
    let n = first.alarm.unwrap_or(0);
    if !a.wait {
        eprintln!("perfscope: alarm {n} raised at {}", path.display());
        return Ok(0);
    }
    let done = read_reply(&mut r).context("waiting for the report (raise --timeout?)")?;
    if done.status != "done" {
        bail!(
            "the analysis of alarm {n} failed: {}",
            done.message.unwrap_or_else(|| done.status.clone())
        );
    }
    let mut body = vec![0u8; done.bytes.unwrap_or(0)];
    r.read_exact(&mut body).context("reading the report")?;
    crate::output::print(&String::from_utf8_lossy(&body));
    Ok(done.exit_code.unwrap_or(2))
}

fn read_reply(r: &mut impl BufRead) -> anyhow::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        bail!("the watcher closed the connection");
    }
    parse_reply(&line).with_context(|| format!("unexpected answer {line:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_and_a_server_talk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let mut server = Server::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let args = AlarmArgs {
            socket: Some(path.clone()),
            pid: None,
            label: Some("test".into()),
            wait: true,
            format: Format::Json,
            timeout: 10_000_000_000,
        };
        let client = std::thread::spawn(move || client(&args).unwrap());
        let incoming = loop {
            let mut v = server.service();
            if let Some(i) = v.pop() {
                break i;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(incoming.label.as_deref(), Some("test"));
        let waiter = incoming.accept(3).unwrap();
        assert_eq!(waiter.format, Format::Json);
        waiter.send("{\"type\":\"report\"}\n".into(), 1);
        assert_eq!(client.join().unwrap(), 1);
        drop(server);
        assert!(!path.exists(), "the socket is removed at exit");
    }
}
