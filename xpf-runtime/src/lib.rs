//! Backend-neutral runtime types shared by every xpf crate.
//!
//! This crate is the leaf of the workspace: it depends on nothing but `serde`
//! and `thiserror`, and every other crate (the dataplane contracts, the
//! engine, each backend, the cluster sync) speaks these types at its
//! boundaries. Nothing here knows about a particular backend's layout; a
//! backend converts its private representation into these types.
//!
//! - [`ids`]: typed numeric identifiers (`ZoneId`, `PolicyRuleId`, ...).
//! - [`proto`]: IP protocol numbers.
//! - [`session`]: session keys and values for IPv4 and IPv6, `SessionEntry`.
//! - [`delta`]: session deltas for HA sync and the `SessionDeltaSource` trait.
//! - [`event`]: events (session open/close, policy deny, screen drop, filter log).
//! - [`counters`]: counter values, global counter identifiers, drop reasons.
//! - [`status`]: runtime status and table statistics.

pub mod counters;
pub mod delta;
pub mod event;
pub mod ids;
pub mod proto;
pub mod session;
pub mod status;

pub use counters::{
    BaseCounter, CounterValue, DropReason, FloodCounters, FloodKind, FloodState, GlobalCounter,
    InterfaceCounters,
};
pub use delta::{
    SessionDelta, SessionDeltaError, SessionDeltaReason, SessionDeltaSnapshot, SessionDeltaSource,
    SweepProfile,
};
pub use event::{
    CloseReason, Event, FilterDirection, FilterLogAction, FilterLogEvent, FlowTuple,
    PolicyDenyEvent, ScreenDropEvent, ScreenKind, SessionCloseEvent, SessionOpenEvent,
};
pub use ids::{
    AddressSetId, AppId, FilterId, FilterTermId, InterfaceId, NatPoolId, NatRuleId, PolicerId,
    PolicyRuleId, RedundancyGroupId, ScheduleSlot, ScreenProfileId, SessionId, ZoneId,
};
pub use proto::IpProtocol;
pub use session::{
    AddressFamily, AnySessionKey, NatTranslation, PacketCounters, SessionAddr, SessionEntry,
    SessionFlags, SessionKey, SessionKeyV4, SessionKeyV6, SessionState, SessionValue,
    SessionValueV4, SessionValueV6, TcpState,
};
pub use status::{RedundancyGroupStatus, RuntimeStatus, TableStats};
