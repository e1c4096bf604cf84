//! The compiler: validated [`Config`] → [`CompiledConfig`].
//!
//! Compilation runs in a fixed order so ids are deterministic: zones,
//! screens, filters and policers, interfaces, applications, schedulers,
//! policies (with address sets), NAT, flow, forwarding, HA. Each section
//! lives in its own module. Ids are allocated through [`ids`] so they stay
//! stable across recompiles; [`compile_with_previous`] takes the previous
//! generation's compiled config for that.
//!
//! The compiler assumes a validated config (it calls
//! [`validate`](crate::validate::validate) first) but never panics on one
//! that slipped through: an unresolvable reference becomes a
//! [`ConfigError`](crate::ConfigError).

pub mod addresses;
pub(crate) mod book_index;
mod filters;
pub mod form;
pub(crate) mod fxhash;
pub mod ids;
pub(crate) mod name_index;
mod nat;
mod network;
mod policies;

pub use form::*;
pub use ids::{IdRegistry, IdSpace};

use crate::apply::Capability;
use crate::error::ConfigError;
use crate::{Config, ConfigErrors};

/// Validates and compiles `config` with fresh ids.
pub fn compile(config: &Config) -> Result<CompiledConfig, ConfigErrors> {
    compile_with_previous(config, None)
}

/// Validates and compiles `config`, keeping the ids `previous` assigned to
/// objects that still exist (see [`ids`]).
pub fn compile_with_previous(
    config: &Config,
    previous: Option<&CompiledConfig>,
) -> Result<CompiledConfig, ConfigErrors> {
    // Validation indexes every address book; the compiler reuses them.
    let books = crate::validate::validate_indexed(config)?;
    compile_indexed(config, previous, books).map_err(ConfigErrors::from)
}

/// Compiles a config that has already been validated.
pub fn compile_validated(
    config: &Config,
    previous: Option<&CompiledConfig>,
) -> Result<CompiledConfig, ConfigError> {
    compile_indexed(config, previous, book_index::Books::new(config))
}

/// [`compile_validated`] with the config's address books indexed already.
fn compile_indexed<'a>(
    config: &'a Config,
    previous: Option<&CompiledConfig>,
    books: book_index::Books<'a>,
) -> Result<CompiledConfig, ConfigError> {
    let prev = previous.map(|p| &p.ids);
    let mut out = CompiledConfig {
        system: CompiledSystem {
            host_name: config.system.host_name.clone().unwrap_or_default(),
            utc_offset_secs: i32::from(config.system.utc_offset_minutes) * 60,
        },
        ..CompiledConfig::default()
    };
    network::compile_zones_and_screens(config, prev, &mut out)?;
    filters::compile_filters(config, prev, &mut out)?;
    network::compile_interfaces(config, prev, &mut out)?;
    policies::compile_applications(config, prev, &mut out)?;
    policies::compile_schedules(config, prev, &mut out)?;
    policies::compile_policies(config, books, prev, &mut out)?;
    nat::compile_nat(config, prev, &mut out)?;
    network::compile_flow(config, &mut out);
    network::compile_forwarding(config, &mut out)?;
    network::compile_ha(config, &mut out);
    Ok(out)
}

/// Allocates an id space, mapping exhaustion to a config error.
fn allocate<K: AsRef<str> + Into<String>>(
    what: &str,
    keys: impl IntoIterator<Item = K>,
    previous: Option<&IdSpace>,
    max: u32,
) -> Result<IdSpace, ConfigError> {
    IdSpace::allocate(keys, previous, max).map_err(|e| {
        ConfigError::new(
            what,
            format!("more than {} {what} (id space exhausted)", e.max),
        )
    })
}

/// [`allocate`], also returning each key's id in input order.
fn allocate_ordered<K: AsRef<str> + Into<String>>(
    what: &str,
    keys: impl IntoIterator<Item = K>,
    previous: Option<&IdSpace>,
    max: u32,
) -> Result<(IdSpace, Vec<u32>), ConfigError> {
    IdSpace::allocate_ordered(keys, previous, max).map_err(|e| {
        ConfigError::new(
            what,
            format!("more than {} {what} (id space exhausted)", e.max),
        )
    })
}

