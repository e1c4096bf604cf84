//! Applications, schedulers and security policies.
//!
//! Policies are expanded: one [`CompiledRule`] per (policy, application,
//! application term), in config order, so a backend evaluates a flat rule
//! list with one protocol/port match per rule. A rule's stable key is
//! `scope/policy/application/term` (scope `from->to` or `global`), so its id
//! survives edits elsewhere in the config.

use super::addresses::{AddressResolver, Resolved};
use super::book_index::Books;
use super::fxhash::FxHashMap;
use super::ids::IdRegistry;
use super::network::zone_id;
use super::{allocate, allocate_ordered, form::*, lookup};
use crate::config::predefined::predefined_applications;
use crate::config::{Application, Config, Policy, PortRange};
use crate::error::ConfigError;
use std::sync::Arc;
use xpf_runtime::{AddressSetId, AppId, PolicyRuleId, ScheduleSlot, ZoneId};

/// Every predefined application then custom ones, ids in that order.
pub(super) fn compile_applications(
    config: &Config,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    let predefined = predefined_applications();
    let custom = &config.applications.applications;
    let all: Vec<(&Application, bool)> = predefined
        .iter()
        .map(|a| (a, true))
        .chain(custom.iter().map(|a| (a, false)))
        .collect();
    out.ids.applications = allocate(
        "applications",
        all.iter().map(|(a, _)| a.name.as_str()),
        prev.map(|p| &p.applications),
        u32::from(u16::MAX),
    )?;
    for (app, predefined) in all {
        let path = format!("applications.applications[{}]", app.name);
        out.applications.push(CompiledApplication {
            id: AppId(lookup(&out.ids.applications, &app.name, &path, "application")? as u16),
            name: app.name.clone(),
            predefined,
            terms: app_terms(app),
        });
    }
    out.applications.sort_by_key(|a| a.id);
    Ok(())
}

fn app_terms(app: &Application) -> Vec<AppMatch> {
    let term = |name: &str,
                protocol,
                sport: Option<PortRange>,
                dport: Option<PortRange>,
                icmp_type,
                icmp_code,
                timeout| AppMatch {
        term: Arc::from(name),
        protocol,
        source_ports: sport.unwrap_or(PortRange::ANY),
        destination_ports: dport.unwrap_or(PortRange::ANY),
        icmp_type,
        icmp_code,
        timeout_secs: timeout,
    };
    if app.terms.is_empty() {
        vec![term(
            "inline",
            app.protocol,
            app.source_port,
            app.destination_port,
            app.icmp_type,
            app.icmp_code,
            app.inactivity_timeout,
        )]
    } else {
        app.terms
            .iter()
            .map(|t| {
                term(
                    &t.name,
                    t.protocol,
                    t.source_port,
                    t.destination_port,
                    t.icmp_type,
                    t.icmp_code,
                    t.inactivity_timeout.or(app.inactivity_timeout),
                )
            })
            .collect()
    }
}

