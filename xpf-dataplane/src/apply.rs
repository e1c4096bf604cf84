//! `ApplyResult`: what a control plane needs to label what it reads back
//! from a backend after a successful apply, and the backend's capabilities.
//!
//! Built from a [`CompiledConfig`] by [`ApplyResult::from_compiled`]. It owns
//! all its data (no shared references into the backend), so readers get
//! independent clones: mutating a returned `ApplyResult` never affects the
//! backend or another reader.

use crate::compile::CompiledConfig;
use crate::config::MacAddr;
use crate::error::DataplaneError;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use xpf_runtime::{
    AddressFamily, AppId, FilterId, InterfaceId, NatPoolId, NatRuleId, PolicyRuleId,
    RedundancyGroupId, ScheduleSlot, ZoneId,
};

/// The result of a successful apply.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplyResult {
    /// Increases by one on every successful apply (first apply = 1).
    pub generation: u64,
    /// Zone ids by name.
    pub zone_ids: BTreeMap<String, ZoneId>,
    /// Interfaces the backend manages.
    pub managed_interfaces: Vec<ManagedInterface>,
    /// Filter ids by `family/name` (e.g. `inet/protect-re`).
    pub filter_ids: BTreeMap<String, FilterId>,
    /// Filter term spans, sorted by filter id.
    pub filter_spans: Vec<FilterSpan>,
    /// NAT rule counter ids by `kind/rule-set/rule` (`source/rs1/r1`).
    pub nat_counter_ids: BTreeMap<String, NatRuleId>,
    /// NAT pool ids by `kind/name` (`source/pool1`, `destination/web`).
    pub pool_ids: BTreeMap<String, NatPoolId>,
    /// Policy names by rule id.
    pub policy_names: BTreeMap<PolicyRuleId, PolicyName>,
    /// Application names by id.
    pub app_names: BTreeMap<AppId, String>,
    /// Compiled schedule slots.
    pub schedule_slots: Vec<ScheduleSlotInfo>,
    /// Schedule slot of every scheduled rule.
    pub policy_schedule_slots: BTreeMap<PolicyRuleId, ScheduleSlot>,
    /// What the backend supports.
    pub capabilities: Capabilities,
}

/// An interface as the backend manages it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagedInterface {
    /// Name.
    pub name: String,
    /// Compiled id.
    pub id: InterfaceId,
    /// Zone.
    pub zone: ZoneId,
    /// MAC (zero when the backend uses the device's).
    pub mac: MacAddr,
    /// Addresses.
    pub addresses: Vec<IpNet>,
    /// VLAN.
    pub vlan: Option<u16>,
    /// Redundancy group.
    pub redundancy_group: Option<RedundancyGroupId>,
}

/// A filter's terms in the flat term array.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterSpan {
    /// Filter id.
    pub filter: FilterId,
    /// Filter name.
    pub name: String,
    /// Family.
    pub family: AddressFamily,
    /// First term index.
    pub rule_start: u32,
    /// Number of terms.
    pub rule_count: u32,
    /// Term names in order.
    pub term_names: Vec<String>,
}

/// The policy a rule came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyName {
    /// `from->to` or `global`.
    pub scope: String,
    /// Policy name.
    pub policy: String,
    /// The application the rule was expanded for (`any` when none).
    pub application: String,
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.policy)
    }
}

/// A compiled scheduler slot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSlotInfo {
    /// Slot.
    pub slot: ScheduleSlot,
    /// Scheduler name.
    pub scheduler: String,
    /// Rules gated by it.
    pub rules: Vec<PolicyRuleId>,
}

