//! Fuzzes the alarm socket protocol: `parse_request` on the raw bytes of a line and
//! `parse_reply` on their lossy UTF-8 must never panic; a request the watcher accepts,
//! written back as JSON, must parse to the same request, and a reply must survive
//! `Reply::to_line`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use report::alarm;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = alarm::parse_request(data) {
        let json = serde_json::to_vec(&req).expect("a request serializes");
        match alarm::parse_request(&json) {
            Ok(again) => assert_eq!(again, req, "the request changed in a round trip"),
            // a request near MAX_REQUEST can grow when written back (escapes, defaults)
            Err(_) if json.len() > alarm::MAX_REQUEST => {}
            Err(e) => panic!(
                "an accepted request does not parse once written back: {e}\n{}",
                String::from_utf8_lossy(&json)
            ),
        }
    }
    let text = String::from_utf8_lossy(data);
    if let Some(reply) = alarm::parse_reply(&text) {
        let line = reply.to_line();
        assert_eq!(
            alarm::parse_reply(&line).as_ref(),
            Some(&reply),
            "the reply changed in a round trip: {line}"
        );
    }
});
