//! The JVM's own threads, by the names HotSpot gives them (as `comm`, the first 15 bytes):
//! garbage collection, JIT compilers, the VM thread and its helpers. They run no
//! application code, and their activity (a GC cycle, a compilation burst) follows the
//! application's load rather than its code: an analysis keeps them apart so that they do
//! not drown the application's threads.

/// Name prefixes of HotSpot's runtime threads (`comm`, truncated to 15 bytes), for the
/// G1, Parallel, Serial, Z and Shenandoah collectors and both JIT compilers.
const RUNTIME: &[&str] = &[
    "VM Thread",
    "VM Periodic Tas",
    "GC Thread#",
    "G1 Main Marker",
    "G1 Conc#",
    "G1 Refine#",
    "G1 Service",
    "G1 Young RemSet",
    "ParGC Thread#",
    "ZWorker#",
    "ZDriver",
    "ZDirector",
    "ZStat",
    "ZUnmapper",
    "ZRuntimeWorker",
    "Shenandoah",
    "C1 CompilerThre",
    "C2 CompilerThre",
    "Sweeper thread",
    "Signal Dispatch",
    "Service Thread",
    "Monitor Deflati",
    "Notification Th",
    "Attach Listener",
    "Reference Handl",
    "Finalizer",
    "Common-Cleaner",
    "JFR ",
    "perfscope-count",
];

/// Whether a thread named `comm` is one of the JVM's own.
pub fn is_runtime(comm: &str) -> bool {
    RUNTIME.iter().any(|p| comm.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotspot_threads_are_named() {
        for t in [
            "GC Thread#0",
            "C2 CompilerThre",
            "VM Thread",
            "G1 Refine#0",
            "Finalizer",
        ] {
            assert!(is_runtime(t), "{t}");
        }
        for t in [
            "main",
            "java",
            "Native-Transpor",
            "DataXceiver for",
            "ReadStage-1",
        ] {
            assert!(!is_runtime(t), "{t}");
        }
        assert!(is_runtime("perfscope-count"), "the agent's own threads");
    }
}
