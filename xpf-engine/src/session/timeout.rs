//! Inactivity timeouts by protocol, TCP state and application.
//!
//! | session | timeout |
//! |---|---|
//! | TCP `SynSent`, `SynReceived` | `tcp_initial` |
//! | TCP `Established` (and untracked TCP) | the application's override, else `tcp_established` |
//! | TCP `FinWait`, `CloseWait`, `LastAck` | `tcp_closing` |
//! | TCP `TimeWait`, `Close` | `tcp_time_wait` |
//! | UDP | the application's override, else `udp` |
//! | ICMP, ICMPv6 | `icmp` |
//! | anything else | `other` |
//!
//! The values come from the compiled flow options ([`CompiledFlow`]); the
//! application override is [`AppMatch::timeout_secs`] of the term the
//! session matched.
//!
//! [`AppMatch::timeout_secs`]: xpf_dataplane::compile::AppMatch::timeout_secs

use std::num::NonZeroU32;
use xpf_dataplane::compile::CompiledFlow;
use xpf_runtime::{IpProtocol, TcpState};

/// The inactivity timeouts of one flow configuration, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timeouts {
    /// TCP before the handshake completes.
    pub tcp_initial_secs: u32,
    /// Established TCP without an application override.
    pub tcp_established_secs: u32,
    /// TCP after the first FIN.
    pub tcp_closing_secs: u32,
    /// TCP after both FINs were acknowledged, or after a RST.
    pub tcp_time_wait_secs: u32,
    /// UDP without an application override.
    pub udp_secs: u32,
    /// ICMP and ICMPv6.
    pub icmp_secs: u32,
    /// Every other protocol.
    pub other_secs: u32,
}

impl Default for Timeouts {
    /// The Junos defaults, as [`CompiledFlow::default`] has them.
    fn default() -> Self {
        Self::from(&CompiledFlow::default())
    }
}

impl From<&CompiledFlow> for Timeouts {
    fn from(flow: &CompiledFlow) -> Self {
        Self {
            tcp_initial_secs: flow.tcp_initial_secs,
            tcp_established_secs: flow.tcp_established_secs,
            tcp_closing_secs: flow.tcp_closing_secs,
            tcp_time_wait_secs: flow.tcp_time_wait_secs,
            udp_secs: flow.udp_secs,
            icmp_secs: flow.icmp_secs,
            other_secs: flow.other_secs,
        }
    }
}

impl Timeouts {
    /// The timeout of a session of `protocol` in TCP state `tcp` (ignored
    /// for other protocols) whose application overrides the timeout with
    /// `app_override`. See the module table.
    pub fn for_session(
        &self,
        protocol: IpProtocol,
        tcp: TcpState,
        app_override: Option<NonZeroU32>,
    ) -> u32 {
        let app = app_override.map(NonZeroU32::get);
        match protocol {
            IpProtocol::TCP => match tcp {
                TcpState::SynSent | TcpState::SynReceived => self.tcp_initial_secs,
                TcpState::Established | TcpState::None => app.unwrap_or(self.tcp_established_secs),
                TcpState::FinWait | TcpState::CloseWait | TcpState::LastAck => {
                    self.tcp_closing_secs
                }
                TcpState::TimeWait | TcpState::Close => self.tcp_time_wait_secs,
            },
            IpProtocol::UDP => app.unwrap_or(self.udp_secs),
            IpProtocol::ICMP | IpProtocol::ICMPV6 => self.icmp_secs,
            _ => self.other_secs,
        }
    }
}

/// The timeout, in seconds, of a session of `protocol` in TCP state `tcp`
/// with application override `app_override` under the flow options `flow`
/// (see the module table). The session table keeps a [`Timeouts`] and uses
/// [`Timeouts::for_session`] directly.
pub fn timeout_secs(
    protocol: IpProtocol,
    tcp: TcpState,
    app_override: Option<NonZeroU32>,
    flow: &CompiledFlow,
) -> u32 {
    Timeouts::from(flow).for_session(protocol, tcp, app_override)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u32) -> Option<NonZeroU32> {
        NonZeroU32::new(n)
    }

    #[test]
    fn tcp_states_map_to_their_classes() {
        let flow = CompiledFlow::default();
        let t = |s| timeout_secs(IpProtocol::TCP, s, secs(3600), &flow);
        assert_eq!(t(TcpState::SynSent), flow.tcp_initial_secs);
        assert_eq!(t(TcpState::SynReceived), flow.tcp_initial_secs);
        assert_eq!(t(TcpState::Established), 3600);
        assert_eq!(t(TcpState::FinWait), flow.tcp_closing_secs);
        assert_eq!(t(TcpState::CloseWait), flow.tcp_closing_secs);
        assert_eq!(t(TcpState::LastAck), flow.tcp_closing_secs);
        assert_eq!(t(TcpState::TimeWait), flow.tcp_time_wait_secs);
        assert_eq!(t(TcpState::Close), flow.tcp_time_wait_secs);
        assert_eq!(
            timeout_secs(IpProtocol::TCP, TcpState::Established, None, &flow),
            flow.tcp_established_secs
        );
    }

    #[test]
    fn udp_takes_the_override_icmp_and_other_do_not() {
        let flow = CompiledFlow {
            udp_secs: 30,
            icmp_secs: 4,
            other_secs: 9,
            ..CompiledFlow::default()
        };
        let t = |p, o| timeout_secs(p, TcpState::None, o, &flow);
        assert_eq!(t(IpProtocol::UDP, None), 30);
        assert_eq!(t(IpProtocol::UDP, secs(120)), 120);
        assert_eq!(t(IpProtocol::ICMP, secs(120)), 4);
        assert_eq!(t(IpProtocol::ICMPV6, None), 4);
        assert_eq!(t(IpProtocol::GRE, secs(120)), 9);
    }
}
