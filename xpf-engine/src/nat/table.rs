//! [`SourceNat`]: every source allocator of a compiled config in one place.
//!
//! Pools are built from `CompiledNat::source_pools` and addressed by their
//! [`NatPoolId`]. Interface source NAT allocators are created on first use,
//! one per interface *address* (two interfaces sharing an address share its
//! ports, which is what uniqueness on the wire requires), and dropped when
//! their last mapping is released. A session records the pool id it was
//! translated by ([`NatPoolId::NONE`] for interface NAT) and its translated
//! source, which is all [`SnatTarget::of_session`] needs to find the
//! allocator again at close.

use super::layout::PoolError;
use super::source::SourcePool;
use super::{FlowRequest, NatError, SourceMapping};
use crate::lookup::FxHashMap;
use std::net::IpAddr;
use xpf_dataplane::compile::CompiledNat;
use xpf_runtime::{IpProtocol, NatPoolId};

/// Which allocator translates a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnatTarget {
    /// A configured source pool.
    Pool(NatPoolId),
    /// The egress interface's address (`source-nat interface`).
    Interface(IpAddr),
}

impl SnatTarget {
    /// The allocator of a session that recorded `pool` and was translated to
    /// `public_addr` (interface NAT records [`NatPoolId::NONE`]).
    pub fn of_session(pool: NatPoolId, public_addr: IpAddr) -> Self {
        if pool.is_none() {
            Self::Interface(public_addr)
        } else {
            Self::Pool(pool)
        }
    }

    /// The pool id to record in the session.
    pub fn pool_id(self) -> NatPoolId {
        match self {
            Self::Pool(id) => id,
            Self::Interface(_) => NatPoolId::NONE,
        }
    }
}

/// All source NAT allocators.
#[derive(Clone, Debug, Default)]
pub struct SourceNat {
    /// Indexed by `NatPoolId::index()`.
    pools: Vec<Option<SourcePool>>,
    interfaces: FxHashMap<IpAddr, SourcePool>,
}

impl SourceNat {
    /// The allocators of a compiled config's source pools.
    pub fn from_compiled(nat: &CompiledNat) -> Result<Self, (NatPoolId, PoolError)> {
        let mut out = Self::default();
        for p in &nat.source_pools {
            let pool = SourcePool::from_compiled(p).map_err(|e| (p.id, e))?;
            let i = p.id.index();
            if out.pools.len() <= i {
                out.pools.resize_with(i + 1, || None);
            }
            out.pools[i] = Some(pool);
        }
        Ok(out)
    }

    /// A configured pool's allocator.
    pub fn pool(&self, id: NatPoolId) -> Option<&SourcePool> {
        self.pools.get(id.index())?.as_ref()
    }

    /// A live interface allocator.
    pub fn interface(&self, address: IpAddr) -> Option<&SourcePool> {
        self.interfaces.get(&address)
    }

    fn pool_mut(&mut self, id: NatPoolId) -> Result<&mut SourcePool, NatError> {
        self.pools
            .get_mut(id.index())
            .and_then(Option::as_mut)
            .ok_or(NatError::UnknownPool(id))
    }

    /// Translates a new flow's source through `target`.
    pub fn allocate(
        &mut self,
        target: SnatTarget,
        req: &FlowRequest,
    ) -> Result<SourceMapping, NatError> {
        match target {
            SnatTarget::Pool(id) => self.pool_mut(id)?.allocate(req),
            SnatTarget::Interface(addr) => {
                if addr.is_ipv4() != req.src.is_ipv4() {
                    return Err(NatError::FamilyMismatch);
                }
                self.interfaces
                    .entry(addr)
                    .or_insert_with(|| SourcePool::interface(addr))
                    .allocate(req)
            }
        }
    }

    /// Returns a mapping made through `target`.
    pub fn release(&mut self, target: SnatTarget, m: &SourceMapping) -> Result<(), NatError> {
        match target {
            SnatTarget::Pool(id) => self.pool_mut(id)?.release(m),
            SnatTarget::Interface(addr) => {
                let pool = self
                    .interfaces
                    .get_mut(&addr)
                    .ok_or(NatError::NotAllocated)?;
                pool.release(m)?;
                if pool.ports_in_use() == 0 && pool.addresses_in_use() == 0 {
                    self.interfaces.remove(&addr);
                }
                Ok(())
            }
        }
    }

    /// Claims a mapping made elsewhere (HA peer, previous config); see
    /// [`SourcePool::install`].
    pub fn install(&mut self, target: SnatTarget, m: &SourceMapping) -> Result<(), NatError> {
        match target {
            SnatTarget::Pool(id) => self.pool_mut(id)?.install(m),
            SnatTarget::Interface(addr) => self
                .interfaces
                .entry(addr)
                .or_insert_with(|| SourcePool::interface(addr))
                .install(m),
        }
    }

    /// Ports in use in a pool (0 for an unknown pool).
    pub fn ports_in_use(&self, id: NatPoolId) -> u64 {
        self.pool(id).map_or(0, SourcePool::ports_in_use)
    }

    /// Addresses in use in a pool (0 for an unknown pool).
    pub fn addresses_in_use(&self, id: NatPoolId) -> u64 {
        self.pool(id).map_or(0, SourcePool::addresses_in_use)
    }

    /// Persistent NAT, inbound: the pool and internal endpoint that own
    /// `(public_addr, public_port, protocol)`, searching every persistent
    /// pool that contains `public_addr`.
    pub fn persistent_mapping_for(
        &self,
        public_addr: IpAddr,
        public_port: u16,
        protocol: IpProtocol,
    ) -> Option<(NatPoolId, IpAddr, u16)> {
        self.pools.iter().flatten().find_map(|p| {
            p.persistent_mapping_for(public_addr, public_port, protocol)
                .map(|(a, port)| (p.id(), a, port))
        })
    }
}