/// Every scheduler, slots in config order.
pub(super) fn compile_schedules(
    config: &Config,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    out.ids.schedules = allocate(
        "schedulers",
        config.schedulers.iter().map(|s| s.name.as_str()),
        prev.map(|p| &p.schedules),
        u32::from(u16::MAX),
    )?;
    for s in &config.schedulers {
        let path = format!("schedulers[{}]", s.name);
        let mut windows: Vec<(u16, u16)> = Vec::new();
        for w in &s.windows {
            let days: Vec<u16> = if w.days.is_empty() {
                (0..7).collect()
            } else {
                w.days.iter().map(|d| d.index()).collect()
            };
            for d in days {
                let base = d * 1440;
                let (a, b) = (w.start.minutes, w.stop.minutes);
                if a < b {
                    windows.push((base + a, base + b));
                } else if a > b {
                    windows.push((base + a, base + 1440));
                    let next = ((d + 1) % 7) * 1440;
                    if b > 0 {
                        windows.push((next, next + b));
                    }
                }
            }
        }
        windows.sort();
        let mut merged: Vec<(u16, u16)> = Vec::new();
        for (a, b) in windows {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let mut date_ranges: Vec<(i64, i64)> = s
            .date_ranges
            .iter()
            .map(|r| (r.start.unix_seconds(), r.stop.unix_seconds()))
            .collect();
        date_ranges.sort();
        out.schedules.push(CompiledSchedule {
            slot: ScheduleSlot(lookup(&out.ids.schedules, &s.name, &path, "scheduler")? as u16),
            name: s.name.clone(),
            date_ranges,
            week_windows: merged,
        });
    }
    out.schedules.sort_by_key(|s| s.slot);
    Ok(())
}

/// The identity of a policy side: its sorted, de-duplicated entries. The
/// common shapes (one or two names) are stored inline.
#[derive(PartialEq, Eq, Hash)]
enum SideKey {
    One(Resolved),
    Two(Resolved, Resolved),
    Many(Box<[Resolved]>),
}

impl SideKey {
    fn new(resolved: &[Resolved]) -> Self {
        match *resolved {
            [a] => Self::One(a),
            [a, b] => Self::Two(a, b),
            _ => Self::Many(resolved.into()),
        }
    }
}

/// A rule before ids are assigned.
struct Draft {
    policy: Arc<str>,
    scope: Arc<RuleScope>,
    from_zones: Arc<[ZoneId]>,
    to_zones: Arc<[ZoneId]>,
    source: usize,
    source_negate: bool,
    destination: usize,
    destination_negate: bool,
    app: AppId,
    app_match: AppMatch,
    policy_ref: usize,
}

struct PolicyCompiler<'a> {
    resolver: AddressResolver<'a>,
    sets: Vec<(String, super::addresses::PrefixSet)>,
    /// Sides by the sorted entries they name.
    side_index: FxHashMap<SideKey, usize>,
    /// Scratch buffer for one side's resolved names.
    scratch: Vec<Resolved>,
    /// Scratch buffers for one policy's applications.
    app_scratch: Vec<usize>,
    app_stack: Vec<(&'a str, usize)>,
    drafts: Vec<Draft>,
    draft_keys: Vec<String>,
    /// Application sets by name, indexed once.
    app_sets: FxHashMap<&'a str, &'a [String]>,
    policies: Vec<&'a Policy>,
}

/// Zone-pair policies then global policies, with their address sets.
pub(super) fn compile_policies<'a>(
    config: &'a Config,
    books: Books<'a>,
    prev: Option<&IdRegistry>,
    out: &mut CompiledConfig,
) -> Result<(), ConfigError> {
    let mut pc = PolicyCompiler {
        resolver: AddressResolver::with_books(config, books),
        sets: Vec::new(),
        side_index: FxHashMap::default(),
        scratch: Vec::new(),
        app_scratch: Vec::new(),
        app_stack: Vec::new(),
        drafts: Vec::new(),
        draft_keys: Vec::new(),
        app_sets: config
            .applications
            .application_sets
            .iter()
            .map(|s| (s.name.as_str(), s.applications.as_slice()))
            .collect(),
        policies: Vec::new(),
    };
    // Application ids were assigned already; index them by name.
    let app_names: FxHashMap<&str, usize> = out
        .applications
        .iter()
        .enumerate()
        .map(|(i, a)| (a.name.as_str(), i))
        .collect();
    let apps: &[CompiledApplication] = &out.applications;

    let mut pair_spans: Vec<(ZoneId, ZoneId, usize, usize)> = Vec::new();
    let (mut source_hits, mut destination_hits) = (Vec::new(), Vec::new());
    for pair in &config.security.policies {
        let scope_path = format!("security.policies[{}->{}]", pair.from_zone, pair.to_zone);
        let from = zone_id(out, &pair.from_zone, &format!("{scope_path}.from-zone"))?;
        let to = zone_id(out, &pair.to_zone, &format!("{scope_path}.to-zone"))?;
        let start = pc.drafts.len();
        let scope = Arc::new(RuleScope::ZonePair {
            from: pair.from_zone.clone(),
            to: pair.to_zone.clone(),
        });
        let scope = (scope.clone(), scope.to_string());
        let (from_zones, to_zones): (Arc<[ZoneId]>, Arc<[ZoneId]>) =
            (Arc::from([from]), Arc::from([to]));
        let active: Vec<&Policy> = pair.policies.iter().filter(|p| !p.inactive).collect();
        // Every address name of the pair, looked up at once (see find_names).
        let (from_book, to_book) = (
            pc.resolver.zone_index(&pair.from_zone),
            pc.resolver.zone_index(&pair.to_zone),
        );
        let (source, destination) = side_names(&active);
        pc.resolver.find_names(from_book, source, &mut source_hits);
        pc.resolver
            .find_names(to_book, destination, &mut destination_hits);
        let mut hits = HitCursor::new(&source_hits, &destination_hits);
        for p in active {
            pc.add_policy(
                p,
                &scope,
                hits.next(p),
                (from_zones.clone(), to_zones.clone()),
                &|| format!("{scope_path}.{}", p.name),
                &app_names,
                apps,
            )?;
        }
        pair_spans.push((from, to, start, pc.drafts.len() - start));
    }
    let global_start = pc.drafts.len();
    let global_scope = (Arc::new(RuleScope::Global), RuleScope::Global.to_string());
    let active: Vec<&Policy> = (config.security.global_policies.iter())
        .filter(|p| !p.inactive)
        .collect();
    let (source, destination) = side_names(&active);
    pc.resolver.find_names(None, source, &mut source_hits);
    pc.resolver
        .find_names(None, destination, &mut destination_hits);
    let mut hits = HitCursor::new(&source_hits, &destination_hits);
    for p in active {
        let path = format!("security.global-policies[{}]", p.name);
        let zones = |names: &[String], field: &str| -> Result<Vec<ZoneId>, ConfigError> {
            names
                .iter()
                .map(|n| zone_id(out, n, &format!("{path}.match.{field}")))
                .collect()
        };
        let from = zones(&p.match_.from_zone, "from-zone")?;
        let to = zones(&p.match_.to_zone, "to-zone")?;
        pc.add_policy(
            p,
            &global_scope,
            hits.next(p),
            (from.into(), to.into()),
            &|| path.clone(),
            &app_names,
            apps,
        )?;
    }
    let global_count = pc.drafts.len() - global_start;

    // Assign ids: address sets in first-use order, rules in evaluation order.
    let (space, set_ids) = allocate_ordered(
        "address sets",
        pc.sets.iter().map(|(k, _)| k.as_str()),
        prev.map(|p| &p.address_sets),
        u32::MAX,
    )?;
    out.ids.address_sets = space;
    let set_ids: Vec<AddressSetId> = set_ids.into_iter().map(AddressSetId).collect();
    let (space, rule_ids) = allocate_ordered(
        "policy rules",
        std::mem::take(&mut pc.draft_keys),
        prev.map(|p| &p.policy_rules),
        u32::MAX,
    )?;
    out.ids.policy_rules = space;
    for ((key, prefixes), id) in std::mem::take(&mut pc.sets).into_iter().zip(&set_ids) {
        out.address_sets.push(CompiledAddressSet {
            id: *id,
            key,
            v4: prefixes.v4,
            v6: prefixes.v6,
        });
    }
    out.address_sets.sort_by_key(|s| s.id);
    let sched = |name: &Option<String>| {
        name.as_ref()
            .and_then(|n| out.ids.schedules.get(n))
            .map(|v| ScheduleSlot(v as u16))
    };
    let mut rules = Vec::with_capacity(pc.drafts.len());
    for (d, rule_id) in pc.drafts.into_iter().zip(rule_ids) {
        let p = pc.policies[d.policy_ref];
        rules.push(CompiledRule {
            id: PolicyRuleId(rule_id),
            policy: d.policy,
            scope: d.scope,
            from_zones: d.from_zones,
            to_zones: d.to_zones,
            source: set_ids[d.source],
            source_negate: d.source_negate,
            destination: set_ids[d.destination],
            destination_negate: d.destination_negate,
            app: d.app,
            app_match: d.app_match,
            action: p.then.action,
            log_init: p.then.log.session_init,
            log_close: p.then.log.session_close,
            count: p.then.count,
            schedule: sched(&p.scheduler),
        });
    }
    out.policies = CompiledPolicies {
        rules,
        zone_pairs: pair_spans
            .into_iter()
            .map(|(from, to, start, count)| ZonePairSpan {
                from,
                to,
                span: Span {
                    start: start as u32,
                    count: count as u32,
                },
            })
            .collect(),
        global: Span {
            start: global_start as u32,
            count: global_count as u32,
        },
        default_action: config.security.default_policy,
    };
    Ok(())
}

