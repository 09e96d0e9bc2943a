//! What BPF objects the kernel holds now, by id: perfscope's own programs (by name), the
//! links attached to them and the maps they use. Leak checks count these before and after
//! a tool ends, however it ended (`bpftool` is not needed).

use std::collections::BTreeSet;

/// The names of every program perfscope loads (`perfscope.bpf.c`, `stacks.bpf.c`), as
/// the kernel keeps them (at most 15 bytes).
pub const PROGRAMS: [&str; 11] = [
    "on_entry",
    "on_sys_enter",
    "on_sys_exit",
    "on_fork",
    "on_exec",
    "on_exit",
    "on_rename",
    "dump_pending",
    "on_cpu_sample",
    "stack_at_syscal",
    "dump_blocked",
];

/// perfscope's BPF objects loaded in the kernel at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Census {
    /// Programs named like ours, by id.
    pub programs: BTreeSet<u32>,
    /// Links whose program is one of `programs`.
    pub links: BTreeSet<u32>,
    /// Maps used by `programs`.
    pub maps: BTreeSet<u32>,
}

impl Census {
    /// Reads the kernel's lists now (needs root; empty without the privilege).
    pub fn now() -> Census {
        let mut c = Census::default();
        let query = libbpf_rs::query::ProgInfoQueryOptions::default().include_map_ids(true);
        for p in libbpf_rs::query::ProgInfoIter::with_query_opts(query) {
            let name = p.name.to_string_lossy();
            if PROGRAMS.contains(&name.as_ref()) {
                c.programs.insert(p.id);
                c.maps.extend(p.map_ids.iter().copied());
            }
        }
        for l in libbpf_rs::query::LinkInfoIter::default() {
            if c.programs.contains(&l.prog_id) {
                c.links.insert(l.id);
            }
        }
        c
    }

    /// What this census holds that `before` did not.
    pub fn since(&self, before: &Census) -> Census {
        Census {
            programs: self
                .programs
                .difference(&before.programs)
                .copied()
                .collect(),
            links: self.links.difference(&before.links).copied().collect(),
            maps: self.maps.difference(&before.maps).copied().collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.programs.is_empty() && self.links.is_empty() && self.maps.is_empty()
    }

    /// `3 programs, 4 links, 5 maps`.
    pub fn describe(&self) -> String {
        format!(
            "{} programs {:?}, {} links {:?}, {} maps {:?}",
            self.programs.len(),
            self.programs,
            self.links.len(),
            self.links,
            self.maps.len(),
            self.maps
        )
    }
}

/// Whether a BPF link with this id exists now.
pub fn link_exists(id: u32) -> bool {
    libbpf_rs::query::LinkInfoIter::default().any(|l| l.id == id)
}

/// Whether a BPF program with this id exists now.
pub fn program_exists(id: u32) -> bool {
    libbpf_rs::query::ProgInfoIter::default().any(|p| p.id == id)
}

/// The type of link `id` (`uprobe_multi`, `tracing`, `iter`...), if it exists.
pub fn link_kind(id: u32) -> Option<String> {
    use libbpf_rs::query::LinkTypeInfo as T;
    libbpf_rs::query::LinkInfoIter::default()
        .find(|l| l.id == id)
        .map(|l| {
            match l.info {
                T::UprobeMulti(_) => "uprobe_multi",
                T::Tracing(_) => "tracing",
                T::Iter(_) => "iter",
                T::PerfEvent(_) => "perf_event",
                T::RawTracepoint(_) => "raw_tracepoint",
                _ => "other",
            }
            .to_string()
        })
}
