//! The JIT's perf map, `/tmp/perf-PID.map` (written by `jcmd PID Compiler.perfmap`, or
//! continuously with `-XX:+DumpPerfMapAtExit` at exit): one line per compiled method,
//! `START SIZE NAME` (hex address and size). Names JIT-compiled frames of sampled stacks,
//! which lie in anonymous memory no file describes.

use std::path::Path;

/// A perf map, sorted by start address.
#[derive(Clone, Debug, Default)]
pub struct PerfMap {
    entries: Vec<(u64, u64, String)>,
}

impl PerfMap {
    /// Parses a perf map; lines that are not `HEX HEX NAME` are skipped.
    pub fn parse(text: &str) -> PerfMap {
        let mut entries: Vec<(u64, u64, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.splitn(3, ' ');
                let start = u64::from_str_radix(it.next()?.trim_start_matches("0x"), 16).ok()?;
                let size = u64::from_str_radix(it.next()?.trim_start_matches("0x"), 16).ok()?;
                let name = it.next()?.trim();
                (size > 0 && !name.is_empty()).then(|| (start, size, name.to_string()))
            })
            .collect();
        entries.sort_by_key(|e| e.0);
        PerfMap { entries }
    }

    /// The map of process `pid`, if the JVM has written one (`None`: no file).
    pub fn of_process(pid: u32) -> Option<PerfMap> {
        let text = std::fs::read_to_string(Path::new(&format!("/tmp/perf-{pid}.map"))).ok()?;
        Some(PerfMap::parse(&text))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// (start, end, name), sorted by start.
    pub fn ranges(&self) -> Vec<(u64, u64, String)> {
        self.entries
            .iter()
            .map(|(a, n, name)| (*a, a + n, name.clone()))
            .collect()
    }

    /// The compiled method holding `addr`, as HotSpot names it (`Lorg/x/Srv;::handle`, or
    /// `org.x.Srv::handle(int)` depending on the JDK).
    pub fn lookup(&self, addr: u64) -> Option<&str> {
        let i = self.entries.partition_point(|e| e.0 <= addr);
        let (start, size, name) = self.entries.get(i.checked_sub(1)?)?;
        (addr < start + size).then_some(name.as_str())
    }
}

/// A HotSpot perf-map name as perfscope names methods: `org.x.Srv.handle`. HotSpot's own
/// `Compiler.perfmap` (JDK 17+) writes the external name, `void org.x.Srv.handle(int)`;
/// agents such as perf-map-agent write `Lorg/x/Srv;::handle` or `org.x.Srv::handle(int)`.
/// Stubs and runtime code (`Interpreter`, `StubRoutines (1)`...) give `None`.
pub fn method_name(perf_name: &str) -> Option<String> {
    let name = perf_name.strip_prefix("[jit] ").unwrap_or(perf_name).trim();
    let (class, method) = match name.split_once("::") {
        Some((class, method)) => (
            class
                .trim_start_matches('L')
                .trim_end_matches(';')
                .replace('/', "."),
            method.split('(').next()?.trim().to_string(),
        ),
        None => {
            // `RETURN_TYPE CLASS.METHOD(PARAMS)`: a method always has its parameter list
            let (head, _) = name.split_once('(')?;
            let qualified = head.split_whitespace().last()?;
            let (class, method) = qualified.rsplit_once('.')?;
            (class.to_string(), method.to_string())
        }
    };
    if class.is_empty() || method.is_empty() || class.contains(' ') || method.contains(' ') {
        return None;
    }
    Some(format!("{class}.{method}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_fall_inside_a_method_or_nowhere() {
        let m = PerfMap::parse(
            "7f0000001000 100 Lorg/x/Srv;::handle\n7f0000000100 20 Interpreter\nbad line\n",
        );
        assert_eq!(m.lookup(0x7f00_0000_1010), Some("Lorg/x/Srv;::handle"));
        assert_eq!(m.lookup(0x7f00_0000_1100), None);
        assert_eq!(m.lookup(0x7f00_0000_0110), Some("Interpreter"));
        assert_eq!(m.lookup(0x10), None);
        assert_eq!(
            method_name("Lorg/x/Srv;::handle").as_deref(),
            Some("org.x.Srv.handle")
        );
        assert_eq!(
            method_name("org.x.Srv$W::run(java.lang.String)").as_deref(),
            Some("org.x.Srv$W.run")
        );
        assert_eq!(method_name("Interpreter"), None);
    }

    #[test]
    fn hotspots_own_perf_map_names_methods() {
        // lines as `jcmd PID Compiler.perfmap` of OpenJDK 17 writes them
        let m = PerfMap::parse(
            "0x00007fb43cec71a0 0x0000000000000200 void java.lang.System.arraycopy(java.lang.Object, int, java.lang.Object, int, int)\n\
             0x00007fb43cec75a0 0x0000000000000208 java.lang.Object org.x.Srv$Conn.read(java.nio.ByteBuffer, long)\n\
             0x00007fb43cec8000 0x0000000000000100 StubRoutines (1)\n",
        );
        let name = m.lookup(0x7fb4_3cec_75b0).unwrap();
        assert_eq!(method_name(name).as_deref(), Some("org.x.Srv$Conn.read"));
        let name = m.lookup(0x7fb4_3cec_71a0).unwrap();
        assert_eq!(
            method_name(name).as_deref(),
            Some("java.lang.System.arraycopy")
        );
        assert_eq!(method_name(m.lookup(0x7fb4_3cec_8010).unwrap()), None);
        assert_eq!(
            method_name("int[] org.x.A.<init>()").as_deref(),
            Some("org.x.A.<init>")
        );
    }
}
