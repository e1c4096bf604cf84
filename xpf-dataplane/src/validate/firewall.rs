//! Stateless firewall filters and policers (`firewall`).
//!
//! Owns: filter names (unique per family), term names (unique within a
//! filter), term matches (prefixes are networks of the filter's family,
//! port ranges in order, DSCP 0-63, `icmp` only in inet filters and `icmp6`
//! only in inet6 filters), each term's policer reference, and policers
//! (names; rates and burst sizes at least 1; a two-rate policer's peak rate
//! and burst at least its committed ones). Interface bindings of filters
//! are checked in `interfaces`.

use super::Validator;
use super::names::{FirstSeen, unknown};
use super::path::Path;
use super::values::{address_family, family_name};
use crate::config::{Filter, FilterMatch, Policer, PolicerKind};
use xpf_runtime::{AddressFamily, IpProtocol};

/// Largest DSCP value (6 bits).
const MAX_DSCP: u8 = 63;

impl Validator<'_> {
    /// Checks `firewall`.
    pub(super) fn check_firewall(&mut self) {
        let firewall = &self.config.firewall;
        let root = Path::root().field("firewall");
        let filters = root.field("filters");
        let (mut inet, mut inet6) = (FirstSeen::default(), FirstSeen::default());
        for (i, filter) in firewall.filters.iter().enumerate() {
            let path = filters.item(&filter.name, i);
            let seen = match filter.family {
                AddressFamily::Inet => &mut inet,
                AddressFamily::Inet6 => &mut inet6,
            };
            let what = format!("{} filter", filter.family);
            self.check_name(seen, &what, &filter.name, &path, i);
            self.check_filter(&path, filter);
        }
        let policers = root.field("policers");
        let mut seen = FirstSeen::default();
        for (i, policer) in firewall.policers.iter().enumerate() {
            let path = policers.item(&policer.name, i);
            self.check_name(&mut seen, "policer", &policer.name, &path, i);
            self.check_policer(&path, policer);
        }
    }

    fn check_filter(&mut self, path: &Path<'_>, filter: &Filter) {
        let symbols = self.symbols;
        let terms = path.field("terms");
        let mut seen = FirstSeen::default();
        for (i, term) in filter.terms.iter().enumerate() {
            let path = terms.item(&term.name, i);
            self.check_name(&mut seen, "term", &term.name, &path, i);
            self.check_filter_match(&path.field("from"), &term.from, filter);
            if let Some(policer) = &term.then.policer
                && !symbols.policers.contains(policer)
            {
                self.error(
                    &path.field("then.policer"),
                    unknown("policer", policer, symbols.policers.names()),
                );
            }
        }
    }

    fn check_filter_match(&mut self, path: &Path<'_>, matches: &FilterMatch, filter: &Filter) {
        let prefixes = [
            ("source-address", &matches.source_address),
            ("destination-address", &matches.destination_address),
        ];
        for (field, prefixes) in prefixes {
            let path = path.field(field);
            for prefix in prefixes {
                self.check_network_prefix(&path, prefix);
                if address_family(prefix.addr()) != filter.family {
                    self.error(
                        &path,
                        format!(
                            "{field} {prefix} is {} but filter {:?} is family {}",
                            family_name(prefix.addr()),
                            filter.name,
                            filter.family
                        ),
                    );
                }
            }
        }
        let (wrong_icmp, right_icmp) = match filter.family {
            AddressFamily::Inet => (IpProtocol::ICMPV6, IpProtocol::ICMP),
            AddressFamily::Inet6 => (IpProtocol::ICMP, IpProtocol::ICMPV6),
        };
        if matches.protocol.contains(&wrong_icmp) {
            self.error(
                &path.field("protocol"),
                format!(
                    "protocol {wrong_icmp} cannot match in {} filter {:?} (use {right_icmp})",
                    filter.family, filter.name
                ),
            );
        }
        self.check_port_ranges(&path.field("source-port"), &matches.source_port);
        self.check_port_ranges(&path.field("destination-port"), &matches.destination_port);
        for dscp in matches.dscp.iter().filter(|d| **d > MAX_DSCP) {
            self.error(
                &path.field("dscp"),
                format!("dscp {dscp} is above {MAX_DSCP}"),
            );
        }
    }

    fn check_policer(&mut self, path: &Path<'_>, policer: &Policer) {
        match policer.kind {
            PolicerKind::SingleRate {
                bandwidth_limit,
                burst_size_limit,
            } => {
                self.check_rate(path, "bandwidth-limit", bandwidth_limit);
                self.check_rate(path, "burst-size-limit", burst_size_limit);
            }
            PolicerKind::TwoRate {
                committed_information_rate: cir,
                committed_burst_size: cbs,
                peak_information_rate: pir,
                peak_burst_size: pbs,
            } => {
                self.check_rate(path, "committed-information-rate", cir);
                self.check_rate(path, "committed-burst-size", cbs);
                self.check_rate(path, "peak-information-rate", pir);
                self.check_rate(path, "peak-burst-size", pbs);
                if pir < cir {
                    self.error(
                        &path.field("peak-information-rate"),
                        format!(
                            "peak-information-rate {pir} is below committed-information-rate {cir}"
                        ),
                    );
                }
                if pbs < cbs {
                    self.error(
                        &path.field("peak-burst-size"),
                        format!("peak-burst-size {pbs} is below committed-burst-size {cbs}"),
                    );
                }
            }
        }
    }

    fn check_rate(&mut self, path: &Path<'_>, field: &str, value: u64) {
        self.check_positive(&path.field(field), field, Some(value));
    }
}
