//! The suite a backend's integration test runs: [`run_suite`] (or the
//! [`conformance_suite!`](crate::conformance_suite) macro, one `#[test]`
//! per property) replays the regression corpus, then runs every property
//! on generated cases and prints what was skipped and why.
//!
//! - Cases per property: 2,000 by default, `XPF_CONFORMANCE_CASES`
//!   overrides.
//! - A failing case is shrunk by proptest and printed as a corpus file
//!   (the scenario as TOML, the rendered config as a comment); with
//!   `XPF_CONFORMANCE_SAVE=1` it is also written to `corpus/`, and every
//!   later run replays it first.
//! - Configs a harness refuses as unsupported and operations it reports
//!   unsupported are skipped per capability and listed, never silently.

/// Writes a line of the suite's report straight to the process's stderr.
/// `println!` output of a passing test is swallowed by the test harness;
/// the unsupported-capability list and the case counts must show in every
/// CI log, so the report bypasses that capture.
macro_rules! report {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

use crate::generate::{Scenario, Variant, scenario};
use crate::harness::Harness;
use crate::run::{Failure, Skipped, run_default_deny, run_equivalence, run_replies_pass};
use proptest::test_runner::{Config as PtConfig, TestCaseError, TestError, TestRunner};
use std::path::PathBuf;

/// The properties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Property {
    /// Model equivalence (verdict, bytes, sessions, counters, events,
    /// deltas) plus the per-step invariants: NAT mapping uniqueness, apply
    /// atomicity, companion-delete completeness, reconcile exactness,
    /// counters adding up.
    ModelEquivalence,
    /// No policy: nothing is forwarded, no session is created.
    DefaultDeny,
    /// Replies of permitted flows pass back to the client.
    RepliesPass,
}

impl Property {
    /// Every property.
    pub const ALL: [Property; 3] = [Self::ModelEquivalence, Self::DefaultDeny, Self::RepliesPass];
}

