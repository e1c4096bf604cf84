//! System plumbing: running `ip`/`nft`/`ethtool`, the root check, installing
//! missing Debian packages, entering a network namespace on a thread and
//! pinning threads to CPUs.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use nix::sched::{CloneFlags, CpuSet, sched_setaffinity, setns};
use nix::unistd::Pid;

use crate::error::{BenchError, Result};
use crate::topology::KThread;

/// Environment variable that turns "not root" into a reported skip.
pub const ALLOW_SKIP_ENV: &str = "XPF_ALLOW_SKIP_PRIVILEGED";

/// Debian packages the benchmark needs, with a binary that proves each one.
pub const APT_PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "ip"),
    ("nftables", "nft"),
    ("ethtool", "ethtool"),
    ("clang", "clang"),
    ("libbpf-dev", "/usr/include/bpf/bpf_helpers.h"),
    ("linux-libc-dev", "/usr/include/linux/bpf.h"),
];

/// Runs a command, returning its stdout; a non-zero exit is an error that
/// carries the command line and its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|source| BenchError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(BenchError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip ARGS...` (iproute2).
pub fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// Runs a command inside a named network namespace (`ip netns exec`, which
/// also remounts `/sys` so sysfs shows the namespace's devices).
pub fn netns_exec(ns: &str, program: &str, args: &[&str]) -> Result<String> {
    let mut full = vec!["netns", "exec", ns, program];
    full.extend_from_slice(args);
    ip(&full)
}

/// Whether the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What the root check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Root: go on.
    Root,
    /// Not root, and the caller allowed a skip.
    Skip,
}

/// Checks for root; without it fails with a clear message unless
/// `XPF_ALLOW_SKIP_PRIVILEGED=1` is set.
pub fn require_root() -> Result<Privilege> {
    if is_root() {
        return Ok(Privilege::Root);
    }
    if std::env::var(ALLOW_SKIP_ENV).is_ok_and(|v| v == "1") {
        return Ok(Privilege::Skip);
    }
    Err(BenchError::NotRoot)
}

fn have(probe: &str) -> bool {
    if probe.starts_with('/') {
        return Path::new(probe).exists();
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join(probe).is_file())
            || ["/usr/sbin", "/sbin"]
                .iter()
                .any(|d| Path::new(d).join(probe).is_file())
    })
}

/// The Debian packages of [`APT_PACKAGES`] that are missing.
pub fn missing_packages() -> Vec<&'static str> {
    APT_PACKAGES
        .iter()
        .filter(|(_, probe)| !have(probe))
        .map(|(pkg, _)| *pkg)
        .collect()
}

/// Installs the missing packages with apt-get (root only). With
/// `XPF_SKIP_INSTALL=1` it only reports what is missing.
pub fn ensure_packages() -> Result<()> {
    let missing = missing_packages();
    if missing.is_empty() {
        return Ok(());
    }
    if std::env::var("XPF_SKIP_INSTALL").is_ok_and(|v| v == "1") {
        return Err(BenchError::Check(format!(
            "missing Debian packages: {} (XPF_SKIP_INSTALL=1)",
            missing.join(" ")
        )));
    }
    eprintln!("xpf-bench: installing {}", missing.join(" "));
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend_from_slice(&missing);
    if run("apt-get", &args).is_err() {
        run("apt-get", &["update", "-q"])?;
        run("apt-get", &args)?;
    }
    let still = missing_packages();
    if still.is_empty() {
        Ok(())
    } else {
        Err(BenchError::Check(format!(
            "still missing after apt-get install: {}",
            still.join(" ")
        )))
    }
}

/// Moves the calling thread into the named network namespace.
pub fn enter_netns(ns: &str) -> Result<()> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).map_err(|source| BenchError::Io {
        action: "opening",
        path: path.clone().into(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| BenchError::Sys {
        what: format!("setns into {ns}"),
        source,
    })
}

/// Runs `f` on a new thread that first enters the namespace `ns`, and waits
/// for it: the calling thread's namespace is never changed.
pub fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter_netns(ns)?;
                f()
            })
            .join()
            .unwrap_or_else(|_| Err(BenchError::Check(format!("thread in {ns} panicked"))))
    })
}

/// Pins a thread (`tid`, 0 for the calling thread) to one CPU.
pub fn pin(tid: i32, cpu: usize) -> Result<()> {
    let mut set = CpuSet::new();
    set.set(cpu).map_err(|source| BenchError::Sys {
        what: format!("cpu set for CPU {cpu}"),
        source,
    })?;
    sched_setaffinity(Pid::from_raw(tid), &set).map_err(|source| BenchError::Sys {
        what: format!("pinning thread {tid} to CPU {cpu}"),
        source,
    })
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    nix::unistd::gettid().as_raw()
}

/// Number of online CPUs.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The threads of this process whose name starts with `prefix`.
pub fn threads_named(prefix: &str) -> Result<Vec<KThread>> {
    let dir = std::fs::read_dir("/proc/self/task").map_err(|source| BenchError::Io {
        action: "listing",
        path: "/proc/self/task".into(),
        source,
    })?;
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let comm = comm.trim_end();
        if comm.starts_with(prefix) {
            out.push(KThread {
                tid,
                name: comm.to_owned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_reports_command_and_stderr_on_failure() {
        let err = run("sh", &["-c", "echo oops >&2; exit 3"]).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sh -c"), "{text}");
        assert!(text.contains("oops"), "{text}");
    }

    #[test]
    fn run_returns_stdout() {
        assert_eq!(run("sh", &["-c", "echo hi"]).unwrap(), "hi\n");
    }
}
