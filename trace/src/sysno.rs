//! Syscall numbers and names of the trace's architecture (x86_64). Signature databases
//! store names, so they survive renumbering and read the same on every architecture.

use std::borrow::Cow;

/// The name of syscall `nr` on x86_64, or `syscall_NR` for a number the table lacks.
pub fn syscall_name(nr: u32) -> Cow<'static, str> {
    match syscalls::x86_64::Sysno::new(nr as usize) {
        Some(s) => Cow::Borrowed(s.name()),
        None => Cow::Owned(format!("syscall_{nr}")),
    }
}

/// The number of the syscall called `name` on x86_64 (also accepts `syscall_NR`).
pub fn syscall_number(name: &str) -> Option<u32> {
    if let Some(n) = name.strip_prefix("syscall_") {
        return n.parse().ok();
    }
    name.parse::<syscalls::x86_64::Sysno>()
        .ok()
        .map(|s| s.id() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_match_the_kernel_table() {
        // asm/unistd_64.h: read 0, write 1, openat 257, epoll_wait 232, io_uring_enter 426
        for (nr, name) in [
            (0, "read"),
            (1, "write"),
            (257, "openat"),
            (232, "epoll_wait"),
            (426, "io_uring_enter"),
        ] {
            assert_eq!(syscall_name(nr), name);
            assert_eq!(syscall_number(name), Some(nr));
        }
    }

    #[test]
    fn unknown_numbers_get_a_stable_name() {
        assert_eq!(syscall_name(9999), "syscall_9999");
        assert_eq!(syscall_number("syscall_9999"), Some(9999));
        assert_eq!(syscall_number("no_such_call"), None);
    }
}
