//! Planning over hand-made function tables.

use std::path::PathBuf;

use symbols::{EntryInsn, FunctionSym, FunctionTable, SymClass, SyscallReach};
use trace::{EntryClass, FunctionClass};

use super::*;

fn sym(name: &str, class: SymClass, entry: EntryInsn, vaddr: u64) -> FunctionSym {
    FunctionSym {
        name: name.to_string(),
        linkage_name: None,
        class,
        decl_file: Some("/src/app/x.c".into()),
        decl_line: Some(vaddr as u32),
        vaddr,
        size: 16,
        file_offset: vaddr - 0x1000,
        probe_offset: vaddr - 0x1000,
        entry,
        syscalls: SyscallReach::Unknown,
    }
}

fn table(path: &str, functions: Vec<FunctionSym>, has_dwarf: bool) -> FunctionTable {
    FunctionTable {
        path: PathBuf::from(path),
        build_id: Some("abcd".into()),
        pie: true,
        has_dwarf,
        functions,
    }
}

fn two_tables() -> Vec<FunctionTable> {
    use EntryInsn::*;
    use SymClass::*;
    vec![
        table(
            "/bin/server",
            vec![
                sym("_start", NoDwarf, Emulated, 0x1100),
                sym("main", App, Emulated, 0x1200),
                sym("kv_get", App, SingleStep, 0x1300),
                sym("kv_set", App, Emulated, 0x1400),
                sym("memcpy_helper", System, Emulated, 0x1500),
                sym("weird", App, Unknown, 0x1600),
            ],
            true,
        ),
        table(
            "/lib/module.so",
            vec![
                sym("module_init", App, Emulated, 0x2100),
                sym("module_work", App, Emulated, 0x2200),
            ],
            true,
        ),
    ]
}

fn names(plan: &Plan) -> Vec<(u32, String)> {
    plan.objects
        .iter()
        .flat_map(|o| o.functions.iter().map(|f| (f.id, f.name.clone())))
        .collect()
}

fn globs(p: &[&str]) -> Vec<Glob> {
    p.iter().map(|s| Glob::new(s).unwrap()).collect()
}

#[test]
fn application_functions_get_dense_global_ids() {
    let plan = plan_tables(&two_tables(), &PlanOptions::default()).unwrap();
    assert_eq!(
        names(&plan),
        [
            (0, "main".to_string()),
            (1, "kv_get".into()),
            (2, "kv_set".into()),
            (3, "module_init".into()),
            (4, "module_work".into()),
        ]
    );
    assert_eq!(plan.functions(), 5);
    assert_eq!(plan.single_step(), 1);
    let server = &plan.per_object[0];
    assert_eq!(
        (
            server.functions,
            server.in_class,
            server.unprobeable,
            server.probed
        ),
        (6, 4, 1, 3)
    );
    let f = plan.function(1).unwrap();
    assert_eq!(f.entry, EntryClass::SingleStep);
    assert_eq!(f.class, FunctionClass::App);
    assert_eq!((f.vaddr, f.file_offset, f.size), (0x1300, 0x300, 16));
    assert_eq!(f.probe_offset, None, "probed on its entry");
    assert_eq!(plan.function(4).unwrap().name, "module_work");
    assert!(plan.function(5).is_none());
    // The capture probes carry the same ids as cookies.
    let probes = plan.probes();
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[1].probes[1].func, 4);
    assert_eq!(probes[1].probes[1].file_offset, 0x1200);
    assert_eq!(plan.objects[0].build_id.as_deref(), Some("abcd"));
}

#[test]
fn a_moved_probe_is_planned_at_its_offset_and_not_single_stepped() {
    // kv_get's entry is single-stepped, but symbols found an emulated instruction (its
    // early-exit jcc, 3 bytes in) with the entry's SP and return address.
    let mut tables = two_tables();
    let kv_get = &mut tables[0].functions[2];
    kv_get.probe_offset = kv_get.file_offset + 3;
    kv_get.entry = EntryInsn::Emulated;
    let opts = PlanOptions {
        skip_single_step: true,
        ..PlanOptions::default()
    };
    let plan = plan_tables(&tables, &opts).unwrap();
    assert_eq!(plan.single_step(), 0);
    assert_eq!(plan.per_object[0].single_step_skipped, 0);
    let f = plan.function(1).unwrap();
    assert_eq!(f.name, "kv_get");
    assert_eq!(f.entry, EntryClass::Emulated);
    // The header keeps the entry (symbolization) and says where the probe is...
    assert_eq!((f.file_offset, f.probe_offset), (0x300, Some(0x303)));
    // ...and capture puts the uprobe there.
    let probes = plan.probes();
    assert_eq!(
        probes[0].probes[1],
        capture::Probe {
            file_offset: 0x303,
            func: 1
        }
    );
    assert_eq!(
        probes[0].probes[0].file_offset, 0x200,
        "main stays on its entry"
    );
}