/// A dataplane feature a config can need and a backend can lack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Forwarding between managed interfaces.
    Forwarding,
    /// IPv6.
    Ipv6,
    /// 802.1Q VLAN units.
    Vlan,
    /// Zone-pair policies.
    ZonePolicies,
    /// Global policies.
    GlobalPolicies,
    /// Scheduled policies.
    Schedulers,
    /// Policy `reject` (RST / ICMP unreachable).
    PolicyReject,
    /// Host-inbound traffic.
    HostInbound,
    /// Source NAT to the interface address.
    SourceNatInterface,
    /// Source NAT from pools with port overloading.
    SourceNatPool,
    /// Source pools without port translation.
    SourceNatAddressOnly,
    /// Source NAT of protocols without ports (AH, ESP, GRE, ...): an
    /// address hold scoped to the protocol (docs/nat-allocation.md, section 6).
    SourceNatPortless,
    /// Persistent NAT.
    PersistentNat,
    /// Address-persistent pools.
    AddressPersistentNat,
    /// Destination NAT.
    DestinationNat,
    /// Static NAT.
    StaticNat,
    /// IDS screens (land, syn-fin, ...).
    Screens,
    /// Flood screens.
    FloodScreens,
    /// Session limits.
    SessionLimits,
    /// Firewall filters.
    Filters,
    /// Policers.
    Policers,
    /// TCP sequence/window tracking.
    TcpWindowTracking,
    /// TCP MSS clamping.
    TcpMssClamp,
    /// IP fragments.
    Fragments,
    /// IPv6 extension-header chains (hop-by-hop, routing, fragment,
    /// destination options, AH / ESP) walked to the transport header.
    Ipv6ExtensionHeaders,
    /// HA redundancy groups and session sync.
    HighAvailability,
    /// Event stream.
    Events,
    /// Session deltas for HA.
    SessionDeltas,
}

impl Capability {
    /// Every capability.
    pub const ALL: &'static [Capability] = &[
        Self::Forwarding,
        Self::Ipv6,
        Self::Vlan,
        Self::ZonePolicies,
        Self::GlobalPolicies,
        Self::Schedulers,
        Self::PolicyReject,
        Self::HostInbound,
        Self::SourceNatInterface,
        Self::SourceNatPool,
        Self::SourceNatAddressOnly,
        Self::SourceNatPortless,
        Self::PersistentNat,
        Self::AddressPersistentNat,
        Self::DestinationNat,
        Self::StaticNat,
        Self::Screens,
        Self::FloodScreens,
        Self::SessionLimits,
        Self::Filters,
        Self::Policers,
        Self::TcpWindowTracking,
        Self::TcpMssClamp,
        Self::Fragments,
        Self::Ipv6ExtensionHeaders,
        Self::HighAvailability,
        Self::Events,
        Self::SessionDeltas,
    ];

    /// Kebab-case name.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Whether a capability is supported, and why not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapabilityStatus {
    /// Supported.
    pub supported: bool,
    /// Why not (empty when supported).
    pub reason: String,
}

/// A backend's capabilities.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Status per capability; a capability absent from the map is unsupported.
    pub entries: BTreeMap<Capability, CapabilityStatus>,
}

impl Capabilities {
    /// Every capability supported.
    pub fn all_supported() -> Self {
        let entries = Capability::ALL
            .iter()
            .map(|c| {
                (
                    *c,
                    CapabilityStatus {
                        supported: true,
                        reason: String::new(),
                    },
                )
            })
            .collect();
        Self { entries }
    }

    /// Marks `cap` unsupported with `reason`.
    pub fn unsupported(mut self, cap: Capability, reason: impl Into<String>) -> Self {
        self.entries.insert(
            cap,
            CapabilityStatus {
                supported: false,
                reason: reason.into(),
            },
        );
        self
    }

    /// True when `cap` is supported.
    pub fn supports(&self, cap: Capability) -> bool {
        self.entries.get(&cap).is_some_and(|s| s.supported)
    }

    /// Unsupported capabilities with their reasons.
    pub fn unsupported_list(&self) -> Vec<(Capability, String)> {
        Capability::ALL
            .iter()
            .filter(|c| !self.supports(**c))
            .map(|c| {
                let reason = self
                    .entries
                    .get(c)
                    .map(|s| s.reason.clone())
                    .unwrap_or_else(|| "not reported by the backend".into());
                (*c, reason)
            })
            .collect()
    }

