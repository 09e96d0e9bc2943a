//! Fuzzes the JSON Lines report reader: `report::read_json_lines` on UTF-8 inputs must
//! never panic, and what it accepts must read back the same once written again (one
//! record per line, the `report` record first), as `perfscope analyze --format json`
//! writes it.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((head, rest)) = report::read_json_lines(text) else {
        return;
    };
    let mut out = String::new();
    let head_record = report::v2::Record::Report(head.clone());
    for r in std::iter::once(&head_record).chain(&rest) {
        out.push_str(&serde_json::to_string(r).expect("a report record serializes"));
        out.push('\n');
    }
    match report::read_json_lines(&out) {
        Ok((h, r)) => {
            assert_eq!(h, head, "the report record changed in a round trip");
            assert_eq!(r, rest, "the records changed in a round trip");
        }
        Err(e) => panic!("a report as written does not read back: {e}\n{out}"),
    }
});
