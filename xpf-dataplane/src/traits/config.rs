//! [`ConfigSink`] (applying configs) and [`RuntimeDataPlane`] (a whole
//! backend: lifecycle plus its controllers).

use super::{HAController, LinkController, SessionStore, Telemetry};
use crate::apply::{ApplyResult, Capabilities};
use crate::cancel::Cancel;
use crate::compile::{CompiledConfig, compile_with_previous};
use crate::config::Config;
use crate::error::Result;
use async_trait::async_trait;
use std::sync::Arc;
use xpf_runtime::{RuntimeStatus, SessionDeltaSource};

/// Accepts configs and installs them atomically.
///
/// # Apply contract
///
/// - **Atomic.** A config is installed completely or not at all. A rejected
///   config (invalid: [`DataplaneError::Config`]; needing a capability the
///   backend lacks: [`DataplaneError::Unsupported`]; cancelled before commit:
///   [`DataplaneError::Cancelled`]) leaves the previous config in force and
///   live sessions untouched.
/// - **Stable ids.** A config is compiled against the compiled config in
///   force ([`last_compiled`](Self::last_compiled)), so objects that survive
///   an apply keep their numeric ids and their counters.
/// - **Generations.** Every successful apply increases
///   [`ApplyResult::generation`] by one (the first apply is generation 1).
/// - **Independent results.** [`last_apply`](Self::last_apply) and the
///   value `apply` returns are clones; nothing a caller does with them
///   affects the backend.
/// - **Serialised.** Concurrent applies are serialised by the backend; each
///   compiles against the config in force when it starts.
/// - **Cancellation.** The token is checked only before the commit point
///   (the swap to the new config); see [`crate::cancel`].
///
/// [`DataplaneError::Config`]: crate::DataplaneError::Config
/// [`DataplaneError::Unsupported`]: crate::DataplaneError::Unsupported
/// [`DataplaneError::Cancelled`]: crate::DataplaneError::Cancelled
#[async_trait]
pub trait ConfigSink: Send + Sync {
    /// Validates `config`, compiles it against the config in force (for
    /// stable ids) and installs it with [`apply_compiled`](Self::apply_compiled).
    ///
    /// The provided implementation does exactly that; a backend overrides it
    /// only to add work of its own around the same steps.
    async fn apply(&self, config: &Config, cancel: &Cancel) -> Result<ApplyResult> {
        cancel.check("config apply")?;
        let previous = self.last_compiled();
        let compiled = compile_with_previous(config, previous.as_deref())?;
        self.apply_compiled(Arc::new(compiled), cancel).await
    }

    /// Checks `compiled` against [`capabilities`](Self::capabilities) (see
    /// [`Capabilities::check`]) and installs it atomically. `compiled` must
    /// have been compiled against [`last_compiled`](Self::last_compiled) for
    /// ids to stay stable.
    async fn apply_compiled(
        &self,
        compiled: Arc<CompiledConfig>,
        cancel: &Cancel,
    ) -> Result<ApplyResult>;

    /// The compiled config in force, if any config has been applied.
    fn last_compiled(&self) -> Option<Arc<CompiledConfig>>;

    /// A clone of the result of the last successful apply.
    fn last_apply(&self) -> Option<ApplyResult>;

    /// What this backend supports, with a reason for everything it does not.
    fn capabilities(&self) -> Capabilities;
}

/// A dataplane backend: config apply, lifecycle and its controllers.
///
/// Lifecycle: construct → [`apply`](ConfigSink::apply) (may also come after
/// start) → [`start`](Self::start) → ... → [`close`](Self::close) →
/// [`teardown`](Self::teardown). Controllers returned by the accessors stay
/// valid for the backend's lifetime; after `close` they still read state but
/// operations that need packet processing return
/// [`DataplaneError::NotRunning`](crate::DataplaneError::NotRunning).
///
/// `dyn RuntimeDataPlane` upcasts to `dyn ConfigSink` with an ordinary
/// coercion; [`config_sink`](Self::config_sink) is the explicit spelling.
#[async_trait]
pub trait RuntimeDataPlane: ConfigSink {
    /// Starts processing packets on the attached interfaces.
    async fn start(&self) -> Result<()>;

    /// Stops processing packets. Sessions, counters and the config in force
    /// stay readable; `start` may be called again.
    async fn close(&self) -> Result<()>;

    /// Removes everything the backend installed in the system: detaches
    /// programs, deletes pinned maps, releases ports and queues. Implies
    /// `close`. Idempotent; the backend cannot be started again afterwards.
    async fn teardown(&self) -> Result<()>;

    /// The backend's name (`userspace`, `ebpf`, `dpdk`).
    fn name(&self) -> &'static str;

    /// Current status.
    fn status(&self) -> RuntimeStatus;

    /// Interface attachment and link state.
    fn link(&self) -> Arc<dyn LinkController>;

    /// Redundancy groups, watchdog and fabric forwarding.
    fn ha(&self) -> Arc<dyn HAController>;

    /// The session table.
    fn sessions(&self) -> Arc<dyn SessionStore>;

    /// Events and counters.
    fn telemetry(&self) -> Arc<dyn Telemetry>;

    /// The session delta source HA sync drains, or `None` when the backend
    /// does not record deltas (then
    /// [`Capability::SessionDeltas`](crate::apply::Capability::SessionDeltas)
    /// is unsupported, with a reason).
    fn session_deltas(&self) -> Option<Arc<dyn SessionDeltaSource>>;

    /// This backend as a [`ConfigSink`].
    fn config_sink(&self) -> &dyn ConfigSink;
}
