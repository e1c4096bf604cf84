//! Cleanup on every exit path: the Ctrl-C / SIGTERM handler, the registry of
//! namespaces this process created (so the handler can remove them if the
//! main thread does not unwind in time), and the sweep of stale namespaces
//! left by a run that was killed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{BenchError, Result};
use crate::sys;

/// Prefix of every namespace the benchmark creates: `xpfb<pid>-<role>`.
pub const NS_PREFIX: &str = "xpfb";
/// Prefix of every link the benchmark creates: `xb<pid><role>`.
pub const LINK_PREFIX: &str = "xb";

static STOP: AtomicBool = AtomicBool::new(false);
static LIVE_NAMESPACES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether a stop was requested (signal received).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::Relaxed)
}

/// Returns [`BenchError::Interrupted`] once a stop was requested.
pub fn check_stop() -> Result<()> {
    if stop_requested() {
        Err(BenchError::Interrupted)
    } else {
        Ok(())
    }
}

/// Registers a namespace created by this process.
pub fn register(ns: &str) {
    if let Ok(mut v) = LIVE_NAMESPACES.lock() {
        v.push(ns.to_owned());
    }
}

/// Forgets a namespace that was removed.
pub fn unregister(ns: &str) {
    if let Ok(mut v) = LIVE_NAMESPACES.lock() {
        v.retain(|n| n != ns);
    }
}

fn delete_registered() {
    let names = LIVE_NAMESPACES
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    for ns in names {
        let _ = sys::ip(&["netns", "del", &ns]);
    }
}

/// Installs the Ctrl-C / SIGTERM / SIGHUP handler: the first signal asks the
/// run to stop (the main thread unwinds and its Drop guards remove the
/// topology); if it has not finished 10 s later, or on a second signal, the
/// handler removes every registered namespace itself and exits with 130.
pub fn install_signal_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nxpf-bench: second signal, removing namespaces now");
            delete_registered();
            std::process::exit(130);
        }
        eprintln!("\nxpf-bench: interrupted, cleaning up (Ctrl-C again to force)");
        std::thread::spawn(|| {
            std::thread::sleep(Duration::from_secs(10));
            eprintln!("xpf-bench: cleanup did not finish in 10 s, removing namespaces");
            delete_registered();
            std::process::exit(130);
        });
    })
    .map_err(|e| BenchError::Check(format!("installing the signal handler: {e}")))
}

/// Parses the pid out of a benchmark namespace name (`xpfb<pid>-<role>`).
pub fn ns_owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NS_PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Parses the pid out of a benchmark link name (`xb<pid><role>`, role being
/// a letter and a digit).
pub fn link_owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(LINK_PREFIX)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let role = &rest[digits.len()..];
    if digits.is_empty() || role.len() != 2 {
        return None;
    }
    digits.parse().ok()
}

/// Whether process `pid` runs (a zombie — killed, not yet reaped — does not).
fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // "pid (comm) S ...": the state follows the last ')'.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// Benchmark namespaces that exist now (`ip netns list`), any owner.
pub fn bench_namespaces() -> Result<Vec<String>> {
    let out = sys::ip(&["netns", "list"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| ns_owner_pid(n).is_some())
        .map(str::to_owned)
        .collect())
}

/// Benchmark links in the root namespace (there should never be any: links
/// are created inside their namespaces), any owner.
pub fn bench_root_links() -> Result<Vec<String>> {
    let out = sys::ip(&["-o", "link", "show"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_owned())
        .filter(|n| link_owner_pid(n).is_some())
        .collect())
}

/// Removes namespaces and root links left by benchmark runs whose process
/// is gone. Returns what was removed.
pub fn sweep_stale() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for ns in bench_namespaces()? {
        if ns_owner_pid(&ns).is_some_and(|pid| !pid_alive(pid)) {
            sys::ip(&["netns", "del", &ns])?;
            removed.push(ns);
        }
    }
    for link in bench_root_links()? {
        if link_owner_pid(&link).is_some_and(|pid| !pid_alive(pid)) {
            sys::ip(&["link", "del", &link])?;
            removed.push(link);
        }
    }
    Ok(removed)
}

/// Namespaces and root links of this process that still exist.
pub fn leftovers_of(pid: u32) -> Result<Vec<String>> {
    let mut left: Vec<String> = bench_namespaces()?
        .into_iter()
        .filter(|n| ns_owner_pid(n) == Some(pid))
        .collect();
    left.extend(
        bench_root_links()?
            .into_iter()
            .filter(|n| link_owner_pid(n) == Some(pid)),
    );
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_carry_the_owner_pid() {
        assert_eq!(ns_owner_pid("xpfb1234-fw"), Some(1234));
        assert_eq!(ns_owner_pid("xpfb-fw"), None);
        assert_eq!(ns_owner_pid("other-1234-fw"), None);
        assert_eq!(ns_owner_pid("xpfbabc-fw"), None);
    }

    #[test]
    fn own_process_is_alive_and_a_free_pid_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
    }

    #[test]
    fn link_names_carry_the_owner_pid() {
        assert_eq!(link_owner_pid("xb1234f0"), Some(1234));
        assert_eq!(link_owner_pid("xb1234c0"), Some(1234));
        assert_eq!(link_owner_pid("xbr0"), None);
        assert_eq!(link_owner_pid("xb12"), None);
        assert_eq!(link_owner_pid("eth0"), None);
    }
}
