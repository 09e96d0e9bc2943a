//! Unit tests of the noise model: evidence, significance, the cap, closed selection, the
//! outside pseudo-function, and which databases can be compared.

use super::*;

/// An episode over `n` invocations with per-invocation counts `counts` (the rest 0).
fn ep_counts(events: &str, n: u64, counts: &[u64]) -> Episode {
    let occ: u64 = counts.iter().sum();
    Episode {
        events: events.split('>').map(str::to_string).collect(),
        occurrences: occ,
        invocations: counts.iter().filter(|&&c| c > 0).count() as u64,
        support: round6(occ as f64 / n as f64),
        weight: 1.0,
        sumsq: Some(counts.iter().map(|c| c * c).sum()),
    }
}

/// A record of `eps`, its profile the syscalls they hold.
fn with(name: &str, n: u64, eps: Vec<Episode>) -> Record {
    let mut r = rec_n(name, None, n, &[]);
    for e in &eps {
        for ev in &e.events {
            *r.profile.entry(ev.clone()).or_insert(0) += e.occurrences;
        }
    }
    r.episodes = eps;
    r
}

fn kinds(d: &Diff) -> Vec<(String, ChangeKind)> {
    d.changed.iter().map(|c| (c.name.clone(), c.kind)).collect()
}

#[test]
fn one_invocation_on_each_side_is_low_evidence_not_a_change() {
    // a start-up function run once: every subsequence of its syscalls is "frequent", and
    // the two trainings keep different ones
    let a = db(vec![with(
        "plugins_load",
        1,
        vec![ep_counts("openat>mmap", 1, &[3])],
    )]);
    let b = db(vec![with(
        "plugins_load",
        1,
        vec![ep_counts("openat>read", 1, &[2])],
    )]);
    for d in [diff(&a, &b), diff(&b, &a)] {
        assert_eq!(
            kinds(&d),
            [("plugins_load".to_string(), ChangeKind::LowEvidence)]
        );
        // the differences are shown, all of them, and nothing counts
        assert_eq!(d.changed[0].episodes_added.len(), 1);
        assert_eq!(d.changed[0].episodes_removed.len(), 1);
        assert!(!d.differs());
        assert_eq!(d.changed[0].evidence.old, 1);
        assert!(!d.changed[0].evidence.old_enough);
    }
}

#[test]
fn a_real_shift_over_200_invocations_is_a_change() {
    // every invocation did one write, now two; and an fsync appears in each
    let a = db(vec![with(
        "handle",
        200,
        vec![ep_counts("write", 200, &[1; 200])],
    )]);
    let b = db(vec![with(
        "handle",
        200,
        vec![
            ep_counts("write", 200, &[2; 200]),
            ep_counts("fsync", 200, &[1; 200]),
        ],
    )]);
    let d = diff(&a, &b);
    assert_eq!(kinds(&d), [("handle".to_string(), ChangeKind::Changed)]);
    assert!(d.differs());
    let c = &d.changed[0];
    assert_eq!(events(&c.episodes_added), ["fsync"]);
    assert_eq!(c.support.len(), 1);
    assert!(
        c.support[0].old_se > 0.0 && c.support[0].old_se < 0.01,
        "{c:?}"
    );
}

#[test]
fn a_support_change_within_the_spread_of_the_counts_is_noise() {
    // a timer handler: most invocations do nothing, some do a lot; 2.0 → 2.8 per
    // invocation passes both floors, but is within 4 standard errors
    let spread = |hits: u64| {
        let mut v = vec![0u64; 200];
        for c in v.iter_mut().take(hits as usize) {
            *c = 40;
        }
        v
    };
    let a = db(vec![with(
        "timer",
        200,
        vec![ep_counts("read", 200, &spread(10))],
    )]);
    let b = db(vec![with(
        "timer",
        200,
        vec![ep_counts("read", 200, &spread(14))],
    )]);
    assert!(DiffOptions::default().support_changed(2.0, 2.8));
    let d = diff(&a, &b);
    assert!(d.changed.is_empty(), "{d:?}");
    // the same means with every invocation alike are a change
    let even = |k: u64| {
        let v: Vec<u64> = (0..200).map(|i| u64::from(i < k)).collect();
        v
    };
    let a = db(vec![with(
        "timer",
        200,
        vec![ep_counts("read", 200, &even(100))],
    )]);
    let b = db(vec![with(
        "timer",
        200,
        vec![ep_counts("read", 200, &even(160))],
    )]);
    assert!(diff(&a, &b).differs());
}

