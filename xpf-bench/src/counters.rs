//! The measurement's counters: thread run time from
//! `/proc/<pid>/task/<tid>/schedstat`, link statistics of the firewall's
//! veths (`ip -j -s link`, read inside the namespace) and the conntrack
//! table size.

use serde::Deserialize;

use crate::error::{BenchError, Result};
use crate::sys;
use crate::topology::KThread;

/// Run time (ns) of a thread so far: the first field of its schedstat.
/// A thread that is gone reads as `None`.
pub fn thread_runtime_ns(tid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{tid}/task/{tid}/schedstat"))
        .or_else(|_| std::fs::read_to_string(format!("/proc/{tid}/schedstat")))
        .ok()?;
    parse_schedstat(&text)
}

/// Parses the run time (first field, ns) of a schedstat line.
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Sum of the run times of `threads`; errors if one of them vanished (a
/// vanished thread would silently lose its share).
pub fn sum_runtime_ns(threads: &[KThread]) -> Result<u64> {
    threads.iter().try_fold(0u64, |acc, t| {
        thread_runtime_ns(t.tid)
            .map(|ns| acc + ns)
            .ok_or_else(|| BenchError::Check(format!("thread {} ({}) vanished", t.tid, t.name)))
    })
}

/// Run time of `ksoftirqd/<cpu>` (a diagnostic: softirq work the kernel
/// deferred to it is not attributed to the firewall's threads).
pub fn ksoftirqd_runtime_ns(cpu: usize) -> Option<u64> {
    let want = format!("ksoftirqd/{cpu}");
    let dir = std::fs::read_dir("/proc").ok()?;
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|c| c.trim_end() == want) {
            return thread_runtime_ns(tid);
        }
    }
    None
}

/// Packet and byte counters of one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct DirStats {
    /// Bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// Dropped packets.
    #[serde(default)]
    pub dropped: u64,
}

/// rx and tx counters of one link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct LinkStats {
    /// Received.
    pub rx: DirStats,
    /// Sent.
    pub tx: DirStats,
}

#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    stats64: LinkStats,
}

/// Parses `ip -j -s link show` output into (name, stats) pairs.
pub fn parse_ip_link_stats(json: &str) -> Result<Vec<(String, LinkStats)>> {
    let links: Vec<IpLink> = serde_json::from_str(json)
        .map_err(|e| BenchError::parse("ip -j -s link output", e.to_string()))?;
    Ok(links.into_iter().map(|l| (l.ifname, l.stats64)).collect())
}

/// Statistics of every link of namespace `ns`, in the order of `devs`.
pub fn link_stats(ns: &str, devs: &[&str]) -> Result<Vec<LinkStats>> {
    let all = parse_ip_link_stats(&sys::ip(&["-n", ns, "-j", "-s", "link", "show"])?)?;
    devs.iter()
        .map(|d| {
            all.iter()
                .find(|(name, _)| name == d)
                .map(|(_, s)| *s)
                .ok_or_else(|| BenchError::parse("ip link stats", format!("no link {d} in {ns}")))
        })
        .collect()
}

/// Number of conntrack entries of namespace `ns` (0 when conntrack is not
/// loaded there).
pub fn conntrack_count(ns: &str) -> Result<u64> {
    match sys::netns_exec(ns, "cat", &["/proc/sys/net/netfilter/nf_conntrack_count"]) {
        Ok(text) => text
            .trim()
            .parse()
            .map_err(|e| BenchError::parse("nf_conntrack_count", format!("{text:?}: {e}"))),
        Err(_) => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_run_time_is_the_first_field() {
        assert_eq!(parse_schedstat("123456 789 10\n"), Some(123_456));
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn own_thread_has_a_run_time() {
        let tid = sys::gettid();
        assert!(thread_runtime_ns(tid).is_some());
    }

    #[test]
    fn ip_link_json_stats_are_parsed_per_link() {
        let json = r#"[{"ifindex":1,"ifname":"lo","stats64":{"rx":{"bytes":10,"packets":2,"errors":0,"dropped":1},"tx":{"bytes":20,"packets":3,"errors":0,"dropped":4,"carrier_errors":0}}},
                      {"ifindex":2,"ifname":"xb1f1","stats64":{"rx":{"bytes":0,"packets":0},"tx":{"bytes":600,"packets":10}}}]"#;
        let stats = parse_ip_link_stats(json).unwrap();
        assert_eq!(stats.len(), 2);
        assert_eq!(stats[0].1.tx.packets, 3);
        assert_eq!(stats[0].1.tx.dropped, 4);
        assert_eq!(stats[1].0, "xb1f1");
        assert_eq!(stats[1].1.tx.bytes, 600);
        assert_eq!(stats[1].1.tx.dropped, 0);
    }

    #[test]
    fn malformed_ip_output_is_an_error_not_a_panic() {
        assert!(parse_ip_link_stats("not json").is_err());
    }
}
