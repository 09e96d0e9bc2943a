//! The alarm socket protocol (version 1), between `perfscope alarm` (or any program) and
//! a running `perfscope watch`. One connection per alarm:
//!
//! 1. the client sends one JSON line, a [`Request`]:
//!    `{"cmd":"alarm","label":...,"wait":bool,"format":"text"|"json"}`;
//! 2. the watcher answers one [`Reply`] line: `{"status":"accepted","alarm":N}`, or
//!    `{"status":"error","message":...}`;
//! 3. with `wait`, once the analysis is done: `{"status":"done","exit_code":C,"bytes":B}`
//!    followed by the B bytes of the report.

use serde::{Deserialize, Serialize};

/// The longest request line a watcher reads.
pub const MAX_REQUEST: usize = 4096;

/// A request on the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub cmd: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub wait: bool,
    #[serde(default)]
    pub format: Option<String>,
}

/// A watcher's answer line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<usize>,
}

impl Reply {
    pub fn accepted(alarm: u64) -> Reply {
        Reply {
            status: "accepted".into(),
            alarm: Some(alarm),
            ..Reply::default()
        }
    }

    pub fn error(message: &str) -> Reply {
        Reply {
            status: "error".into(),
            message: Some(message.into()),
            ..Reply::default()
        }
    }

    pub fn done(exit_code: i32, bytes: usize) -> Reply {
        Reply {
            status: "done".into(),
            exit_code: Some(exit_code),
            bytes: Some(bytes),
            ..Reply::default()
        }
    }

    /// The reply as one line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"status":"error","message":"unserializable reply"}"#.to_string()
        });
        line.push('\n');
        line
    }
}

/// Parses a request line (without its newline); the error says what to send instead.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    let r: Request = serde_json::from_slice(line)
        .map_err(|e| format!("bad request ({e}); send {{\"cmd\":\"alarm\"}}"))?;
    if r.cmd != "alarm" {
        return Err(format!(
            "unknown command {:?}; the watcher knows \"alarm\"",
            r.cmd
        ));
    }
    if let Some(f) = r.format.as_deref()
        && f != "text"
        && f != "json"
    {
        return Err(format!("unknown format {f:?}; use \"text\" or \"json\""));
    }
    Ok(r)
}

/// Parses a reply line; `None` when it is not one.
pub fn parse_reply(line: &str) -> Option<Reply> {
    serde_json::from_str(line.trim_end()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_say_what_to_send() {
        let r = parse_request(br#"{"cmd":"alarm","label":"p99","wait":true}"#).unwrap();
        assert_eq!(r.label.as_deref(), Some("p99"));
        assert!(r.wait);
        assert!(parse_request(br#"{"cmd":"alarm"}"#).is_ok());
        let e = parse_request(b"hello").unwrap_err();
        assert!(e.contains("cmd"), "{e}");
        assert!(parse_request(br#"{"cmd":"reboot"}"#).is_err());
        assert!(parse_request(br#"{"cmd":"alarm","format":"xml"}"#).is_err());
        assert!(parse_request(&vec![b' '; MAX_REQUEST + 1]).is_err());
    }

    #[test]
    fn replies_round_trip() {
        for r in [Reply::accepted(3), Reply::error("no"), Reply::done(1, 42)] {
            assert_eq!(parse_reply(&r.to_line()), Some(r));
        }
        assert_eq!(parse_reply("garbage"), None);
    }
}