    /// Refuses a compiled config that needs an unsupported capability: the
    /// error names the first such capability and its reason.
    pub fn check(&self, compiled: &CompiledConfig) -> Result<(), DataplaneError> {
        for cap in compiled.required_capabilities() {
            if !self.supports(cap) {
                let reason = self
                    .entries
                    .get(&cap)
                    .map(|s| s.reason.clone())
                    .unwrap_or_else(|| "not reported by the backend".into());
                return Err(DataplaneError::unsupported(cap.name(), reason));
            }
        }
        Ok(())
    }
}

impl ApplyResult {
    /// Builds the result for `compiled` at `generation` with `capabilities`.
    pub fn from_compiled(
        compiled: &CompiledConfig,
        generation: u64,
        capabilities: Capabilities,
    ) -> Self {
        let zone_ids = compiled
            .zones
            .iter()
            .map(|z| (z.name.clone(), z.id))
            .collect();
        let managed_interfaces = compiled
            .interfaces
            .iter()
            .map(|i| ManagedInterface {
                name: i.name.clone(),
                id: i.id,
                zone: i.zone,
                mac: i.mac,
                addresses: i.addresses.clone(),
                vlan: i.vlan,
                redundancy_group: i.redundancy_group,
            })
            .collect();
        let filter_ids = compiled
            .filters
            .filters
            .iter()
            .map(|f| (format!("{}/{}", f.family, f.name), f.id))
            .collect();
        let filter_spans = compiled
            .filters
            .filters
            .iter()
            .map(|f| FilterSpan {
                filter: f.id,
                name: f.name.clone(),
                family: f.family,
                rule_start: f.span.start,
                rule_count: f.span.count,
                term_names: compiled.filters.terms[f.span.range()]
                    .iter()
                    .map(|t| t.name.clone())
                    .collect(),
            })
            .collect();
        let nat = &compiled.nat;
        let nat_counter_ids = nat
            .source_rules
            .iter()
            .map(|r| (format!("source/{}", r.name), r.id))
            .chain(
                nat.destination_rules
                    .iter()
                    .map(|r| (format!("destination/{}", r.name), r.id)),
            )
            .chain(
                nat.static_rules
                    .iter()
                    .map(|r| (format!("static/{}", r.name), r.id)),
            )
            .collect();
        let pool_ids = nat
            .source_pools
            .iter()
            .map(|p| (format!("source/{}", p.name), p.id))
            .chain(
                nat.destination_pools
                    .iter()
                    .map(|p| (format!("destination/{}", p.name), p.id)),
            )
            .collect();
        let app_by_id: BTreeMap<AppId, &str> = compiled
            .applications
            .iter()
            .map(|a| (a.id, a.name.as_str()))
            .collect();
        let policy_names = compiled
            .policies
            .rules
            .iter()
            .map(|r| {
                let scope = r.scope.to_string();
                (
                    r.id,
                    PolicyName {
                        scope,
                        policy: r.policy.to_string(),
                        application: app_by_id.get(&r.app).copied().unwrap_or("any").to_string(),
                    },
                )
            })
            .collect();
        let app_names = compiled
            .applications
            .iter()
            .map(|a| (a.id, a.name.clone()))
            .collect();
        let schedule_slots = compiled
            .schedules
            .iter()
            .map(|s| ScheduleSlotInfo {
                slot: s.slot,
                scheduler: s.name.clone(),
                rules: compiled
                    .policies
                    .rules
                    .iter()
                    .filter(|r| r.schedule == Some(s.slot))
                    .map(|r| r.id)
                    .collect(),
            })
            .collect();
        let policy_schedule_slots = compiled
            .policies
            .rules
            .iter()
            .filter_map(|r| r.schedule.map(|s| (r.id, s)))
            .collect();
        Self {
            generation,
            zone_ids,
            managed_interfaces,
            filter_ids,
            filter_spans,
            nat_counter_ids,
            pool_ids,
            policy_names,
            app_names,
            schedule_slots,
            policy_schedule_slots,
            capabilities,
        }
    }