/// The source and the destination address names of `policies`, in order.
fn side_names<'s, 'p: 's>(
    policies: &'s [&'p Policy],
) -> (
    impl Iterator<Item = &'p str> + 's,
    impl Iterator<Item = &'p str> + 's,
) {
    let names = move |side: fn(&'p Policy) -> &'p [String]| {
        policies
            .iter()
            .flat_map(move |p| side(p).iter().map(String::as_str))
    };
    (
        names(|p| &p.match_.source_address),
        names(|p| &p.match_.destination_address),
    )
}

/// Walks the hits of [`side_names`] policy by policy.
struct HitCursor<'h> {
    source: &'h [Option<Resolved>],
    destination: &'h [Option<Resolved>],
}

impl<'h> HitCursor<'h> {
    fn new(source: &'h [Option<Resolved>], destination: &'h [Option<Resolved>]) -> Self {
        Self {
            source,
            destination,
        }
    }

    /// The hits of `p`'s source and destination names (the next policy).
    fn next(&mut self, p: &Policy) -> (&'h [Option<Resolved>], &'h [Option<Resolved>]) {
        let (source, rest) = self.source.split_at(p.match_.source_address.len());
        let (destination, rest_d) = self
            .destination
            .split_at(p.match_.destination_address.len());
        self.source = rest;
        self.destination = rest_d;
        (source, destination)
    }
}

