//! Zones, screens, interfaces, flow options, forwarding and HA.

use super::ids::IdRegistry;
use super::{allocate, form::*, lookup};
use crate::config::{Config, HostProtocol, HostService, MacAddr};
use crate::error::ConfigError;
use ipnet::IpNet;
use std::net::IpAddr;
use xpf_runtime::{FilterId, InterfaceId, RedundancyGroupId, ScreenProfileId, ZoneId};

const ALL_SERVICES: &[HostService] = &[
    HostService::Ping,
    HostService::Traceroute,
    HostService::Ssh,
    HostService::Telnet,
    HostService::Http,
    HostService::Https,
    HostService::Dns,
    HostService::Ntp,
    HostService::Snmp,
    HostService::Dhcp,
    HostService::Dhcpv6,
    HostService::Ike,
    HostService::Netconf,
    HostService::Syslog,
];

const ALL_PROTOCOLS: &[HostProtocol] = &[
    HostProtocol::Bgp,
    HostProtocol::Ospf,
    HostProtocol::Ospf3,
    HostProtocol::Bfd,
    HostProtocol::Vrrp,
    HostProtocol::Pim,
    HostProtocol::RouterDiscovery,
];

fn expand<T: Copy + Ord>(items: &[T], all_marker: T, all: &[T]) -> Vec<T> {
    let mut v: Vec<T> = if items.contains(&all_marker) {
        all.to_vec()
    } else {
        items.to_vec()
    };
    v.sort();
    v.dedup();
    v
}

/// Zones and screen profiles.
pub(super) fn compile_zones_and_screens(
    config: &Config,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    let screens = &config.security.screen.ids_options;
    out.ids.screens = allocate(
        "screen profiles",
        screens.iter().map(|s| s.name.as_str()),
        prev.map(|p| &p.screens),
        u32::from(u16::MAX),
    )?;
    for (i, s) in screens.iter().enumerate() {
        let path = format!("security.screen.ids-options[#{i}]");
        out.screens.push(CompiledScreen {
            id: ScreenProfileId(lookup(&out.ids.screens, &s.name, &path, "screen")? as u16),
            name: s.name.clone(),
            land: s.tcp.land,
            syn_fin: s.tcp.syn_fin,
            tcp_no_flag: s.tcp.tcp_no_flag,
            fin_no_ack: s.tcp.fin_no_ack,
            winnuke: s.tcp.winnuke,
            syn_frag: s.tcp.syn_frag,
            ping_death: s.icmp.ping_death,
            tear_drop: s.ip.tear_drop,
            source_route: s.ip.source_route_option,
            syn_flood_pps: s.tcp.syn_flood_threshold,
            icmp_flood_pps: s.icmp.flood_threshold,
            udp_flood_pps: s.udp.flood_threshold,
            source_session_limit: s.limit_session.source_ip_based,
            destination_session_limit: s.limit_session.destination_ip_based,
        });
    }
    out.screens.sort_by_key(|s| s.id);

    out.ids.zones = allocate(
        "zones",
        config.zones.iter().map(|z| z.name.as_str()),
        prev.map(|p| &p.zones),
        u32::from(u16::MAX),
    )?;
    for z in &config.zones {
        let path = format!("zones[{}]", z.name);
        let screen = match &z.screen {
            Some(s) => Some(ScreenProfileId(lookup(
                &out.ids.screens,
                s,
                &format!("{path}.screen"),
                "screen",
            )? as u16)),
            None => None,
        };
        out.zones.push(CompiledZone {
            id: ZoneId(lookup(&out.ids.zones, &z.name, &path, "zone")? as u16),
            name: z.name.clone(),
            screen,
            host_services: expand(
                &z.host_inbound_traffic.system_services,
                HostService::All,
                ALL_SERVICES,
            ),
            host_protocols: expand(
                &z.host_inbound_traffic.protocols,
                HostProtocol::All,
                ALL_PROTOCOLS,
            ),
            tcp_rst: z.tcp_rst,
            tcp_window_check: z.tcp_window_check,
        });
    }
    out.zones.sort_by_key(|z| z.id);
    Ok(())
}

/// Looks up a zone id by name.
pub(super) fn zone_id(out: &CompiledConfig, name: &str, path: &str) -> Result<ZoneId, ConfigError> {
    lookup(&out.ids.zones, name, path, "zone").map(|v| ZoneId(v as u16))
}

/// Looks up an interface id by name.
pub(super) fn interface_id(
    out: &CompiledConfig,
    name: &str,
    path: &str,
) -> Result<InterfaceId, ConfigError> {
    lookup(&out.ids.interfaces, name, path, "interface").map(|v| InterfaceId(v as u16))
}

/// Interfaces (after zones and filters).
pub(super) fn compile_interfaces(
    config: &Config,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    out.ids.interfaces = allocate(
        "interfaces",
        config.interfaces.iter().map(|i| i.name.as_str()),
        prev.map(|p| &p.interfaces),
        u32::from(u16::MAX),
    )?;
    for i in &config.interfaces {
        let path = format!("interfaces[{}]", i.name);
        let filter = |name: &Option<String>,
                      family: &str,
                      field: &str|
         -> Result<Option<FilterId>, ConfigError> {
            match name {
                Some(n) => lookup(
                    &out.ids.filters,
                    &format!("{family}/{n}"),
                    &format!("{path}.filter.{field}"),
                    "filter",
                )
                .map(|v| Some(FilterId(v as u16))),
                None => Ok(None),
            }
        };
        let compiled = CompiledInterface {
            id: interface_id(out, &i.name, &path)?,
            name: i.name.clone(),
            // An interface without a zone (e.g. a fabric link) is managed
            // but belongs to no security zone: traffic on it matches no policy.
            zone: if i.zone.is_empty() {
                ZoneId::NONE
            } else {
                zone_id(out, &i.zone, &format!("{path}.zone"))?
            },
            mac: i.mac.unwrap_or(MacAddr([0; 6])),
            addresses: i.addresses.clone(),
            vlan: i.vlan,
            mtu: i.mtu.unwrap_or(1500),
            filter_input_v4: filter(&i.filter.input, "inet", "input")?,
            filter_output_v4: filter(&i.filter.output, "inet", "output")?,
            filter_input_v6: filter(&i.filter.input6, "inet6", "input6")?,
            filter_output_v6: filter(&i.filter.output6, "inet6", "output6")?,
            redundancy_group: i.redundancy_group.map(RedundancyGroupId),
        };
        out.interfaces.push(compiled);
    }
    out.interfaces.sort_by_key(|i| i.id);
    Ok(())
}

