//! What every perfscope binary does the same way at its edges: logging to stderr
//! (colours only on a terminal) and one error line with each cause once.

use std::io::IsTerminal;

/// Logs to stderr at `warn` (`-v` info, `-vv` debug; `RUST_LOG` overrides), without
/// colour codes when stderr is not a terminal (a log file, a CI log).
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// An error and its causes, each once: library errors often quote their source in their
/// own message, and printing the chain as well would say it two or three times.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        cause = c.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct E(&'static str, Option<Box<E>>);
    impl std::fmt::Display for E {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for E {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn each_cause_is_said_once() {
        let inner = E("No such file", None);
        let mid = E("cannot open t.trace: No such file", Some(Box::new(inner)));
        let top = E("cannot read trace t.trace", Some(Box::new(mid)));
        assert_eq!(
            error_text(&top),
            "cannot read trace t.trace: cannot open t.trace: No such file"
        );
    }
}
