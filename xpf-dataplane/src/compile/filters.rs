//! Firewall filters (flat term array with per-filter spans) and policers.

use super::ids::IdRegistry;
use super::{allocate, form::*, lookup};
use crate::config::{Config, FilterAction, PolicerKind};
use crate::error::ConfigError;
use xpf_runtime::{FilterId, FilterTermId, PolicerId};

/// Policers, then filters in config order, their terms contiguous.
pub(super) fn compile_filters(
    config: &Config,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    let fw = &config.firewall;
    out.ids.policers = allocate(
        "policers",
        fw.policers.iter().map(|p| p.name.as_str()),
        prev.map(|p| &p.policers),
        u32::from(u16::MAX),
    )?;
    for (i, p) in fw.policers.iter().enumerate() {
        let path = format!("firewall.policers[#{i}]");
        let id = PolicerId(lookup(&out.ids.policers, &p.name, &path, "policer")? as u16);
        let compiled = match p.kind {
            PolicerKind::SingleRate {
                bandwidth_limit,
                burst_size_limit,
            } => CompiledPolicer {
                id,
                name: p.name.clone(),
                cir_bytes: bandwidth_limit / 8,
                cbs_bytes: burst_size_limit,
                pir_bytes: None,
                pbs_bytes: None,
            },
            PolicerKind::TwoRate {
                committed_information_rate,
                committed_burst_size,
                peak_information_rate,
                peak_burst_size,
            } => CompiledPolicer {
                id,
                name: p.name.clone(),
                cir_bytes: committed_information_rate / 8,
                cbs_bytes: committed_burst_size,
                pir_bytes: Some(peak_information_rate / 8),
                pbs_bytes: Some(peak_burst_size),
            },
        };
        out.filters.policers.push(compiled);
    }
    out.filters.policers.sort_by_key(|p| p.id);

    let keys: Vec<String> = fw
        .filters
        .iter()
        .map(|f| format!("{}/{}", f.family, f.name))
        .collect();
    out.ids.filters = allocate(
        "filters",
        keys.iter().map(String::as_str),
        prev.map(|p| &p.filters),
        u32::from(u16::MAX),
    )?;
    let mut filters: Vec<(FilterId, &crate::config::Filter)> = Vec::new();
    for (f, key) in fw.filters.iter().zip(&keys) {
        let path = format!("firewall.filters[{}]", f.name);
        filters.push((
            FilterId(lookup(&out.ids.filters, key, &path, "filter")? as u16),
            f,
        ));
    }
    filters.sort_by_key(|(id, _)| *id);
    for (id, f) in filters {
        let start = out.filters.terms.len() as u32;
        for t in &f.terms {
            let path = format!(
                "firewall.filters[{}].terms[{}].then.policer",
                f.name, t.name
            );
            let policer = match &t.then.policer {
                Some(p) => Some(PolicerId(
                    lookup(&out.ids.policers, p, &path, "policer")? as u16
                )),
                None => None,
            };
            let m = &t.from;
            let term_id = FilterTermId(out.filters.terms.len() as u32 + 1);
            out.filters.terms.push(CompiledTerm {
                id: term_id,
                filter: id,
                name: t.name.clone(),
                source: m.source_address.iter().map(|n| n.trunc()).collect(),
                destination: m.destination_address.iter().map(|n| n.trunc()).collect(),
                protocols: m.protocol.clone(),
                source_ports: m.source_port.clone(),
                destination_ports: m.destination_port.clone(),
                tcp_flags: m
                    .tcp_flags
                    .as_ref()
                    .map(|f| f.alternatives.clone())
                    .unwrap_or_default(),
                dscp: m.dscp.clone(),
                icmp_types: m.icmp_type.clone(),
                action: t.then.action.unwrap_or(FilterAction::Accept),
                count: t.then.count.clone(),
                log: t.then.log,
                policer,
            });
        }
        let count = out.filters.terms.len() as u32 - start;
        out.filters.filters.push(CompiledFilter {
            id,
            name: f.name.clone(),
            family: f.family,
            span: Span { start, count },
        });
    }
    Ok(())
}
