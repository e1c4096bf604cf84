//! Applications and application sets (`applications`).
//!
//! Owns: names (applications and sets share one namespace with the
//! predefined `junos-*` applications and `any`, neither of which may be
//! redefined), the form of an application (an inline single term or a list
//! of `terms`, not both and not neither), each term (a protocol is
//! required; ports only for tcp, udp and sctp; ICMP type and code only for
//! icmp and icmp6; port ranges in order; timeouts non-zero), set members,
//! and sets that contain themselves.

use super::Validator;
use super::names::{ANY_APPLICATION, ApplicationEntry, EntryOrSet, FirstSeen, find_cycle, unknown};
use super::path::Path;
use crate::config::{Application, ApplicationSet, ApplicationTerm, PortRange};
use xpf_runtime::IpProtocol;

/// The match fields of one application term, inline or listed.
struct TermFields {
    protocol: Option<IpProtocol>,
    source_port: Option<PortRange>,
    destination_port: Option<PortRange>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
}

impl TermFields {
    fn inline(application: &Application) -> Self {
        Self {
            protocol: application.protocol,
            source_port: application.source_port,
            destination_port: application.destination_port,
            icmp_type: application.icmp_type,
            icmp_code: application.icmp_code,
        }
    }

    fn of_term(term: &ApplicationTerm) -> Self {
        Self {
            protocol: term.protocol,
            source_port: term.source_port,
            destination_port: term.destination_port,
            icmp_type: term.icmp_type,
            icmp_code: term.icmp_code,
        }
    }

    fn is_empty(&self) -> bool {
        self.protocol.is_none()
            && self.source_port.is_none()
            && self.destination_port.is_none()
            && self.icmp_type.is_none()
            && self.icmp_code.is_none()
    }
}

impl Validator<'_> {
    /// Checks `applications`.
    pub(super) fn check_applications(&mut self) {
        let config = self.config;
        let root = Path::root().field("applications");
        // Applications and sets share one namespace, which `symbols` tracks.
        let symbols = self.symbols;
        let list = root.field("applications");
        let sets = root.field("application-sets");
        let first_path = |at| {
            let first: EntryOrSet = symbols.application_repeat_of(at)?;
            Some(first.path(&list, &sets))
        };
        for (i, application) in config.applications.applications.iter().enumerate() {
            let path = list.item(&application.name, i);
            let first = || first_path(EntryOrSet::Entry(i));
            self.check_application_name("application", &application.name, &path, first);
            self.check_application(&path, application);
        }
        for (i, set) in config.applications.application_sets.iter().enumerate() {
            let path = sets.item(&set.name, i);
            let first = || first_path(EntryOrSet::Set(i));
            self.check_application_name("application set", &set.name, &path, first);
            self.check_application_set(&path, set);
        }
    }

    /// Checks the name of an application or set; `first` is as for
    /// [`check_name_with`](Self::check_name_with).
    fn check_application_name<'p>(
        &mut self,
        what: &str,
        name: &str,
        path: &Path<'_>,
        first: impl FnOnce() -> Option<Path<'p>>,
    ) {
        if self.symbols.is_predefined_application(name) {
            self.error(
                path,
                format!("{what} {name:?} is predefined and may not be redefined"),
            );
        } else if name == ANY_APPLICATION {
            self.error(
                path,
                format!("{what} name {name:?} is reserved (it matches every application)"),
            );
        } else {
            self.check_name_with(what, name, path, first);
        }
    }

    fn check_application(&mut self, path: &Path<'_>, application: &Application) {
        let name = &application.name;
        let inline = TermFields::inline(application);
        match (inline.is_empty(), application.terms.is_empty()) {
            (true, true) => self.error(
                path,
                format!("application {name:?} has neither a protocol nor terms"),
            ),
            (false, false) => self.error(
                &path.field("terms"),
                format!(
                    "application {name:?} has both inline match fields and terms; use one form"
                ),
            ),
            (false, true) => {
                self.check_term_fields(path, &inline, &format!("application {name:?}"))
            }
            (true, false) => {}
        }
        let timeout = application.inactivity_timeout;
        self.check_positive(
            &path.field("inactivity-timeout"),
            "inactivity-timeout",
            timeout,
        );

        let list = path.field("terms");
        let mut seen = FirstSeen::default();
        for (i, term) in application.terms.iter().enumerate() {
            let path = list.item(&term.name, i);
            self.check_name(&mut seen, "term", &term.name, &path, i);
            let owner = format!("term {:?} of application {name:?}", term.name);
            self.check_term_fields(&path, &TermFields::of_term(term), &owner);
            let timeout = term.inactivity_timeout;
            self.check_positive(
                &path.field("inactivity-timeout"),
                "inactivity-timeout",
                timeout,
            );
        }
    }

    /// Checks one term's fields; `owner` names the term in messages.
    fn check_term_fields(&mut self, path: &Path<'_>, term: &TermFields, owner: &str) {
        let Some(protocol) = term.protocol else {
            self.error(&path.field("protocol"), format!("{owner} has no protocol"));
            return;
        };
        let ports = [
            ("source-port", term.source_port),
            ("destination-port", term.destination_port),
        ];
        for (field, range) in ports {
            let Some(range) = range else { continue };
            self.check_port_range(&path.field(field), range);
            if !protocol.has_ports() {
                self.error(
                    &path.field(field),
                    format!("{field} {range} needs protocol tcp, udp or sctp, not {protocol}"),
                );
            }
        }
        let icmp = [("icmp-type", term.icmp_type), ("icmp-code", term.icmp_code)];
        for (field, value) in icmp {
            if let Some(value) = value
                && !protocol.is_icmp()
            {
                self.error(
                    &path.field(field),
                    format!("{field} {value} needs protocol icmp or icmp6, not {protocol}"),
                );
            }
        }
    }

    fn check_application_set(&mut self, path: &Path<'_>, set: &ApplicationSet) {
        let symbols = self.symbols;
        for member in &set.applications {
            if !symbols.application_exists(member) {
                self.error(
                    &path.field("applications"),
                    unknown("application", member, symbols.application_names()),
                );
            }
        }
        // Only the definition references resolve to is checked for cycles, so
        // a duplicate (already reported) does not repeat its twin's cycle.
        let resolved = symbols.applications.get(&set.name);
        let is_first_definition =
            matches!(resolved, Some(ApplicationEntry::Set(s)) if std::ptr::eq(s, set));
        let nested = |name: &str| match symbols.applications.get(name) {
            Some(ApplicationEntry::Set(nested)) => {
                nested.applications.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        };
        if is_first_definition && let Some(cycle) = find_cycle(set.name.as_str(), nested) {
            self.error(
                &path.field("applications"),
                format!(
                    "application set {:?} contains itself ({})",
                    set.name,
                    cycle.join(" -> ")
                ),
            );
        }
    }
}