#[test]
fn the_noise_model_is_symmetric() {
    let a = db(vec![
        with("f", 200, vec![ep_counts("write", 200, &[1; 200])]),
        with("g", 2, vec![ep_counts("read", 2, &[1, 1])]),
        with("h", 50, vec![ep_counts("stat", 50, &[1; 50])]),
    ]);
    let b = db(vec![
        with(
            "f",
            200,
            vec![
                ep_counts("write", 200, &[2; 200]),
                ep_counts("fsync", 200, &[1; 200]),
            ],
        ),
        with("g", 100, vec![ep_counts("read>write", 100, &[1; 100])]),
        with("h", 3, vec![ep_counts("stat>close", 3, &[1; 3])]),
    ]);
    let (ab, ba) = (diff(&a, &b), diff(&b, &a));
    assert_eq!(
        kinds(&ab),
        [
            ("f".to_string(), ChangeKind::Changed),
            ("g".to_string(), ChangeKind::NewlyCovered),
            ("h".to_string(), ChangeKind::NoLongerCovered),
        ]
    );
    assert_eq!(
        kinds(&ba),
        [
            ("f".to_string(), ChangeKind::Changed),
            ("g".to_string(), ChangeKind::NoLongerCovered),
            ("h".to_string(), ChangeKind::NewlyCovered),
        ]
    );
    assert_eq!(ab.differs(), ba.differs());
    assert_eq!(ab.counted_changes().count(), 1);
    assert_eq!(ba.counted_changes().count(), 1);
    for (x, y) in ab.changed.iter().zip(&ba.changed) {
        assert_eq!(events(&x.episodes_added), events(&y.episodes_removed));
        assert_eq!(x.support.len(), y.support.len());
    }
}

#[test]
fn an_episode_the_other_side_may_have_cut_does_not_count() {
    // the header's cap is 8: the old side keeps 8 episodes of weight 2
    let full: Vec<Episode> = (0..8)
        .map(|i| {
            let mut e = ep_counts(&format!("s{i}"), 100, &[1; 100]);
            e.weight = 2.0;
            e
        })
        .collect();
    let mut weak = ep_counts("read", 100, &[1; 100]);
    weak.weight = 1.0;
    // 30 other functions with signatures of their own, on both sides
    let others = |extra: Vec<Record>| -> Vec<Record> {
        let mut v: Vec<Record> = (0..30)
            .map(|i| {
                with(
                    &format!("g{i}"),
                    100,
                    vec![ep_counts(&format!("x{i}"), 100, &[1; 100])],
                )
            })
            .collect();
        v.extend(extra);
        v
    };
    // the old side made its reads too (its profile says), the cap cut their episode
    let mut old = with("f", 100, full.clone());
    old.profile.insert("read".into(), 100);
    let a = db(others(vec![old.clone()]));
    let mut eps = full.clone();
    eps.push(weak.clone());
    let b = db(others(vec![with("f", 100, eps)]));
    assert!(diff(&a, &b).changed.is_empty());
    // ranked above the weakest kept one, it would have been kept: a change
    let mut strong = weak;
    strong.weight = 3.0;
    let mut eps = full;
    eps.insert(0, strong);
    let b = db(others(vec![with("f", 100, eps)]));
    let d = diff(&a, &b);
    assert!(d.differs());
    assert_eq!(events(&d.changed[0].episodes_added), ["read"]);
    // unless six other functions of the old side made reads too: had they all mined the
    // episode, its weight there was ln(37 / 7) = 1.67, below the weakest kept (2.0), so
    // the cap may have cut it
    let mut extra: Vec<Record> = (0..6)
        .map(|i| {
            let mut r = with(
                &format!("h{i}"),
                100,
                vec![ep_counts("write", 100, &[1; 100])],
            );
            r.profile.insert("read".into(), 100);
            r
        })
        .collect();
    extra.push(old);
    let a = db(others(extra));
    assert!(
        !diff(&a, &b).changed.iter().any(|c| c.name == "f"),
        "{:?}",
        kinds(&diff(&a, &b))
    );
}

#[test]
fn a_sub_episode_dropped_by_closed_selection_is_no_change() {
    // old keeps only read>write (read has the same counts); new keeps read too, its count
    // one higher: the same behaviour
    let a = db(vec![with(
        "f",
        100,
        vec![ep_counts("read>write", 100, &[1; 100])],
    )]);
    let mut more = vec![1u64; 100];
    more[0] = 2;
    let b = db(vec![with(
        "f",
        100,
        vec![
            ep_counts("read>write", 100, &[1; 100]),
            ep_counts("read", 100, &more),
        ],
    )]);
    assert!(!diff(&a, &b).differs());
    assert!(!diff(&b, &a).differs());
}

#[test]
fn the_outside_pseudo_function_counts_only_when_asked() {
    let mut o1 = with("[outside]", 300, vec![ep_counts("mmap", 300, &[1; 300])]);
    o1.class = Class::Outside;
    let mut o2 = with("[outside]", 300, vec![ep_counts("mmap", 300, &[3; 300])]);
    o2.class = Class::Outside;
    let (a, b) = (db(vec![o1]), db(vec![o2]));
    let d = diff(&a, &b);
    assert_eq!(kinds(&d), [("[outside]".to_string(), ChangeKind::Outside)]);
    assert!(!d.differs());
    let asked = DiffOptions {
        outside: true,
        ..DiffOptions::default()
    };
    assert!(diff_with(&a, &b, &asked).differs());
}

