//! Following a lock from the threads waiting for it to the thread holding it (JVM thread
//! dumps name both, [`crate::window::LockSample`]): a waiter's sample shows where the
//! trouble is felt, the holder's stack where it is made.

use rustc_hash::FxHashMap;

use super::Resolved;
use crate::signature::Compiled;
use crate::symbolize::Symbolizer;
use crate::window::Window;

/// A sample, by (pid, tid, ts): dump samples are one per thread and dump.
pub(super) type SampleKey = (u32, u32, u64);

/// For each sample of a thread that waited for a lock another thread held at the same
/// dump, the holder's function to credit instead: the frame that entered the lock when the
/// dump says (a monitor); else the function where the waiter asks for the lock, when the
/// holder's stack has it too (it took the lock on the same path and is still inside);
/// else the holder's innermost application function.
pub(super) fn holders(
    w: &Window,
    resolved: &[Resolved<'_>],
    db: &Compiled,
    sym: &mut Symbolizer<'_>,
) -> FxHashMap<SampleKey, u32> {
    let mut out = FxHashMap::default();
    if w.locks.is_empty() {
        return out;
    }
    // (pid, ts, lock) -> (holder tid, frame that entered it)
    let mut held: FxHashMap<(u32, u64, u64), (u32, Option<u32>)> = FxHashMap::default();
    for l in &w.locks {
        for &(lock, frame) in &l.holds {
            held.insert((l.pid, l.ts, lock), (l.tid, frame));
        }
    }
    let by_key: FxHashMap<SampleKey, &Resolved<'_>> = resolved
        .iter()
        .map(|r| ((r.s.pid, r.s.tid, r.s.ts), r))
        .collect();
    for l in &w.locks {
        let Some(lock) = l.waits else { continue };
        let Some(&(holder, frame)) = held.get(&(l.pid, l.ts, lock)).filter(|h| h.0 != l.tid) else {
            continue;
        };
        let (Some(waiter), Some(h)) = (
            by_key.get(&(l.pid, l.tid, l.ts)),
            by_key.get(&(l.pid, holder, l.ts)),
        ) else {
            continue;
        };
        let entered = frame.and_then(|i| {
            h.s.frames
                .iter()
                .skip(i as usize)
                .filter_map(|loc| sym.frame(l.pid, &loc.path, loc.offset))
                .find(|&f| db.funcs[f as usize].class != sigdb::Class::Outside)
        });
        let same_path = waiter.funcs.first().filter(|f| h.funcs.contains(f));
        if let Some(f) = entered.or(same_path.copied()).or(h.funcs.first().copied()) {
            out.insert((l.pid, l.tid, l.ts), f);
        }
    }
    out
}