/// Flow options with defaults.
pub(super) fn compile_flow(config: &Config, out: &mut CompiledConfig) {
    let f = &config.security.flow;
    let t = &f.timeouts;
    let d = CompiledFlow::default();
    out.flow = CompiledFlow {
        tcp_initial_secs: t.tcp_initial.unwrap_or(d.tcp_initial_secs),
        tcp_established_secs: t.tcp_established.unwrap_or(d.tcp_established_secs),
        tcp_closing_secs: t.tcp_closing.unwrap_or(d.tcp_closing_secs),
        tcp_time_wait_secs: t.tcp_time_wait.unwrap_or(d.tcp_time_wait_secs),
        udp_secs: t.udp.unwrap_or(d.udp_secs),
        icmp_secs: t.icmp.unwrap_or(d.icmp_secs),
        other_secs: t.other.unwrap_or(d.other_secs),
        tcp_mss: f.tcp_mss,
        session_capacity: f.session_capacity.unwrap_or(d.session_capacity),
    };
}

/// Connected routes from interface addresses, then static routes, sorted
/// longest prefix first; neighbours sorted by address. A static route with
/// the same destination as a connected one is shadowed by it (connected
/// routes have preference 0, as in Junos).
pub(super) fn compile_forwarding(
    config: &Config,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    let mut routes: Vec<CompiledRoute> = Vec::new();
    for i in &out.interfaces {
        for a in &i.addresses {
            let destination = a.trunc();
            if !routes.iter().any(|r| r.destination == destination) {
                routes.push(CompiledRoute {
                    destination,
                    target: RouteTarget::Connected { interface: i.id },
                });
            }
        }
    }
    for r in &config.forwarding.routes {
        let path = format!("forwarding.routes[{}]", r.destination);
        let destination = r.destination.trunc();
        if routes.iter().any(|x| x.destination == destination) {
            continue;
        }
        let target = if r.discard {
            RouteTarget::Discard
        } else {
            let interface = match (&r.interface, r.next_hop) {
                (Some(name), _) => interface_id(out, name, &format!("{path}.interface"))?,
                (None, Some(gw)) => connected_interface(out, gw).ok_or_else(|| {
                    ConfigError::new(
                        format!("{path}.next-hop"),
                        format!("next hop {gw} is not on a connected subnet"),
                    )
                })?,
                (None, None) => {
                    return Err(ConfigError::new(
                        path,
                        "route needs next-hop, interface or discard",
                    ));
                }
            };
            match r.next_hop {
                Some(gateway) => RouteTarget::NextHop { gateway, interface },
                None => RouteTarget::Connected { interface },
            }
        };
        routes.push(CompiledRoute {
            destination,
            target,
        });
    }
    routes.sort_by(|a, b| {
        b.destination
            .prefix_len()
            .cmp(&a.destination.prefix_len())
            .then(a.destination.cmp(&b.destination))
    });
    let mut neighbours = Vec::new();
    for n in &config.forwarding.neighbours {
        let path = format!("forwarding.neighbours[{}].interface", n.address);
        neighbours.push(CompiledNeighbour {
            address: n.address,
            mac: n.mac,
            interface: interface_id(out, &n.interface, &path)?,
        });
    }
    neighbours.sort_by_key(|n| n.address);
    out.forwarding = CompiledForwarding { routes, neighbours };
    Ok(())
}

fn connected_interface(out: &CompiledConfig, addr: IpAddr) -> Option<InterfaceId> {
    out.interfaces
        .iter()
        .filter_map(|i| {
            i.addresses
                .iter()
                .filter(|n: &&IpNet| n.contains(&addr))
                .map(|n| n.prefix_len())
                .max()
                .map(|len| (len, i.id))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, id)| id)
}

/// HA settings, priorities seen from this node.
pub(super) fn compile_ha(config: &Config, out: &mut CompiledConfig) {
    out.ha = config.ha.as_ref().map(|ha| CompiledHa {
        node_id: ha.node_id,
        redundancy_groups: ha
            .redundancy_groups
            .iter()
            .map(|g| {
                let (local, peer) = if ha.node_id == 0 {
                    (g.node0_priority, g.node1_priority)
                } else {
                    (g.node1_priority, g.node0_priority)
                };
                CompiledRedundancyGroup {
                    id: RedundancyGroupId(g.id),
                    local_priority: local,
                    peer_priority: peer,
                    preempt: g.preempt,
                }
            })
            .collect(),
        fabric_links: ha
            .fabric_links
            .iter()
            .map(|f| CompiledFabricLink {
                id: f.id,
                interface: f.interface.clone(),
                local_address: f.local_address,
                peer_address: f.peer_address,
            })
            .collect(),
        heartbeat_interval_ms: ha.heartbeat_interval_ms.unwrap_or(1000),
        heartbeat_threshold: ha.heartbeat_threshold.unwrap_or(3),
    });
}