impl<'a> PolicyCompiler<'a> {
    #[allow(clippy::too_many_arguments)]
    fn add_policy(
        &mut self,
        p: &'a Policy,
        scope: &(Arc<RuleScope>, String),
        hits: (&[Option<Resolved>], &[Option<Resolved>]),
        zones: (Arc<[ZoneId]>, Arc<[ZoneId]>),
        path: &dyn Fn() -> String,
        app_names: &FxHashMap<&str, usize>,
        apps: &[CompiledApplication],
    ) -> Result<(), ConfigError> {
        let m = &p.match_;
        let source = self.address_set(&m.source_address, hits.0, &|| {
            format!("{}.match.source-address", path())
        })?;
        let destination = self.address_set(&m.destination_address, hits.1, &|| {
            format!("{}.match.destination-address", path())
        })?;
        let mut list = std::mem::take(&mut self.app_scratch);
        let any = self.expand_applications(
            &m.application,
            &|| format!("{}.match.application", path()),
            app_names,
            &mut list,
        )?;
        let policy_ref = self.policies.len();
        self.policies.push(p);
        let policy_name: Arc<str> = Arc::from(p.name.as_str());
        let (scope, scope_text) = (&scope.0, &scope.1);
        let mut push = |app: AppId, app_name: &str, term: &AppMatch| {
            let mut key = String::with_capacity(
                scope_text.len() + p.name.len() + app_name.len() + term.term.len() + 3,
            );
            key.push_str(scope_text);
            key.push('/');
            key.push_str(&p.name);
            key.push('/');
            key.push_str(app_name);
            key.push('/');
            key.push_str(&term.term);
            self.draft_keys.push(key);
            self.drafts.push(Draft {
                policy: policy_name.clone(),
                scope: scope.clone(),
                from_zones: zones.0.clone(),
                to_zones: zones.1.clone(),
                source,
                source_negate: m.source_address_excluded,
                destination,
                destination_negate: m.destination_address_excluded,
                app,
                app_match: term.clone(),
                policy_ref,
            });
        };
        if any {
            push(AppId::NONE, "any", &AppMatch::any());
        } else {
            for &i in &list {
                let app = &apps[i];
                for term in &app.terms {
                    push(app.id, &app.name, term);
                }
            }
        }
        self.app_scratch = list;
        Ok(())
    }

    /// The index (into `sets`) of the address set for one policy side,
    /// resolving its prefixes only the first time its canonical key is seen.
    fn address_set(
        &mut self,
        names: &[String],
        hits: &[Option<Resolved>],
        path: &dyn Fn() -> String,
    ) -> Result<usize, ConfigError> {
        let mut resolved = std::mem::take(&mut self.scratch);
        AddressResolver::resolve_side(names, hits, path, &mut resolved)?;
        let side = SideKey::new(&resolved);
        if let Some(&i) = self.side_index.get(&side) {
            self.scratch = resolved;
            return Ok(i);
        }
        let key = self.resolver.side_key(&resolved);
        let prefixes = self.resolver.side_prefixes(&resolved, path)?;
        let i = self.sets.len();
        self.side_index.insert(side, i);
        self.sets.push((key, prefixes));
        self.scratch = resolved;
        Ok(i)
    }

    /// `true` for `any` (or an empty list); otherwise `false` with the
    /// applications in `out` (as indices into the compiled application
    /// list), application sets flattened, duplicates removed, order kept.
    fn expand_applications(
        &mut self,
        names: &'a [String],
        path: &dyn Fn() -> String,
        app_names: &FxHashMap<&str, usize>,
        out: &mut Vec<usize>,
    ) -> Result<bool, ConfigError> {
        out.clear();
        if names.is_empty() || names.iter().any(|n| n == "any") {
            return Ok(true);
        }
        let stack = &mut self.app_stack;
        stack.clear();
        stack.extend(names.iter().rev().map(|n| (n.as_str(), 0)));
        while let Some((name, depth)) = stack.pop() {
            if depth > 64 {
                return Err(ConfigError::new(
                    path(),
                    "application-set nesting deeper than 64 (cycle?)",
                ));
            }
            if let Some(&i) = app_names.get(name) {
                // Policies name few applications: a scan beats a set.
                if !out.contains(&i) {
                    out.push(i);
                }
            } else if let Some(members) = self.app_sets.get(name) {
                if members.iter().any(|m| m == "any") {
                    out.clear();
                    return Ok(true);
                }
                stack.extend(members.iter().rev().map(|m| (m.as_str(), depth + 1)));
            } else {
                return Err(ConfigError::new(
                    path(),
                    format!("unknown application {name:?}"),
                ));
            }
        }
        Ok(false)
    }
}
