//! Tests of launching: exec errors, waiting, redirection, privilege drop.

use super::*;
use crate::user::User;

#[test]
fn resolve_on_path() {
    let found = resolve(
        OsStr::new("sh"),
        Some(OsStr::new("/nonexistent:/bin")),
        None,
    );
    assert_eq!(found, Some(PathBuf::from("/bin/sh")));
    assert_eq!(
        resolve(
            OsStr::new("no-such-cmd-xyz"),
            Some(OsStr::new("/bin")),
            None
        ),
        None
    );
    assert_eq!(resolve(OsStr::new("/no/such"), None, None), None);
}

#[test]
fn launch_and_wait() {
    let paused = Command::new("sh")
        .args(["-c", "exit 7"])
        .spawn_paused()
        .unwrap();
    let mut child = paused.release().unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(7));
    // Waiting again returns the same status (the pid is not waited for twice).
    assert_eq!(child.wait().unwrap(), ExitStatus::Exited(7));
}

#[test]
fn output_redirected() {
    let path = std::env::temp_dir().join(format!("perfscope-out-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let paused = Command::new("echo")
        .arg("hello")
        .stdout(file)
        .spawn_paused()
        .unwrap();
    assert!(paused.release().unwrap().wait().unwrap().success());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "hello\n");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn privileges_dropped() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped privileges_dropped: needs root");
        return;
    }
    let nobody = User::lookup("nobody").unwrap();
    assert!(nobody.uid != 0 && nobody.home.is_some());
    assert!(User::lookup("no-such-user-perfscope").is_err());
    let path = std::env::temp_dir().join(format!("perfscope-id-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let paused = Command::new("sh")
        .args(["-c", "echo $(id -u) $(id -g) $USER $HOME"])
        .user(nobody.clone())
        .stdout(file)
        .spawn_paused()
        .unwrap();
    assert!(paused.release().unwrap().wait().unwrap().success());
    let out = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let home = nobody.home.unwrap();
    let expected = format!("{} {} nobody {}\n", nobody.uid, nobody.gid, home.display());
    assert_eq!(out, expected);
}

#[test]
fn killed_child() {
    let paused = Command::new("sleep").arg("30").spawn_paused().unwrap();
    let mut child = paused.release().unwrap();
    assert_eq!(child.try_wait().unwrap(), None);
    child.signal(libc::SIGKILL, false).unwrap();
    assert_eq!(child.wait().unwrap(), ExitStatus::Signaled(libc::SIGKILL));
}

#[test]
fn missing_command_is_an_error() {
    let err = Command::new("no-such-command-perfscope")
        .spawn_paused()
        .err();
    assert!(
        matches!(err, Some(HostError::CommandNotFound { .. })),
        "{err:?}"
    );
    // Found at resolve time but gone at exec time: reported by release.
    let dir = std::env::temp_dir().join(format!("perfscope-launch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("vanishing");
    std::fs::write(&exe, "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let paused = Command::new(&exe).spawn_paused().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = paused.release().err();
    assert!(
        matches!(err, Some(HostError::CommandNotFound { .. })),
        "{err:?}"
    );
}

#[test]
fn not_executable_is_an_exec_error() {
    let paused = Command::new("/etc/hostname").spawn_paused().unwrap();
    let err = paused.release().err();
    assert!(matches!(err, Some(HostError::Exec { .. })), "{err:?}");
}

#[test]
fn dropped_paused_child_is_reaped() {
    let paused = Command::new("true").spawn_paused().unwrap();
    let pid = paused.pid();
    drop(paused);
    // Reaped: no such child any more.
    // SAFETY: waitpid with a null status pointer is allowed.
    let r = unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), libc::WNOHANG) };
    assert_eq!(r, -1);
}

#[test]
fn environment_for_user() {
    let mut c = Command::new("true");
    c.user(User {
        uid: 1000,
        gid: 1000,
        groups: vec![],
        name: Some("alice".into()),
        home: Some("/home/alice".into()),
    })
    .env("HOME", "/override")
    .env_remove("PATH");
    let env = c.environment();
    let get = |k: &str| env.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("USER"), Some("alice".into()));
    assert_eq!(get("HOME"), Some("/override".into()));
    assert_eq!(get("PATH"), None);
}

/// The tracer side of `contained_command_dies_with_a_killed_tracer`: run in a child copy of
/// this test binary, it launches a contained shell that starts two sleeps in the
/// background (one in a new session, out of the process group), prints their pids and the
/// cgroup, and waits to be killed.
#[test]
fn contained_tracer_helper() {
    let Some(out) = std::env::var_os("PERFSCOPE_CONTAIN_TEST_OUT") else {
        return; // only as the helper of the test below
    };
    let script = format!(
        "sleep 300 & a=$!; setsid sleep 300 & b=$!; echo $a $b > {}.tmp; \
         mv {0}.tmp {0}; wait",
        std::path::Path::new(&out).display()
    );
    let paused = Command::new("sh")
        .args(["-c", &script])
        .contain("test")
        .spawn_paused()
        .unwrap();
    let child = paused.release().unwrap();
    let cg = child
        .containment()
        .and_then(|g| g.cgroup())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    std::fs::write(format!("{}.cgroup", out.to_string_lossy()), cg).unwrap();
    std::thread::sleep(std::time::Duration::from_secs(600));
}

#[test]
fn contained_command_dies_with_a_killed_tracer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pids");
    let mut tracer = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "launch::tests::contained_tracer_helper",
            "--nocapture",
        ])
        .env("PERFSCOPE_CONTAIN_TEST_OUT", &out)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !out.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the helper never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pids: Vec<u32> = std::fs::read_to_string(&out)
        .unwrap()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    let cgroup = std::fs::read_to_string(dir.path().join("pids.cgroup")).unwrap_or_default();
    assert!(pids.iter().all(|&p| crate::procfs::proc_info(p).is_some()));
    // The tracer dies without a chance to clean up.
    tracer.kill().unwrap();
    tracer.wait().unwrap();
    let gone = |p: u32| crate::procfs::proc_info(p).is_none_or(|i| !i.is_alive());
    // Without root there is no cgroup: only the process group is killed, and the sleep
    // that left it in a session of its own escapes (said by Guard::limitation).
    let root = crate::identity::euid() == 0;
    let must_die = if root { &pids[..] } else { &pids[..1] };
    if !root {
        eprintln!(
            "contained_command_dies_with_a_killed_tracer: not root, no cgroup: checking the process group only"
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !must_die.iter().all(|&p| gone(p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "processes of the command outlived their tracer: {pids:?} (cgroup {cgroup:?})"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if !root {
        crate::signals::kill(pids[1] as i32, libc::SIGKILL);
    }
    if root {
        assert!(!cgroup.is_empty(), "as root, the command gets a cgroup");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::path::Path::new(&cgroup).exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "cgroup {cgroup} left behind"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

/// Once spawned, the paused child holds only what exec would keep: a close-on-exec
/// descriptor of the parent (a tracer's BPF link, made by another thread) is closed, an
/// inheritable one is kept.
#[test]
fn paused_child_drops_close_on_exec_descriptors() {
    let dir = std::env::temp_dir().join(format!("perfscope-fds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let private = dir.join("private");
    let shared = dir.join("shared");
    // std opens with O_CLOEXEC; dup makes an inheritable copy.
    let private_file = std::fs::File::create(&private).unwrap();
    let shared_file = std::fs::File::create(&shared).unwrap();
    // SAFETY: dup of a descriptor we own; the copy is owned below.
    let inheritable = unsafe { OwnedFd::from_raw_fd(libc::dup(shared_file.as_raw_fd())) };
    drop(shared_file);
    let paused = Command::new("true").spawn_paused().unwrap();
    let targets = || -> Vec<PathBuf> {
        std::fs::read_dir(format!("/proc/{}/fd", paused.pid()))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .collect()
    };
    // The child closed them before spawn_paused returned.
    let held = targets();
    assert!(!held.contains(&private), "{held:?}");
    assert!(held.contains(&shared), "{held:?}");
    assert!(paused.release().unwrap().wait().unwrap().success());
    drop((private_file, inheritable));
    std::fs::remove_dir_all(&dir).unwrap();
}
