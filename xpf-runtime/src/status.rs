//! Runtime status: what a control plane shows for a running backend.

use crate::ids::RedundancyGroupId;
use serde::{Deserialize, Serialize};

/// Occupancy of a bounded table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableStats {
    /// Entries in use.
    pub occupancy: u64,
    /// Maximum entries.
    pub capacity: u64,
}

impl TableStats {
    /// Occupancy as a fraction of capacity (0 when capacity is 0).
    pub fn utilisation(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            self.occupancy as f64 / self.capacity as f64
        }
    }
}

/// The HA role of one redundancy group on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedundancyGroupStatus {
    /// Group.
    pub group: RedundancyGroupId,
    /// True when this node is primary for the group.
    pub active: bool,
}

/// A backend's status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuntimeStatus {
    /// Backend name (`userspace`, `ebpf`, `dpdk`).
    pub backend: String,
    /// True between `start` and `close`.
    pub running: bool,
    /// Generation of the config in force (0 before the first apply).
    pub generation: u64,
    /// Worker threads / CPUs processing packets.
    pub workers: u32,
    /// Session table (entries counted as sessions, not forward+reverse halves).
    pub sessions: TableStats,
    /// Redundancy group roles.
    pub redundancy_groups: Vec<RedundancyGroupStatus>,
}