    /// The zone name for an id.
    pub fn zone_name(&self, id: ZoneId) -> Option<&str> {
        self.zone_ids
            .iter()
            .find(|(_, z)| **z == id)
            .map(|(n, _)| n.as_str())
    }

    /// The interface name for an id.
    pub fn interface_name(&self, id: InterfaceId) -> Option<&str> {
        self.managed_interfaces
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.name.as_str())
    }

    /// The NAT rule name (`kind/rule-set/rule`) for a counter id.
    pub fn nat_rule_name(&self, id: NatRuleId) -> Option<&str> {
        self.nat_counter_ids
            .iter()
            .find(|(_, r)| **r == id)
            .map(|(n, _)| n.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use crate::compile::compile;

    fn compiled() -> CompiledConfig {
        let cfg = Config::from_toml_str(
            r#"
[[interfaces]]
name = "eth0"
zone = "trust"
addresses = ["198.18.0.1/24"]
[[interfaces]]
name = "eth1"
zone = "untrust"
addresses = ["198.19.0.1/24"]
[[zones]]
name = "trust"
[[zones]]
name = "untrust"
[[security.policies]]
from-zone = "trust"
to-zone = "untrust"
[[security.policies.policies]]
name = "web"
match = { application = ["junos-http"] }
then = { action = "permit" }
[[security.nat.static.rule-sets]]
name = "rs"
from = { zone = ["untrust"] }
[[security.nat.static.rule-sets.rules]]
name = "srv"
destination-address = "198.19.0.32/28"
prefix = "198.18.0.32/28"
"#,
        )
        .unwrap();
        compile(&cfg).unwrap()
    }

    #[test]
    fn clones_are_independent_of_the_original() {
        let original = ApplyResult::from_compiled(&compiled(), 3, Capabilities::all_supported());
        let mut copy = original.clone();
        copy.zone_ids.insert("evil".into(), ZoneId(99));
        copy.managed_interfaces[0].addresses.clear();
        copy.policy_names.clear();
        copy.capabilities = Capabilities::default();
        assert!(!original.zone_ids.contains_key("evil"));
        assert_eq!(original.managed_interfaces[0].addresses.len(), 1);
        assert_eq!(original.policy_names.len(), 1);
        assert!(original.capabilities.supports(Capability::StaticNat));
        assert_eq!(original.generation, 3);
    }

    #[test]
    fn names_resolve_ids_back() {
        let r = ApplyResult::from_compiled(&compiled(), 1, Capabilities::all_supported());
        let zone = r.zone_ids["untrust"];
        assert_eq!(r.zone_name(zone), Some("untrust"));
        let nat = r.nat_counter_ids["static/rs/srv"];
        assert_eq!(r.nat_rule_name(nat), Some("static/rs/srv"));
        let (rule, name) = r.policy_names.iter().next().unwrap();
        assert_eq!(name.policy, "web");
        assert_eq!(name.scope, "trust->untrust");
        assert_eq!(name.application, "junos-http");
        assert!(rule.get() > 0);
    }

    #[test]
    fn a_config_needing_an_unsupported_capability_is_refused_with_the_reason() {
        let caps = Capabilities::all_supported()
            .unsupported(Capability::StaticNat, "static NAT lands in a later release");
        let err = caps.check(&compiled()).unwrap_err();
        match err {
            DataplaneError::Unsupported { capability, reason } => {
                assert_eq!(capability, "static-nat");
                assert!(reason.contains("later release"));
            }
            other => panic!("expected Unsupported, got {other}"),
        }
        assert!(Capabilities::all_supported().check(&compiled()).is_ok());
        let listed = caps.unsupported_list();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].0, Capability::StaticNat);
    }
}
