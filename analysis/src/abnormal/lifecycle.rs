//! Units that start or end a thread, a process or a connection: how many of those there
//! are follows how many threads, processes and connections come and go, not the code.

use crate::unit::Unit;
use crate::window::Window;

/// Whether a unit starts or ends a thread, a process or a connection: thread start-up
/// (`clone`, `set_robust_list`, `rseq`), `exec`, `exit`, `accept`, `shutdown`.
pub fn lifecycle(w: &Window, u: &Unit) -> bool {
    use std::sync::OnceLock;
    static NRS: OnceLock<Vec<u16>> = OnceLock::new();
    let nrs = NRS.get_or_init(|| {
        let mut v: Vec<u16> = [
            "clone",
            "clone3",
            "fork",
            "vfork",
            "execve",
            "execveat",
            "set_robust_list",
            "rseq",
            "exit",
            "exit_group",
            "accept",
            "accept4",
            "shutdown",
        ]
        .iter()
        .filter_map(|n| trace::syscall_number(n).and_then(|x| u16::try_from(x).ok()))
        .collect();
        v.sort_unstable();
        v
    });
    u.calls(w).iter().any(|c| nrs.binary_search(&c.nr).is_ok())
}

/// The share of `sel`'s units that start or end a thread, a process or a connection.
/// With `closes_connections` (the group accepts connections faster by as much as these
/// units came), a unit that closes a file, or changes the set of files an event loop
/// watches (`epoll_ctl`), is taken for the start or end of one of those connections: a
/// burst of short connections ends each with a `close`, and an event loop registers
/// each new one (netty's first turn on a connection), which alone do not say whether
/// the file was a socket.
pub(super) fn lifecycle_share(
    w: &Window,
    units: &[Unit],
    sel: &[u32],
    closes_connections: bool,
) -> f64 {
    if sel.is_empty() {
        return 0.0;
    }
    let nr = |name: &str| trace::syscall_number(name).and_then(|n| u16::try_from(n).ok());
    let (close, epoll_ctl) = (nr("close"), nr("epoll_ctl"));
    let n = sel
        .iter()
        .filter(|&&i| {
            let u = &units[i as usize];
            lifecycle(w, u)
                || (closes_connections
                    && u.calls(w)
                        .iter()
                        .any(|c| Some(c.nr) == close || Some(c.nr) == epoll_ctl))
        })
        .count();
    n as f64 / sel.len() as f64
}

/// `accept` and `accept4`.
pub(super) fn accepts() -> &'static [u16] {
    use std::sync::OnceLock;
    static NRS: OnceLock<Vec<u16>> = OnceLock::new();
    NRS.get_or_init(|| {
        ["accept", "accept4"]
            .iter()
            .filter_map(|n| trace::syscall_number(n).and_then(|x| u16::try_from(x).ok()))
            .collect()
    })
}
