//! [`LinkController`]: which interfaces the backend processes packets on,
//! and their link state.

use crate::error::Result;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Whether a link passes traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkStatus {
    /// Up: the dataplane receives and transmits on it.
    Up,
    /// Down: administratively (see [`LinkController::set_link_state`]) or
    /// because the device has no carrier.
    Down,
    /// The backend cannot tell (e.g. before `start`).
    #[default]
    Unknown,
}

impl fmt::Display for LinkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Up => "up",
            Self::Down => "down",
            Self::Unknown => "unknown",
        })
    }
}

/// The state of one attached interface.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkState {
    /// Up, down or unknown.
    pub status: LinkStatus,
    /// How the backend is attached, e.g. `xdp-native`, `xdp-generic`,
    /// `af-xdp-zerocopy`, `af-xdp-copy`, `af-packet`, `dpdk`, `memory`.
    pub mode: String,
}

/// Attaches the dataplane to interfaces and controls their link state.
///
/// Interfaces are named as in the config (`ge-0/0/0.0` style names are
/// resolved by the embedding application; the backend sees device names).
#[async_trait]
pub trait LinkController: Send + Sync {
    /// Starts processing packets received on `interface`. Idempotent.
    async fn attach(&self, interface: &str) -> Result<()>;

    /// Stops processing packets on `interface` and removes what `attach`
    /// installed for it. Idempotent.
    async fn detach(&self, interface: &str) -> Result<()>;

    /// Interfaces currently attached, sorted.
    fn attached(&self) -> Vec<String>;

    /// Sets the administrative state of an attached interface: a down
    /// interface neither receives nor transmits through the dataplane, and
    /// routes through it are treated as unusable.
    /// [`DataplaneError::NotFound`](crate::DataplaneError::NotFound) when the
    /// interface is not attached.
    async fn set_link_state(&self, interface: &str, up: bool) -> Result<()>;

    /// The state of an attached interface.
    /// [`DataplaneError::NotFound`](crate::DataplaneError::NotFound) when it
    /// is not attached.
    fn link_state(&self, interface: &str) -> Result<LinkState>;
}
