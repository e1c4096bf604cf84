//! Flow (session) options (`security.flow`).
//!
//! Owns: session timeouts (at least 1 second when set), `tcp-mss` (64 to
//! 65495: the smallest useful segment to the largest that fits an IPv4
//! packet) and `session-capacity` (at least 1).

use super::Validator;
use super::path::Path;

/// Valid TCP MSS clamp values.
const TCP_MSS: std::ops::RangeInclusive<u16> = 64..=65495;

impl Validator<'_> {
    /// Checks `security.flow`.
    pub(super) fn check_flow(&mut self) {
        let flow = &self.config.security.flow;
        let path = Path::root().field("security.flow");
        let timeouts = &flow.timeouts;
        let timers = [
            ("tcp-initial", timeouts.tcp_initial),
            ("tcp-established", timeouts.tcp_established),
            ("tcp-closing", timeouts.tcp_closing),
            ("tcp-time-wait", timeouts.tcp_time_wait),
            ("udp", timeouts.udp),
            ("icmp", timeouts.icmp),
            ("other", timeouts.other),
        ];
        let timeouts_path = path.field("timeouts");
        for (field, value) in timers {
            self.check_positive(
                &timeouts_path.field(field),
                &format!("{field} timeout"),
                value,
            );
        }
        if let Some(mss) = flow.tcp_mss.filter(|mss| !TCP_MSS.contains(mss)) {
            self.error(
                &path.field("tcp-mss"),
                format!("tcp-mss {mss} is outside 64-65495"),
            );
        }
        let capacity = flow.session_capacity;
        self.check_positive(
            &path.field("session-capacity"),
            "session-capacity",
            capacity,
        );
    }
}
