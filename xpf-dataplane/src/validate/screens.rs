//! Screens (`security.screen.ids-options`).
//!
//! Owns: screen profile names, and the thresholds and limits of each
//! profile, which must be at least 1 when set (0 would drop everything).
//! Zones reference profiles; that reference is checked in `interfaces`.

use super::Validator;
use super::names::FirstSeen;
use super::path::Path;
use crate::config::ScreenProfile;

impl Validator<'_> {
    /// Checks `security.screen`.
    pub(super) fn check_screens(&mut self) {
        let list = Path::root().field("security.screen.ids-options");
        let mut seen = FirstSeen::default();
        for (i, profile) in self.config.security.screen.ids_options.iter().enumerate() {
            let path = list.item(&profile.name, i);
            self.check_name(&mut seen, "screen profile", &profile.name, &path, i);
            self.check_screen_profile(&path, profile);
        }
    }

    fn check_screen_profile(&mut self, path: &Path<'_>, profile: &ScreenProfile) {
        let limits = &profile.limit_session;
        let positive = [
            ("icmp.flood-threshold", profile.icmp.flood_threshold),
            ("tcp.syn-flood-threshold", profile.tcp.syn_flood_threshold),
            ("udp.flood-threshold", profile.udp.flood_threshold),
            ("limit-session.source-ip-based", limits.source_ip_based),
            (
                "limit-session.destination-ip-based",
                limits.destination_ip_based,
            ),
        ];
        for (field, value) in positive {
            let what = field.rsplit('.').next().unwrap_or(field);
            self.check_positive(&path.field(field), what, value);
        }
    }
}
