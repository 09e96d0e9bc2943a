//! Who runs a traced command (`runner -- CMD`, `perfscope watch -- CMD`). Capture needs
//! root, the command must not have it unless asked: test suites and servers write files,
//! start servers and sometimes refuse to run as root (PostgreSQL, Apache's framework), and
//! a root test run can damage the host. Both tools take the same flags and follow this
//! one rule.
//!
//! | tracer is | options | the command runs as |
//! | --- | --- | --- |
//! | root | `--user NAME` | NAME (uid, gid, supplementary groups; `HOME`, `USER`, `LOGNAME` from the password database) |
//! | root | `--as-root` | root, explicitly |
//! | root | neither, under `sudo` | `$SUDO_USER` (said on stderr) |
//! | root | neither, no `$SUDO_USER` | refused: exit 2, asking for `--user NAME` or `--as-root` |
//! | not root (capabilities) | neither | the invoking user |
//! | not root | `--user NAME` | NAME if the tracer may switch (CAP_SETUID, CAP_SETGID) |
//!
//! The working directory and the rest of the environment are the tracer's.

use crate::error::HostError;
use crate::user::User;

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// Switch to this user in the child before exec.
    User {
        user: User,
        /// Chosen from `$SUDO_USER` rather than `--user`.
        from_sudo: bool,
    },
    /// Stay root, as asked with `--as-root`.
    Root,
    /// Keep the tracer's own (unprivileged) identity.
    Inherit,
}

/// What the command line asked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub user: Option<String>,
    pub as_root: bool,
}

/// Why no identity could be chosen.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error(
        "refusing to run the command as root: pass --user NAME to run it as an unprivileged \
         user (e.g. --user nobody), or --as-root if it really must run as root"
    )]
    RootNeedsChoice,
    #[error("--as-root: this process is not root (uid {euid}); drop --as-root")]
    NotRoot { euid: u32 },
    #[error("--user {name}: no such user; pass an existing user name")]
    Lookup { name: String },
    #[error("$SUDO_USER is {name:?}, which is not a user here: pass --user NAME or --as-root")]
    SudoUser { name: String },
}

impl Identity {
    /// For the summary and logs.
    pub fn describe(&self) -> String {
        match self {
            Identity::User { user, from_sudo } => format!(
                "{} (uid {}){}",
                user.name.as_deref().unwrap_or("?"),
                user.uid,
                if *from_sudo { ", from $SUDO_USER" } else { "" }
            ),
            Identity::Root => "root (--as-root)".into(),
            Identity::Inherit => "the invoking user".into(),
        }
    }
}

/// Decides the identity of the command. `lookup` reads the password database
/// ([`User::lookup`] in real use).
pub fn decide(
    req: &Request,
    euid: u32,
    sudo_user: Option<&str>,
    lookup: impl Fn(&str) -> Result<User, HostError>,
) -> Result<Identity, IdentityError> {
    if let Some(name) = &req.user {
        // User::lookup's only error is "no such user".
        let user = lookup(name).map_err(|_| IdentityError::Lookup { name: name.clone() })?;
        if user.uid == euid && euid != 0 {
            return Ok(Identity::Inherit);
        }
        return Ok(Identity::User {
            user,
            from_sudo: false,
        });
    }
    if req.as_root {
        return if euid == 0 {
            Ok(Identity::Root)
        } else {
            Err(IdentityError::NotRoot { euid })
        };
    }
    if euid != 0 {
        return Ok(Identity::Inherit);
    }
    match sudo_user.filter(|n| !n.is_empty() && *n != "root") {
        Some(name) => {
            let user = lookup(name).map_err(|_| IdentityError::SudoUser {
                name: name.to_string(),
            })?;
            if user.uid == 0 {
                return Err(IdentityError::RootNeedsChoice);
            }
            Ok(Identity::User {
                user,
                from_sudo: true,
            })
        }
        None => Err(IdentityError::RootNeedsChoice),
    }
}

/// [`decide`] for this process: its effective uid, `$SUDO_USER` and the password
/// database; says on stderr (as `tool`) when the user came from `$SUDO_USER`.
pub fn for_this_process(req: &Request, tool: &str) -> Result<Identity, IdentityError> {
    let sudo_user = std::env::var("SUDO_USER").ok();
    let who = decide(req, euid(), sudo_user.as_deref(), User::lookup)?;
    if let Identity::User {
        user,
        from_sudo: true,
    } = &who
    {
        eprintln!(
            "{tool}: running the command as {} (from $SUDO_USER); pass --user NAME or \
             --as-root to choose",
            user.name.as_deref().unwrap_or("?")
        );
    }
    Ok(who)
}

impl Identity {
    /// Makes `cmd` run as this identity.
    pub fn apply(&self, cmd: &mut crate::Command) {
        if let Identity::User { user, .. } = self {
            cmd.user(user.clone());
        }
    }
}

/// The effective uid of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &str) -> Result<User, HostError> {
        let uid = match name {
            "nobody" => 65534,
            "alice" => 1000,
            "toor" => 0,
            _ => return Err(HostError::NoSuchUser { name: name.into() }),
        };
        Ok(User {
            uid,
            gid: uid,
            groups: vec![uid],
            name: Some(name.into()),
            home: None,
        })
    }

    fn check(user: Option<&str>, as_root: bool, euid: u32, sudo: Option<&str>, want: &str) {
        let req = Request {
            user: user.map(String::from),
            as_root,
        };
        let got = match decide(&req, euid, sudo, lookup) {
            Ok(Identity::User { user, from_sudo }) => format!(
                "user {}{}",
                user.name.unwrap(),
                if from_sudo { " (sudo)" } else { "" }
            ),
            Ok(Identity::Root) => "root".into(),
            Ok(Identity::Inherit) => "inherit".into(),
            Err(IdentityError::RootNeedsChoice) => "refuse".into(),
            Err(IdentityError::NotRoot { .. }) => "not root".into(),
            Err(IdentityError::Lookup { .. }) => "no such user".into(),
            Err(IdentityError::SudoUser { .. }) => "bad sudo user".into(),
        };
        assert_eq!(
            got, want,
            "user {user:?} as_root {as_root} euid {euid} sudo {sudo:?}"
        );
    }

    #[test]
    fn decisions() {
        check(Some("nobody"), false, 0, None, "user nobody");
        check(Some("nobody"), false, 0, Some("alice"), "user nobody");
        check(Some("ghost"), false, 0, None, "no such user");
        check(None, true, 0, Some("alice"), "root");
        check(None, true, 1000, None, "not root");
        check(None, false, 0, Some("alice"), "user alice (sudo)");
        check(None, false, 0, None, "refuse");
        check(None, false, 0, Some("root"), "refuse");
        check(None, false, 0, Some(""), "refuse");
        check(None, false, 0, Some("toor"), "refuse");
        check(None, false, 0, Some("ghost"), "bad sudo user");
        check(None, false, 1000, None, "inherit");
        check(Some("alice"), false, 1000, None, "inherit");
        check(Some("nobody"), false, 1000, None, "user nobody");
    }

    #[test]
    fn the_refusal_says_what_to_do() {
        let msg = IdentityError::RootNeedsChoice.to_string();
        assert!(
            msg.contains("--user NAME") && msg.contains("--as-root"),
            "{msg}"
        );
    }
}