#[test]
fn classes_patterns_and_single_step() {
    let opts = PlanOptions {
        classes: vec![SymClass::App, SymClass::NoDwarf],
        include: globs(&["kv_*", "_*", "module_*"]),
        exclude: globs(&["*_init"]),
        skip_single_step: true,
        ..PlanOptions::default()
    };
    let plan = plan_tables(&two_tables(), &opts).unwrap();
    assert_eq!(
        names(&plan),
        [
            (0, "_start".to_string()),
            (1, "kv_set".into()),
            (2, "module_work".into()),
        ]
    );
    assert_eq!(plan.per_object[0].single_step_skipped, 1);
    assert_eq!(plan.per_object[1].excluded_by_name, 1);
    assert_eq!(plan.single_step(), 0);
}

#[test]
fn linkage_names_match_too() {
    let mut t = two_tables();
    t[0].functions[3].linkage_name = Some("_ZN2kv3setE".into());
    let opts = PlanOptions {
        include: globs(&["_ZN2kv*"]),
        ..PlanOptions::default()
    };
    let plan = plan_tables(&t, &opts).unwrap();
    assert_eq!(names(&plan), [(0, "kv_set".to_string())]);
}

#[test]
fn nothing_to_probe_is_an_error_that_says_why() {
    let t = vec![table(
        "/bin/nodwarf",
        vec![sym("main", SymClass::NoDwarf, EntryInsn::Emulated, 0x1100)],
        false,
    )];
    let err = plan_tables(&t, &PlanOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing to probe"), "{err}");
    assert!(err.contains("/bin/nodwarf"), "{err}");
    assert!(err.contains("-g"), "{err}");
    assert!(err.contains("--include-class"), "{err}");
    let err = plan_tables(&[], &PlanOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no --bin"), "{err}");
}

#[test]
fn class_names_round_trip() {
    for c in [
        SymClass::App,
        SymClass::RustStd,
        SymClass::Crate,
        SymClass::System,
        SymClass::NoDwarf,
    ] {
        assert_eq!(parse_class(class_name(c)), Ok(c));
    }
    assert_eq!(parse_class("no-dwarf"), Ok(SymClass::NoDwarf));
    assert!(parse_class("libs").is_err());
}

#[test]
fn functions_that_cannot_reach_a_syscall_are_not_probed_and_named() {
    let mut tables = two_tables();
    tables[0].functions[3].syscalls = SyscallReach::Cannot; // kv_set
    tables[0].functions[2].syscalls = SyscallReach::Callee; // kv_get: probed
    let plan = plan_tables(&tables, &PlanOptions::default()).unwrap();
    // In the header (the trainer gives it a record with its code range)...
    let (id, _) = names(&plan)
        .into_iter()
        .find(|(_, n)| n == "kv_set")
        .expect("kv_set in the header");
    // ...without a probe.
    let probed: Vec<u32> = plan
        .probes()
        .iter()
        .flat_map(|o| o.probes.iter().map(|p| p.func))
        .collect();
    assert!(!probed.contains(&id), "{probed:?}");
    assert_eq!(probed.len(), plan.functions() - 1);
    assert_eq!((plan.pruned(), plan.probed()), (1, plan.functions() - 1));
    assert_eq!(plan.per_object[0].pruned, 1);
    assert_eq!(
        plan.pruned,
        [PrunedFunction {
            id,
            object: "/bin/server".into(),
            name: "kv_set".into(),
            linkage_name: None,
        }]
    );
    // --probe-all probes it, with the same ids.
    let all = plan_tables(
        &tables,
        &PlanOptions {
            probe_all: true,
            ..PlanOptions::default()
        },
    )
    .unwrap();
    assert_eq!(names(&all), names(&plan));
    assert_eq!(all.probed(), plan.probed() + 1);
    assert!(all.pruned.is_empty());
    let probed_all: usize = all.probes().iter().map(|o| o.probes.len()).sum();
    assert_eq!(probed_all, all.functions());
}

#[test]
fn a_binary_rebuilt_after_planning_is_refused() {
    if !testkit::require_tool("a_binary_rebuilt_after_planning_is_refused", "gcc") {
        return;
    }
    let built = testkit::fixture("attribution", "invocations", testkit::Flags::Fixture);
    let opts = PlanOptions {
        bins: vec![built.exe.clone()],
        probe_all: true,
        ..PlanOptions::default()
    };
    let plan = plan(&opts).unwrap();
    plan.check_unchanged().unwrap();
    // Touched to another time but the same bytes: still the same build.
    let file = std::fs::File::options()
        .write(true)
        .open(&built.exe)
        .unwrap();
    file.set_modified(std::time::SystemTime::UNIX_EPOCH)
        .unwrap();
    plan.check_unchanged().unwrap();
    // Rebuilt: other bytes (a build-id note is not needed to tell a size change).
    let mut bytes = std::fs::read(&built.exe).unwrap();
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&built.exe, &bytes).unwrap();
    let err = plan.check_unchanged().unwrap_err().to_string();
    assert!(
        err.contains("changed since its probes were planned"),
        "{err}"
    );
    assert!(err.contains("run the runner again"), "{err}");
}
