//! Users of the password database: who a command runs as.

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::error::HostError;

/// The identity to run the command as (privileges are dropped in the child, after the
/// release and before exec).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// For the `USER`/`LOGNAME` environment variables.
    pub name: Option<String>,
    /// For `HOME`.
    pub home: Option<PathBuf>,
}

impl User {
    /// Looks a user up in the password database (name, groups, home).
    pub fn lookup(name: &str) -> Result<User, HostError> {
        let not_found = || HostError::NoSuchUser {
            name: name.to_string(),
        };
        let cname = CString::new(name).map_err(|_| not_found())?;
        let mut buf = vec![0u8; 16 * 1024];
        // SAFETY: passwd is plain old data; getpwnam_r fills it with pointers into buf,
        // which outlives every use below.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: all pointers are valid for the sizes given.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc != 0 || result.is_null() {
            return Err(not_found());
        }
        let home = if pwd.pw_dir.is_null() {
            None
        } else {
            // SAFETY: a NUL-terminated string inside buf.
            let dir = unsafe { std::ffi::CStr::from_ptr(pwd.pw_dir) };
            Some(PathBuf::from(OsStr::from_bytes(dir.to_bytes())))
        };
        let mut groups = vec![0 as libc::gid_t; 256];
        let mut n = groups.len() as libc::c_int;
        // SAFETY: groups has room for n entries; getgrouplist updates n.
        let rc =
            unsafe { libc::getgrouplist(cname.as_ptr(), pwd.pw_gid, groups.as_mut_ptr(), &mut n) };
        if rc < 0 {
            groups.resize(usize::try_from(n).unwrap_or(0), 0);
            // SAFETY: as above, with the size getgrouplist asked for.
            unsafe {
                libc::getgrouplist(cname.as_ptr(), pwd.pw_gid, groups.as_mut_ptr(), &mut n);
            }
        }
        groups.truncate(usize::try_from(n).unwrap_or(0));
        Ok(User {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
            groups,
            name: Some(name.to_string()),
            home,
        })
    }
}
