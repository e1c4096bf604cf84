//! AF_XDP ports: [`XskPortFactory`] opens an interface as an
//! [`xpf_xsk::XskDevice`] (the XSKMAP redirect program plus an AF_XDP socket
//! per receive queue, copy mode) and [`XskPort`] puts it behind the
//! [`Port`] trait, so the workers run unchanged on real interfaces.
//!
//! - **Namespace.** `open` resolves the device in the calling thread's
//!   network namespace: attach interfaces (`LinkController::attach`) from
//!   a thread inside the namespace that holds them. The sockets stay bound
//!   to that namespace's devices whatever thread reads them later.
//! - **Names.** The port is named after the config's interface; the kernel
//!   device is the same name unless [`XskPortOptions::devices`] maps it.
//! - **Receive** copies frames out of the UMEM (one `Vec` per frame, as
//!   the [`Port`] trait passes them) and refills the fill ring at once;
//!   each call also kicks transmits left on the TX ring by a kick the
//!   kernel deferred.
//! - **Transmit** goes out on one socket of the port, picked round robin
//!   among those not busy; frames that do not fit (ring or UMEM full) are
//!   dropped, counted by the socket ([`XskPort::stats`]) and reported to
//!   the worker as not sent.
//! - **Failing closed.** The redirect program drops frames of a queue
//!   without a socket, and detaching (or dropping the factory) detaches the
//!   program, which leaves the device to the kernel stack again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use xpf_xsk::{DeviceOptions, XskDevice, XskStats};

use crate::port::{Port, PortError, PortFactory};

/// How [`XskPortFactory`] opens interfaces.
#[derive(Clone, Debug, Default)]
pub struct XskPortOptions {
    /// Queues, attach mode and socket sizes of every device.
    pub device: DeviceOptions,
    /// Kernel device name per config interface name, where they differ.
    pub devices: BTreeMap<String, String>,
}

impl XskPortOptions {
    /// One queue per device, native XDP, default socket sizes.
    pub fn single_queue() -> Self {
        Self {
            device: DeviceOptions::single_queue(),
            devices: BTreeMap::new(),
        }
    }
}

/// One interface in AF_XDP copy mode.
#[derive(Debug)]
pub struct XskPort {
    name: String,
    mode: &'static str,
    dev: XskDevice,
    next_tx: AtomicUsize,
}

impl XskPort {
    /// The socket counters, summed over the queues.
    pub fn stats(&self) -> Result<XskStats, PortError> {
        self.dev.stats().map_err(|source| PortError::Xsk {
            name: self.name.clone(),
            source,
        })
    }

    /// The kernel device's name.
    pub fn device(&self) -> &str {
        self.dev.name()
    }
}

impl Port for XskPort {
    fn name(&self) -> &str {
        &self.name
    }

    fn mode(&self) -> &'static str {
        self.mode
    }

    fn rx_queues(&self) -> usize {
        self.dev.sockets().len()
    }

    fn rx_burst(
        &self,
        queue: usize,
        out: &mut Vec<Vec<u8>>,
        max: usize,
    ) -> Result<usize, PortError> {
        let sock = self
            .dev
            .sockets()
            .get(queue)
            .ok_or_else(|| PortError::NoSuchQueue {
                port: self.name.clone(),
                queue,
            })?;
        sock.flush().map_err(|source| PortError::Xsk {
            name: self.name.clone(),
            source,
        })?;
        Ok(sock.recv(out, max))
    }

    fn tx_burst(&self, frames: &mut Vec<Vec<u8>>) -> Result<usize, PortError> {
        let socks = self.dev.sockets();
        let k = self.next_tx.fetch_add(1, Ordering::Relaxed) % socks.len().max(1);
        let sock = socks
            .get(k)
            .ok_or_else(|| PortError::Closed(self.name.clone()))?;
        sock.send(frames).map_err(|source| PortError::Xsk {
            name: self.name.clone(),
            source,
        })
    }
}

/// Opens [`XskPort`]s for the interfaces the control plane attaches, and
/// keeps them so their counters can be read.
#[derive(Debug)]
pub struct XskPortFactory {
    opts: XskPortOptions,
    ports: Mutex<BTreeMap<String, Arc<XskPort>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl XskPortFactory {
    /// A factory opening devices with `opts`.
    pub fn new(opts: XskPortOptions) -> Self {
        Self {
            opts,
            ports: Mutex::new(BTreeMap::new()),
        }
    }

    /// The open port of `interface`, if any.
    pub fn port(&self, interface: &str) -> Option<Arc<XskPort>> {
        lock(&self.ports).get(interface).cloned()
    }
}

impl PortFactory for XskPortFactory {
    fn open(&self, interface: &str) -> Result<Arc<dyn Port>, PortError> {
        let mut ports = lock(&self.ports);
        if let Some(p) = ports.get(interface) {
            return Ok(Arc::clone(p) as Arc<dyn Port>);
        }
        let device = self
            .opts
            .devices
            .get(interface)
            .map_or(interface, String::as_str);
        let dev = XskDevice::open(device, &self.opts.device).map_err(|source| PortError::Xsk {
            name: interface.to_owned(),
            source,
        })?;
        let port = Arc::new(XskPort {
            name: interface.to_owned(),
            mode: match self.opts.device.mode {
                xpf_xsk::AttachMode::Native => "af-xdp-copy",
                xpf_xsk::AttachMode::Generic => "af-xdp-copy-generic",
            },
            dev,
            next_tx: AtomicUsize::new(0),
        });
        ports.insert(interface.to_owned(), Arc::clone(&port));
        Ok(port)
    }

    fn close(&self, interface: &str) {
        lock(&self.ports).remove(interface);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_an_interface_that_does_not_exist_is_a_typed_error_naming_it() {
        let f = XskPortFactory::new(XskPortOptions::single_queue());
        let e = f.open("xpf-no-such-dev").map(|_| ()).unwrap_err();
        assert!(
            matches!(
                &e,
                PortError::Xsk { name, source: xpf_xsk::Error::NoSuchInterface(_) }
                    if name == "xpf-no-such-dev"
            ),
            "{e}"
        );
        assert!(f.port("xpf-no-such-dev").is_none());
    }
}
