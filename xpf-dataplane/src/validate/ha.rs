//! Chassis cluster (`ha`).
//!
//! Owns: `node-id` (0 or 1), redundancy groups (unique ids up to 128, where
//! 0 is the control-plane group; priorities 1-254), fabric links (unique
//! ids 0 and 1, an existing interface, local and peer addresses of one
//! family) and heartbeat settings (at least 1). Interface membership of
//! redundancy groups is checked in `interfaces`.

use super::Validator;
use super::names::FirstSeen;
use super::path::Path;
use super::values::family_name;
use crate::config::{FabricLink, RedundancyGroup};

/// Highest redundancy group id.
const MAX_REDUNDANCY_GROUP: u8 = 128;
/// Valid node priorities within a redundancy group.
const PRIORITIES: std::ops::RangeInclusive<u8> = 1..=254;

impl Validator<'_> {
    /// Checks `ha`, if present.
    pub(super) fn check_ha(&mut self) {
        let Some(ha) = &self.config.ha else { return };
        let path = Path::root().field("ha");
        if ha.node_id > 1 {
            self.error(
                &path.field("node-id"),
                format!("node-id {} must be 0 or 1", ha.node_id),
            );
        }
        let groups = path.field("redundancy-groups");
        let mut seen = FirstSeen::default();
        for (i, group) in ha.redundancy_groups.iter().enumerate() {
            let id = group.id.to_string();
            let item = groups.item(&id, i);
            let subject = format_args!("redundancy group {id}");
            self.check_unique(&mut seen, group.id, subject, &item, i);
            self.check_redundancy_group(&item, group);
        }
        let links = path.field("fabric-links");
        let mut seen = FirstSeen::default();
        for (i, link) in ha.fabric_links.iter().enumerate() {
            let id = link.id.to_string();
            let item = links.item(&id, i);
            let subject = format_args!("fabric link {id}");
            self.check_unique(&mut seen, link.id, subject, &item, i);
            self.check_fabric_link(&item, link);
        }
        let interval = ha.heartbeat_interval_ms;
        self.check_positive(
            &path.field("heartbeat-interval-ms"),
            "heartbeat-interval-ms",
            interval,
        );
        let threshold = ha.heartbeat_threshold;
        self.check_positive(
            &path.field("heartbeat-threshold"),
            "heartbeat-threshold",
            threshold,
        );
    }

    fn check_redundancy_group(&mut self, path: &Path<'_>, group: &RedundancyGroup) {
        if group.id > MAX_REDUNDANCY_GROUP {
            self.error(
                &path.field("id"),
                format!(
                    "redundancy group id {} is above {MAX_REDUNDANCY_GROUP}",
                    group.id
                ),
            );
        }
        let priorities = [
            ("node0-priority", group.node0_priority),
            ("node1-priority", group.node1_priority),
        ];
        for (field, priority) in priorities {
            if !PRIORITIES.contains(&priority) {
                self.error(
                    &path.field(field),
                    format!("{field} {priority} is outside 1-254"),
                );
            }
        }
    }

    fn check_fabric_link(&mut self, path: &Path<'_>, link: &FabricLink) {
        if link.id > 1 {
            self.error(
                &path.field("id"),
                format!("fabric link id {} must be 0 or 1", link.id),
            );
        }
        self.check_interface_ref(&path.field("interface"), &link.interface);
        if let (Some(local), Some(peer)) = (link.local_address, link.peer_address)
            && local.is_ipv4() != peer.is_ipv4()
        {
            self.error(
                &path.field("peer-address"),
                format!(
                    "peer-address {peer} is {} but local-address {local} is {}",
                    family_name(peer),
                    family_name(local)
                ),
            );
        }
    }
}
