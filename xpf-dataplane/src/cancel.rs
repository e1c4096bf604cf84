//! Cooperative cancellation for dataplane operations.
//!
//! [`Cancel`] is a cheap, cloneable token: every clone shares one flag, so a
//! control plane can hand a clone to an operation and cancel it from another
//! thread or task. It needs no async runtime.
//!
//! # The contract
//!
//! An operation that changes dataplane state has a **commit point**: the
//! write after which the change is visible to the packet path (a config swap,
//! a fabric forwarding map update). Operations honour cancellation like this:
//!
//! 1. **Before the commit point** they may check the token (with
//!    [`Cancel::check`]) as often as they like; a cancelled operation returns
//!    [`DataplaneError::Cancelled`] and has changed nothing.
//! 2. **At and after the commit point** they never check it again. The
//!    follow-up work that keeps every view of the state consistent (for a
//!    fabric update: syncing the helper's view with
//!    `HAController::sync_fabric_state`) always runs, whatever happens to the
//!    token in the meantime. Cancellation can therefore never leave a committed
//!    update unsynced; an operation that returns `Cancelled` did not commit.
//!
//! Dropping an async operation's future is cancellation too, and it cannot be
//! vetoed. An implementation must therefore not put an `.await` between its
//! commit point and the follow-up it owes: a future dropped at that `.await`
//! would leave the update committed and unsynced, exactly the window this
//! contract exists to close. Run the commit and its follow-up in one
//! synchronous section (see
//! [`set_fabric_forwarding_then_sync`](crate::traits::set_fabric_forwarding_then_sync)
//! for the fabric case).
//!
//! ```
//! use xpf_dataplane::cancel::Cancel;
//!
//! let cancel = Cancel::new();
//! let handle = cancel.clone();
//! assert!(cancel.check("apply").is_ok());
//! handle.cancel();
//! assert!(cancel.is_cancelled());
//! assert!(cancel.check("apply").is_err());
//! ```

use crate::error::{DataplaneError, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A cancellation token shared by all of its clones.
///
/// Cancellation is one-way: once [`cancel`](Self::cancel) has been called on
/// any clone, every clone reports cancelled forever. See the
/// [module docs](self) for when operations check it.
#[derive(Clone, Debug, Default)]
pub struct Cancel {
    cancelled: Arc<AtomicBool>,
}

impl Cancel {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels the operation(s) holding this token or any of its clones.
    /// Idempotent.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
    }

    /// True once any clone has been cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Returns [`DataplaneError::Cancelled`] naming `what` if the token is
    /// cancelled. Call it only before the operation's commit point.
    pub fn check(&self, what: &str) -> Result<()> {
        if self.is_cancelled() {
            Err(DataplaneError::Cancelled(what.to_string()))
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_flag() {
        let a = Cancel::new();
        let b = a.clone();
        assert!(!a.is_cancelled() && !b.is_cancelled());
        b.cancel();
        assert!(a.is_cancelled());
        b.cancel();
        assert!(b.is_cancelled());
    }

    #[test]
    fn check_names_the_operation() {
        let c = Cancel::new();
        c.check("fabric update").unwrap();
        c.cancel();
        match c.check("fabric update") {
            Err(DataplaneError::Cancelled(what)) => assert_eq!(what, "fabric update"),
            other => panic!("expected Cancelled, got {other:?}"),
        }
    }

    #[test]
    fn independent_tokens_do_not_interfere() {
        let a = Cancel::new();
        let b = Cancel::new();
        a.cancel();
        assert!(!b.is_cancelled());
    }
}