/// Looks up an id that validation guarantees exists.
fn lookup(space: &IdSpace, key: &str, path: &str, what: &str) -> Result<u32, ConfigError> {
    space
        .get(key)
        .ok_or_else(|| ConfigError::new(path, format!("unknown {what} {key:?}")))
}

impl CompiledConfig {
    /// The capabilities a backend needs to run this config, sorted.
    pub fn required_capabilities(&self) -> Vec<Capability> {
        use std::collections::BTreeSet;
        let mut caps = BTreeSet::new();
        if !self.interfaces.is_empty() {
            caps.insert(Capability::Forwarding);
        }
        let v6 = self
            .interfaces
            .iter()
            .any(|i| i.addresses.iter().any(|a| a.addr().is_ipv6()))
            || self
                .forwarding
                .routes
                .iter()
                .any(|r| r.destination.addr().is_ipv6());
        if v6 {
            caps.insert(Capability::Ipv6);
        }
        if self.interfaces.iter().any(|i| i.vlan.is_some()) {
            caps.insert(Capability::Vlan);
        }
        if !self.policies.zone_pairs.is_empty() {
            caps.insert(Capability::ZonePolicies);
        }
        if self.policies.global.count > 0 {
            caps.insert(Capability::GlobalPolicies);
        }
        let rules = &self.policies.rules;
        if rules.iter().any(|r| r.schedule.is_some()) {
            caps.insert(Capability::Schedulers);
        }
        if rules
            .iter()
            .any(|r| r.action == crate::config::PolicyAction::Reject)
        {
            caps.insert(Capability::PolicyReject);
        }
        if self
            .zones
            .iter()
            .any(|z| !z.host_services.is_empty() || !z.host_protocols.is_empty())
        {
            caps.insert(Capability::HostInbound);
        }
        for r in &self.nat.source_rules {
            match r.action {
                CompiledSourceAction::Interface => {
                    caps.insert(Capability::SourceNatInterface);
                }
                CompiledSourceAction::Pool(_) => {
                    caps.insert(Capability::SourceNatPool);
                }
                CompiledSourceAction::Off => {}
            }
        }
        for p in &self.nat.source_pools {
            if p.port_overload == crate::config::PortOverload::Off {
                caps.insert(Capability::SourceNatAddressOnly);
            }
            if p.persistent {
                caps.insert(Capability::PersistentNat);
            }
            if p.address_persistent {
                caps.insert(Capability::AddressPersistentNat);
            }
        }
        if self.nat.destination_rules.iter().any(|r| r.pool.is_some()) {
            caps.insert(Capability::DestinationNat);
        }
        if !self.nat.static_rules.is_empty() {
            caps.insert(Capability::StaticNat);
        }
        let used_screens: Vec<&CompiledScreen> = self
            .screens
            .iter()
            .filter(|s| self.zones.iter().any(|z| z.screen == Some(s.id)))
            .collect();
        for s in used_screens {
            if s.land
                || s.syn_fin
                || s.tcp_no_flag
                || s.fin_no_ack
                || s.winnuke
                || s.syn_frag
                || s.ping_death
                || s.tear_drop
                || s.source_route
            {
                caps.insert(Capability::Screens);
            }
            if s.syn_flood_pps.is_some() || s.icmp_flood_pps.is_some() || s.udp_flood_pps.is_some()
            {
                caps.insert(Capability::FloodScreens);
            }
            if s.source_session_limit.is_some() || s.destination_session_limit.is_some() {
                caps.insert(Capability::SessionLimits);
            }
        }
        let bound_filters = self.interfaces.iter().any(|i| {
            i.filter_input_v4.is_some()
                || i.filter_output_v4.is_some()
                || i.filter_input_v6.is_some()
                || i.filter_output_v6.is_some()
        });
        if bound_filters {
            caps.insert(Capability::Filters);
            if self.filters.terms.iter().any(|t| t.policer.is_some()) {
                caps.insert(Capability::Policers);
            }
        }
        if self
            .zones
            .iter()
            .any(|z| z.tcp_window_check == crate::config::TcpWindowCheck::Strict)
            && !rules.is_empty()
        {
            caps.insert(Capability::TcpWindowTracking);
        }
        if self.flow.tcp_mss.is_some() {
            caps.insert(Capability::TcpMssClamp);
        }
        if self.ha.is_some() {
            caps.insert(Capability::HighAvailability);
        }
        caps.into_iter().collect()
    }
}