#[test]
fn a_version_2_episode_without_sumsq_gets_a_standard_error_from_its_mean() {
    let mut e = ep_counts("read", 100, &[2; 100]);
    assert!(e.standard_error(100) < 0.011, "{}", e.standard_error(100));
    e.sumsq = None;
    // as for rare independent events: variance = mean = 2
    assert!((e.standard_error(100) - (2.0f64 / 100.0).sqrt()).abs() < 1e-9);
    // one invocation never claims certainty
    assert!(ep_counts("read", 1, &[5]).standard_error(1) >= 1.0);
}

#[test]
fn two_targets_or_two_ways_of_mining_cannot_be_compared() {
    let a = db(vec![rec("f", None, &[("read", 1.0)])]);
    assert_eq!(comparable(&a, &a.clone()), Ok(()));
    let mut b = a.clone();
    b.header.target.name = "other".into();
    let e = comparable(&a, &b).unwrap_err().to_string();
    assert!(e.contains("\"t\"") && e.contains("\"other\""), "{e}");
    let mut c = a.clone();
    c.header.training.params.min_support = 0.6;
    c.header.training.params.callers = 2;
    let e = comparable(&a, &c).unwrap_err().to_string();
    assert!(
        e.contains("callers 0 vs 2") && e.contains("min_support 0.5 vs 0.6"),
        "{e}"
    );
    // what only decides what a diff trusts may differ
    let mut d = a.clone();
    d.header.training.params.min_evidence = 20;
    d.header.training.params.max_candidates = 5;
    assert_eq!(comparable(&a, &d), Ok(()));
}

#[test]
fn a_change_of_heap_or_lock_calls_alone_counts_only_when_asked() {
    // a cleanup function whose frees trim the heap more often, a function whose lock is
    // contended more: the process's state, not their code
    let a = db(vec![
        with("cleanup", 50, vec![ep_counts("brk", 50, &[3; 50])]),
        with("reassign", 100, vec![ep_counts("futex", 100, &[1; 100])]),
    ]);
    let b = db(vec![
        with("cleanup", 50, vec![ep_counts("brk", 50, &[5; 50])]),
        with("reassign", 100, vec![ep_counts("futex", 100, &[2; 100])]),
    ]);
    let d = diff(&a, &b);
    assert_eq!(
        kinds(&d),
        [
            ("cleanup".to_string(), ChangeKind::ProcessState),
            ("reassign".to_string(), ChangeKind::ProcessState),
        ]
    );
    assert!(!d.differs());
    let asked = DiffOptions {
        process_state: true,
        ..DiffOptions::default()
    };
    assert_eq!(diff_with(&a, &b, &asked).counted_changes().count(), 2);
    // with another system call among the changes, the function changed
    let c = db(vec![with(
        "cleanup",
        50,
        vec![
            ep_counts("brk", 50, &[5; 50]),
            ep_counts("unlink", 50, &[1; 50]),
        ],
    )]);
    assert_eq!(kinds(&diff(&a, &c))[0].1, ChangeKind::Changed);
    // a first futex wait in a function that never made one is a change of its code
    let d = db(vec![with(
        "cleanup",
        50,
        vec![
            ep_counts("brk", 50, &[3; 50]),
            ep_counts("futex", 50, &[1; 50]),
        ],
    )]);
    assert_eq!(kinds(&diff(&a, &d))[0].1, ChangeKind::Changed);
}

#[test]
fn an_episode_of_a_syscall_the_other_side_never_made_was_not_cut() {
    // the other side keeps as many episodes as the cap allows, all stronger; but it never
    // made a rt_sigaction at all: the episode is gone, not cut
    let full: Vec<Episode> = (0..8)
        .map(|i| {
            let mut e = ep_counts(&format!("s{i}"), 100, &[1; 100]);
            e.weight = 3.0;
            e
        })
        .collect();
    let mut sig = ep_counts("rt_sigaction", 100, &[2; 100]);
    sig.weight = 1.0;
    let mut old = full.clone();
    old.push(sig);
    let a = db(vec![with("spawn", 100, old)]);
    let b = db(vec![with("spawn", 100, full.clone())]);
    let d = diff(&a, &b);
    assert!(d.differs());
    assert_eq!(events(&d.changed[0].episodes_removed), ["rt_sigaction"]);
    // had the other side made it, the cap may have cut it
    let mut r = with("spawn", 100, full);
    r.profile.insert("rt_sigaction".into(), 150);
    assert!(!diff(&a, &db(vec![r])).differs());
}
