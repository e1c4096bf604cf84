//! [`UserspaceLinks`]: the [`LinkController`] — which interfaces have a
//! port, and their administrative state.
//!
//! Attaching opens the interface's port through the backend's
//! [`PortFactory`](crate::port::PortFactory). A link set down stops
//! receiving (frames are counted and discarded before the engine), stops
//! transmitting, and its routes are withdrawn from every shard's config
//! (see [`crate::plan`]) so lookups fall back to other routes.

use crate::dataplane::{Inner, read, write};
use crate::port::Port;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use xpf_dataplane::traits::{LinkController, LinkState, LinkStatus};
use xpf_dataplane::{DataplaneError, Result};

#[derive(Clone)]
struct Link {
    port: Arc<dyn Port>,
    up: bool,
}

/// An immutable view of the links, swapped on every change.
#[derive(Clone, Default)]
pub(crate) struct LinkSnapshot {
    links: BTreeMap<String, Link>,
}

impl LinkSnapshot {
    /// Attached interfaces with their port and whether they are up.
    pub fn ports(&self) -> impl Iterator<Item = (&String, &Arc<dyn Port>, bool)> {
        self.links.iter().map(|(n, l)| (n, &l.port, l.up))
    }

    /// The port of an attached interface that is up.
    pub fn port(&self, name: &str) -> Option<&Arc<dyn Port>> {
        self.links.get(name).filter(|l| l.up).map(|l| &l.port)
    }

    /// True when `name` is attached and down.
    pub fn is_down(&self, name: &str) -> bool {
        self.links.get(name).is_some_and(|l| !l.up)
    }
}

/// The attached links.
#[derive(Default)]
pub(crate) struct LinkTable {
    current: RwLock<Arc<LinkSnapshot>>,
}

impl LinkTable {
    pub fn snapshot(&self) -> Arc<LinkSnapshot> {
        Arc::clone(&read(&self.current))
    }

    pub fn is_down(&self, name: &str) -> bool {
        self.snapshot().is_down(name)
    }

    pub fn down_names(&self) -> BTreeSet<String> {
        self.snapshot()
            .links
            .iter()
            .filter(|(_, l)| !l.up)
            .map(|(n, _)| n.clone())
            .collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.snapshot().links.keys().cloned().collect()
    }

    fn update(&self, f: impl FnOnce(&mut BTreeMap<String, Link>)) {
        let mut cur = write(&self.current);
        let mut next = (**cur).clone();
        f(&mut next.links);
        *cur = Arc::new(next);
    }

    pub fn clear(&self) {
        self.update(BTreeMap::clear);
    }
}

/// The backend's [`LinkController`].
pub struct UserspaceLinks {
    pub(crate) inner: Arc<Inner>,
}

#[async_trait]
impl LinkController for UserspaceLinks {
    async fn attach(&self, interface: &str) -> Result<()> {
        let inner = &self.inner;
        if inner.torn_down.load(std::sync::atomic::Ordering::Acquire) {
            return Err(DataplaneError::NotRunning("torn down".into()));
        }
        if inner.links.snapshot().links.contains_key(interface) {
            return Ok(());
        }
        let port =
            inner
                .opts
                .port_factory
                .open(interface)
                .map_err(|e| DataplaneError::Backend {
                    backend: "userspace",
                    message: e.to_string(),
                })?;
        inner.links.update(|l| {
            l.insert(interface.to_string(), Link { port, up: true });
        });
        Ok(())
    }

    async fn detach(&self, interface: &str) -> Result<()> {
        let inner = &self.inner;
        let was_down = inner.links.is_down(interface);
        let mut present = false;
        inner
            .links
            .update(|l| present = l.remove(interface).is_some());
        if present {
            inner.opts.port_factory.close(interface);
        }
        if was_down {
            inner.relower()?;
        }
        Ok(())
    }

    fn attached(&self) -> Vec<String> {
        self.inner.links.names()
    }

    async fn set_link_state(&self, interface: &str, up: bool) -> Result<()> {
        let inner = &self.inner;
        let mut found = false;
        let mut changed = false;
        inner.links.update(|l| {
            if let Some(link) = l.get_mut(interface) {
                found = true;
                changed = link.up != up;
                link.up = up;
            }
        });
        if !found {
            return Err(DataplaneError::NotFound(format!(
                "interface {interface} is not attached"
            )));
        }
        if changed {
            inner.relower()?;
        }
        Ok(())
    }

    fn link_state(&self, interface: &str) -> Result<LinkState> {
        let snap = self.inner.links.snapshot();
        let link = snap.links.get(interface).ok_or_else(|| {
            DataplaneError::NotFound(format!("interface {interface} is not attached"))
        })?;
        Ok(LinkState {
            status: if link.up {
                LinkStatus::Up
            } else {
                LinkStatus::Down
            },
            mode: link.port.mode().to_string(),
        })
    }
}