/// Cases per property (`XPF_CONFORMANCE_CASES`, default 2,000).
pub fn cases() -> u32 {
    std::env::var("XPF_CONFORMANCE_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// The corpus directory of this crate.
pub fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// A scenario as a corpus file: the rendered config as a comment, then the
/// scenario itself.
pub fn to_corpus(s: &Scenario) -> String {
    let mut out = String::from(
        "# xpf-conformance regression case (model equivalence).\n# Rendered base config:\n",
    );
    for line in s.net.config_toml(Variant::Base).lines() {
        out.push_str("#   ");
        out.push_str(line);
        out.push('\n');
    }
    out.push_str(&toml::to_string(s).unwrap_or_else(|e| format!("# cannot serialise: {e}\n")));
    out
}

/// Parses a corpus file.
pub fn from_corpus(text: &str) -> Result<Scenario, toml::de::Error> {
    toml::from_str(text)
}

fn run_one<H: Harness>(
    p: Property,
    s: &Scenario,
    h: &mut H,
    skipped: &mut Skipped,
) -> Result<bool, Failure> {
    match p {
        Property::ModelEquivalence => run_equivalence(s, h, skipped),
        Property::DefaultDeny => run_default_deny(s, h, skipped),
        Property::RepliesPass => run_replies_pass(s, h, skipped),
    }
}

/// Replays every corpus file against the harness. Panics on a failure.
pub fn replay_corpus<H: Harness>(factory: &dyn Fn() -> H) -> usize {
    report_model_gaps(factory().name());
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "toml"));
    files.sort();
    let mut skipped = Skipped::new();
    for path in &files {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let s = from_corpus(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut h = factory();
        if let Err(f) = run_equivalence(&s, &mut h, &mut skipped) {
            panic!("corpus case {} fails on {}: {f}", path.display(), h.name());
        }
    }
    report("corpus", &skipped);
    files.len()
}

fn report(what: &str, skipped: &Skipped) {
    if skipped.is_empty() {
        report!("xpf-conformance {what}: nothing skipped");
    } else {
        report!("xpf-conformance {what}: skipped (unsupported):");
        for s in skipped {
            report!("  - {s}");
        }
    }
}

/// Runs one property on generated cases. Panics with the shrunk case on a
/// failure. Returns (cases run, cases skipped as unsupported).
pub fn run_property<H: Harness>(p: Property, factory: &dyn Fn() -> H) -> (u32, u32) {
    let config = PtConfig {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..PtConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let skipped = std::cell::RefCell::new(Skipped::new());
    let counts = std::cell::Cell::new((0u32, 0u32));
    let strategy = scenario(p != Property::DefaultDeny, 24);
    let result = runner.run(&strategy, |s| {
        let mut h = factory();
        let ran = run_one(p, &s, &mut h, &mut skipped.borrow_mut())
            .map_err(|f| TestCaseError::fail(f.to_string()))?;
        let (a, b) = counts.get();
        counts.set(if ran { (a + 1, b) } else { (a, b + 1) });
        Ok(())
    });
    report(&format!("{p:?}"), &skipped.borrow());
    let stats = crate::run::take_verdict_stats();
    if !stats.is_empty() {
        report!("xpf-conformance {p:?}: verdicts compared: {stats:?}");
    }
    match result {
        Ok(()) => {
            let (ran, skip) = counts.get();
            report!("xpf-conformance {p:?}: {ran} cases passed, {skip} skipped as unsupported");
            counts.get()
        }
        Err(TestError::Fail(reason, s)) => {
            let text = to_corpus(&s);
            let mut saved = String::new();
            if std::env::var_os("XPF_CONFORMANCE_SAVE").is_some() {
                let name = format!("case-{:016x}.toml", fnv(text.as_bytes()));
                let path = corpus_dir().join(name);
                if std::fs::create_dir_all(corpus_dir()).is_ok()
                    && std::fs::write(&path, &text).is_ok()
                {
                    saved = format!("\nsaved to {}", path.display());
                }
            }
            panic!("property {p:?} failed: {reason}\nminimal case (corpus file):\n{text}{saved}");
        }
        Err(e) => panic!("property {p:?}: {e}"),
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, x| {
        (h ^ u64::from(*x)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Reports what the suite does not compare yet because the reference model
/// does not define it (configs needing it are never generated), so a
/// passing run never reads as more coverage than it has.
pub fn report_model_gaps(backend: &str) {
    let gaps = crate::model::model_capabilities().unsupported_list();
    if gaps.is_empty() {
        report!("xpf-conformance ({backend}): the reference model covers every capability");
        return;
    }
    report!(
        "xpf-conformance ({backend}): not compared yet (the reference model does not cover them):"
    );
    for (cap, why) in gaps {
        report!("  - {}: {why}", cap.name());
    }
}

/// Replays the corpus, then runs every property.
pub fn run_suite<H: Harness>(factory: impl Fn() -> H) {
    replay_corpus(&factory);
    for p in Property::ALL {
        let (ran, skipped) = run_property(p, &factory);
        report!("xpf-conformance {p:?}: {ran} cases passed, {skipped} skipped");
    }
}

/// Declares one `#[test]` per property (and one for the corpus) running
/// against harnesses built by `$factory` (an expression of type
/// `Fn() -> impl Harness`).
#[macro_export]
macro_rules! conformance_suite {
    ($factory:expr) => {
        #[test]
        fn conformance_corpus_replays() {
            $crate::suite::replay_corpus(&$factory);
        }
        #[test]
        fn conformance_model_equivalence() {
            $crate::suite::run_property($crate::suite::Property::ModelEquivalence, &$factory);
        }
        #[test]
        fn conformance_default_deny() {
            $crate::suite::run_property($crate::suite::Property::DefaultDeny, &$factory);
        }
        #[test]
        fn conformance_replies_pass() {
            $crate::suite::run_property($crate::suite::Property::RepliesPass, &$factory);
        }
    };
}
