//! TCP connection tracking with sequence and window checks.
//!
//! The checks are those of Guido van Rooij's "Real Stateful TCP Packet
//! Filtering in IP Filter" as refined in Linux's `nf_conntrack_proto_tcp`.
//! Per direction the tracker keeps
//!
//! - `end`: the highest sequence number sent plus one (`td_end`),
//! - `max_end`: the highest sequence number the other side's windows allow
//!   this side to send (`td_maxend` = max(ack + window) seen from the peer),
//! - `max_window`: the largest window this side advertised (`td_maxwin`),
//! - `scale`: the window-scale shift this side announced in its SYN.
//!
//! A segment from `sender` to `receiver` with sequence `seq`, end
//! `end = seq + len (+1 for SYN, +1 for FIN)` and acknowledgment `ack` is
//! **in window** when all four hold (comparisons modulo 2^32):
//!
//! 1. `seq ≤ sender.max_end` (not beyond what the receiver allowed),
//! 2. `end ≥ sender.end − receiver.max_window` (not older than anything
//!    the receiver could still be expecting),
//! 3. `ack ≤ receiver.end` (does not acknowledge unsent data),
//! 4. `ack ≥ receiver.end − max(sender.max_window, 66000)` (not an ancient
//!    acknowledgment).
//!
//! A segment without ACK is treated as acknowledging `receiver.end`. Window
//! fields are shifted by the sender's scale except in SYNs, and scaling is
//! in force only when both SYNs carried the option (RFC 7323).
//!
//! **States** (`xpf_runtime::TcpState`): the first SYN creates the tracker
//! in `SynSent` ([`TcpTracker::new_from_syn`]); the responder's SYN+ACK
//! moves it to `SynReceived`; the initiator's ACK of that SYN to
//! `Established`. A FIN from the initiator gives `FinWait`, from the
//! responder `CloseWait`; with both FINs seen it is `LastAck`, and once
//! both are acknowledged `TimeWait` (closed with [`CloseReason::TcpFin`]).
//! An in-window RST from either side gives `Close` ([`CloseReason::TcpRst`]).
//!
//! **Invalid combinations** are [`TcpViolation::InvalidState`]: flag sets
//! no TCP sends (SYN+FIN, SYN+RST, FIN without ACK, no flags, ...), data or
//! ACKs before the handshake (anything but a SYN retransmission or RST from
//! the initiator in `SynSent`; anything from the responder but SYN+ACK or
//! RST until the handshake completes), a SYN on an established connection
//! that is not a duplicate of the handshake SYN, new data after the
//! sender's own FIN. Simultaneous open (a SYN without ACK from the
//! responder) is not supported and is reported as invalid too. A new SYN
//! from the initiator after the connection ended (`TimeWait` or `Close`) is
//! [`TcpViolation::Reopen`]: the caller should close the old session and
//! treat the SYN as the first packet of a new flow.
//!
//! **Loose mode** (`TcpWindowCheck::Loose` on the zone, `LOOSE_TCP` on the
//! session) tracks windows exactly the same but never rejects a segment for
//! being out of window; it still rejects invalid states. Trackers created
//! mid-stream ([`TcpTracker::new_mid_stream`], loose zones only) or
//! installed by cluster sync (whose windows the peer does not send) are
//! *liberal*: they never enforce windows either.

use super::record::Direction;
use xpf_runtime::{CloseReason, DropReason, TcpState};

/// RFC 7323: a window-scale shift above 14 is treated as 14.
const MAX_WINDOW_SCALE: u8 = 14;
/// The minimum acknowledgment window of check 4 (netfilter's
/// `MAXACKWINDOW_CONST`).
const MAX_ACK_WINDOW: u32 = 66_000;

/// Per-direction flag: this side's SYN carried a window-scale option.
const SCALE_OFFERED: u8 = 1 << 0;
/// Per-direction flag: this side sent a FIN.
const FIN_SEEN: u8 = 1 << 1;
/// Per-direction flag: this side's FIN was acknowledged by the other side.
const FIN_ACKED: u8 = 1 << 2;

/// `a` is before `b` modulo 2^32.
#[inline(always)]
fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a` is after `b` modulo 2^32.
#[inline(always)]
fn after(a: u32, b: u32) -> bool {
    before(b, a)
}

/// What the tracker needs from one TCP segment, parsed by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpSegment {
    /// The header's flags byte (RFC 9293 byte 13): see [`TcpSegment::FIN`]
    /// and the other bit constants.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number (meaningful with [`TcpSegment::ACK`]).
    pub ack: u32,
    /// The window field as on the wire (unscaled).
    pub window: u16,
    /// Payload bytes (after the TCP header and options).
    pub payload_len: u32,
    /// The window-scale option's shift, if the segment carries the option
    /// (only SYN segments' options are used).
    pub window_scale: Option<u8>,
}

impl TcpSegment {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;

    /// A segment without payload or options.
    pub const fn new(flags: u8, seq: u32, ack: u32, window: u16) -> Self {
        Self {
            flags,
            seq,
            ack,
            window,
            payload_len: 0,
            window_scale: None,
        }
    }

    /// This segment carrying `len` payload bytes.
    pub const fn with_payload(mut self, len: u32) -> Self {
        self.payload_len = len;
        self
    }

    /// This segment carrying a window-scale option with `shift`.
    pub const fn with_window_scale(mut self, shift: u8) -> Self {
        self.window_scale = Some(shift);
        self
    }

    /// True when every bit of `flags` is set.
    #[inline(always)]
    pub const fn has(&self, flags: u8) -> bool {
        self.flags & flags == flags
    }

    /// The sequence number after this segment: `seq + payload`, plus one
    /// for a SYN and one for a FIN (modulo 2^32).
    #[inline]
    pub const fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.payload_len)
            .wrapping_add((self.flags & Self::SYN != 0) as u32)
            .wrapping_add((self.flags & Self::FIN != 0) as u32)
    }
}

/// Why the tracker refused a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum TcpViolation {
    /// The sequence or acknowledgment number is outside the tracked window
    /// (strict mode only).
    #[error("TCP segment outside the tracked window")]
    OutOfWindow,
    /// The flags are not valid for the connection's state (see the module
    /// docs for the list).
    #[error("TCP flags invalid for the connection state")]
    InvalidState,
    /// A SYN from the initiator for a connection that has ended (`TimeWait`
    /// or `Close`). Not a protocol error: the caller should close the old
    /// session and handle the SYN as the first packet of a new flow.
    #[error("SYN for a connection that has already ended")]
    Reopen,
}

impl TcpViolation {
    /// The drop reason to count when the segment is dropped.
    pub fn drop_reason(self) -> DropReason {
        match self {
            Self::OutOfWindow => DropReason::TcpOutOfWindow,
            Self::InvalidState | Self::Reopen => DropReason::TcpInvalidState,
        }
    }
}

/// What an accepted segment did to the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpUpdate {
    /// State before the segment.
    pub previous: TcpState,
    /// State after the segment.
    pub state: TcpState,
    /// False when the segment was out of window but accepted because the
    /// session is in loose mode (or the tracker is liberal); strict mode
    /// rejects such segments instead.
    pub in_window: bool,
    /// Set when this segment ended the connection: [`CloseReason::TcpRst`]
    /// for a RST, [`CloseReason::TcpFin`] when both FINs are now
    /// acknowledged. The session then runs on the time-wait timeout and
    /// expiry reports this reason; a caller may also remove it at once.
    pub close: Option<CloseReason>,
}

impl TcpUpdate {
    /// True when the state changed (an HA update delta is due).
    pub fn state_changed(&self) -> bool {
        self.previous != self.state
    }
}

/// One direction's tracked window, for inspection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpWindow {
    /// Highest sequence number sent, plus one.
    pub end: u32,
    /// Highest sequence number the peer's windows allow.
    pub max_end: u32,
    /// Largest (scaled) window this side advertised; 0 until this side has
    /// sent a segment.
    pub max_window: u32,
    /// The window-scale shift applied to this side's window fields.
    pub scale: u8,
}

/// The segment classes the state machine distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Syn,
    SynAck,
    Rst,
    Fin,
    Ack,
}

/// Classifies the flags; PSH, URG, ECE and CWR do not matter. The valid
/// combinations are those of netfilter's `tcp_valid_flags`.
fn classify(flags: u8) -> Result<Kind, TcpViolation> {
    const CORE: u8 = TcpSegment::SYN | TcpSegment::ACK | TcpSegment::FIN | TcpSegment::RST;
    const SYN_ACK: u8 = TcpSegment::SYN | TcpSegment::ACK;
    const RST_ACK: u8 = TcpSegment::RST | TcpSegment::ACK;
    const FIN_ACK: u8 = TcpSegment::FIN | TcpSegment::ACK;
    match flags & CORE {
        TcpSegment::SYN => Ok(Kind::Syn),
        SYN_ACK => Ok(Kind::SynAck),
        TcpSegment::RST | RST_ACK => Ok(Kind::Rst),
        FIN_ACK => Ok(Kind::Fin),
        TcpSegment::ACK => Ok(Kind::Ack),
        _ => Err(TcpViolation::InvalidState),
    }
}

/// The TCP state and sequence/window tracking of one connection. 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpTracker {
    end: [u32; 2],
    max_end: [u32; 2],
    max_window: [u32; 2],
    scale: [u8; 2],
    dir_flags: [u8; 2],
    state: TcpState,
    liberal: bool,
}

impl TcpTracker {
    fn blank(state: TcpState, liberal: bool) -> Self {
        Self {
            end: [0; 2],
            max_end: [0; 2],
            max_window: [0; 2],
            scale: [0; 2],
            dir_flags: [0; 2],
            state,
            liberal,
        }
    }

    /// The tracker of a connection whose first segment is `syn`, which must
    /// be a SYN without ACK, RST or FIN; state `SynSent`. In strict mode
    /// this is the only way a TCP session starts.
    pub fn new_from_syn(syn: &TcpSegment) -> Result<Self, TcpViolation> {
        if classify(syn.flags)? != Kind::Syn {
            return Err(TcpViolation::InvalidState);
        }
        let mut tracker = Self::blank(TcpState::SynSent, false);
        tracker.init_from_syn(0, syn);
        Ok(tracker)
    }

    /// The tracker of a connection picked up mid-stream, for zones in loose
    /// mode: a SYN starts normally ([`new_from_syn`](Self::new_from_syn));
    /// an ACK or FIN+ACK starts a liberal tracker in `Established` (or
    /// `FinWait` for a FIN) that learns the windows from the traffic. Any
    /// other first segment (RST, SYN+ACK, invalid flags) is refused.
    pub fn new_mid_stream(first: &TcpSegment) -> Result<Self, TcpViolation> {
        match classify(first.flags)? {
            Kind::Syn => Self::new_from_syn(first),
            Kind::Ack | Kind::Fin => {
                let mut tracker = Self::blank(TcpState::Established, true);
                tracker.update(Direction::Forward, first, true)?;
                Ok(tracker)
            }
            Kind::SynAck | Kind::Rst => Err(TcpViolation::InvalidState),
        }
    }

    /// The placeholder tracker of a non-TCP session (state `None`).
    pub(crate) fn none() -> Self {
        Self::blank(TcpState::None, false)
    }

    /// The tracker of a session installed by cluster sync in `state`: the
    /// peer sends no windows, so the tracker is liberal and learns them
    /// from the traffic; the FIN bookkeeping is reconstructed from the
    /// state. `TcpState::None` is taken as `Established`.
    pub(crate) fn synced(state: TcpState) -> Self {
        let state = match state {
            TcpState::None => TcpState::Established,
            s => s,
        };
        let mut tracker = Self::blank(state, true);
        let (fwd, rev) = match state {
            TcpState::FinWait => (FIN_SEEN, 0),
            TcpState::CloseWait => (0, FIN_SEEN),
            TcpState::LastAck => (FIN_SEEN, FIN_SEEN),
            TcpState::TimeWait => (FIN_SEEN | FIN_ACKED, FIN_SEEN | FIN_ACKED),
            _ => (0, 0),
        };
        tracker.dir_flags = [fwd, rev];
        tracker
    }

    /// The connection state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// True when windows are never enforced (mid-stream pickup or cluster
    /// sync).
    pub fn is_liberal(&self) -> bool {
        self.liberal
    }

    /// The tracked window of `dir`'s sender.
    pub fn window(&self, dir: Direction) -> TcpWindow {
        let d = dir.index();
        TcpWindow {
            end: self.end[d],
            max_end: self.max_end[d],
            max_window: self.max_window[d],
            scale: self.scale[d],
        }
    }

    /// Checks `seg`, sent in direction `dir`, against the state and the
    /// windows, and on acceptance updates both. `loose` disables window
    /// enforcement (the zone's `TcpWindowCheck::Loose`). On error nothing
    /// changes.
    pub fn update(
        &mut self,
        dir: Direction,
        seg: &TcpSegment,
        loose: bool,
    ) -> Result<TcpUpdate, TcpViolation> {
        use Kind::{Ack, Fin, Rst, Syn, SynAck};
        use TcpState::{
            Close, CloseWait, Established, FinWait, LastAck, SynReceived, SynSent, TimeWait,
        };

        let kind = classify(seg.flags)?;
        let previous = self.state;
        let forward = dir == Direction::Forward;
        let s = dir.index();
        let r = 1 - s;
        let end = seg.end();
        let liberal = loose || self.liberal;
        // A duplicate of this side's handshake SYN: nothing new in it.
        let duplicate_syn = self.max_window[s] != 0 && !after(end, self.end[s]);

        // 1. Can this side send this kind of segment in this state?
        match (previous, kind) {
            (SynSent, Syn) if forward => {}
            (SynSent, SynAck) if !forward => {}
            (SynSent, Rst) if !forward => return self.rst_answering_syn(seg, liberal),
            (SynSent, Rst) => {}
            (SynReceived, Syn) if forward && duplicate_syn => {}
            (SynReceived, SynAck) if !forward => {}
            (SynReceived, Ack) if forward => {}
            // A FIN may complete the handshake only if it acknowledges the
            // responder's SYN.
            (SynReceived, Fin) if forward && !before(seg.ack, self.end[1]) => {}
            (SynReceived, Rst) => {}
            (Established, Syn) if forward && duplicate_syn => {
                return Ok(self.unchanged(true));
            }
            (Established, SynAck) if !forward && duplicate_syn => {
                return Ok(self.unchanged(true));
            }
            (Established | FinWait | CloseWait | LastAck | TimeWait, Ack | Fin | Rst) => {}
            (Close, Rst) => {}
            (TimeWait | Close, Syn) if forward => return Err(TcpViolation::Reopen),
            _ => return Err(TcpViolation::InvalidState),
        }
        if self.dir_flags[s] & FIN_SEEN != 0 && kind != Rst && after(end, self.end[s]) {
            // New data after this side's own FIN.
            return Err(TcpViolation::InvalidState);
        }

        // 2. Windows. A side seen for the first time (or restarting its
        // handshake) is initialised on a copy, so that a refused segment
        // changes nothing; the common case checks in place.
        let prepared = self.prepared(kind, s, seg, previous, forward);
        let view = prepared.as_ref().unwrap_or(self);
        let ack = if !seg.has(TcpSegment::ACK) || (seg.has(TcpSegment::RST) && seg.ack == 0) {
            view.end[r]
        } else {
            seg.ack
        };
        let in_window = view.in_window(s, seg.seq, end, ack);
        if !in_window && !liberal {
            return Err(TcpViolation::OutOfWindow);
        }
        if let Some(prepared) = prepared {
            *self = prepared;
        }
        self.record(s, seg, end, ack);

        // 3. State.
        let state = match kind {
            Rst => Close,
            SynAck if previous == SynSent => SynReceived,
            Syn | SynAck => previous,
            Ack | Fin => {
                if seg.has(TcpSegment::ACK)
                    && self.dir_flags[r] & FIN_SEEN != 0
                    && !before(ack, self.end[r])
                {
                    self.dir_flags[r] |= FIN_ACKED;
                }
                if kind == Fin {
                    self.dir_flags[s] |= FIN_SEEN;
                }
                if previous == SynReceived && before(ack, self.end[1]) {
                    // The handshake's final ACK is still outstanding.
                    SynReceived
                } else {
                    self.closing_state()
                }
            }
        };
        self.state = state;
        Ok(TcpUpdate {
            previous,
            state,
            in_window,
            close: match state {
                Close if previous != Close => Some(CloseReason::TcpRst),
                TimeWait if previous != TimeWait => Some(CloseReason::TcpFin),
                _ => None,
            },
        })
    }

    /// A copy of the tracker with side `s` initialised for this segment,
    /// when it needs that: the side's first segment, a restarted handshake
    /// (RFC 9293: a new, larger ISN), or the SYN+ACK that settles window
    /// scaling. `None` in the common case.
    fn prepared(
        &self,
        kind: Kind,
        s: usize,
        seg: &TcpSegment,
        previous: TcpState,
        forward: bool,
    ) -> Option<Self> {
        let syn = matches!(kind, Kind::Syn | Kind::SynAck);
        let first = self.max_window[s] == 0;
        let restart = !first
            && syn
            && after(seg.end(), self.end[s])
            && ((previous == TcpState::SynSent && forward)
                || (previous == TcpState::SynReceived && !forward));
        if !first && !restart && kind != Kind::SynAck {
            return None;
        }
        let mut next = *self;
        if first && !syn {
            next.init_mid_stream(s, seg);
        } else if first || restart {
            next.init_from_syn(s, seg);
        }
        if kind == Kind::SynAck && next.dir_flags[0] & next.dir_flags[1] & SCALE_OFFERED == 0 {
            // RFC 7323: scaling only when both SYNs carried the option.
            next.scale = [0, 0];
        }
        Some(next)
    }

    /// A RST from the responder while the initiator's SYN is unanswered:
    /// acceptable only if it acknowledges the SYN (RFC 9293 §3.10.7.3); its
    /// sequence number is meaningless (often 0).
    fn rst_answering_syn(
        &mut self,
        seg: &TcpSegment,
        liberal: bool,
    ) -> Result<TcpUpdate, TcpViolation> {
        let acceptable = seg.has(TcpSegment::ACK) && seg.ack == self.end[0];
        if !acceptable && !liberal {
            return Err(TcpViolation::OutOfWindow);
        }
        self.state = TcpState::Close;
        Ok(TcpUpdate {
            previous: TcpState::SynSent,
            state: TcpState::Close,
            in_window: acceptable,
            close: Some(CloseReason::TcpRst),
        })
    }

    fn unchanged(&self, in_window: bool) -> TcpUpdate {
        TcpUpdate {
            previous: self.state,
            state: self.state,
            in_window,
            close: None,
        }
    }

    /// Initialises side `s` from its SYN (or SYN+ACK).
    fn init_from_syn(&mut self, s: usize, seg: &TcpSegment) {
        let end = seg.end();
        self.end[s] = end;
        self.max_end[s] = end;
        self.max_window[s] = u32::from(seg.window).max(1);
        match seg.window_scale {
            Some(shift) => {
                self.scale[s] = shift.min(MAX_WINDOW_SCALE);
                self.dir_flags[s] |= SCALE_OFFERED;
            }
            None => {
                self.scale[s] = 0;
                self.dir_flags[s] &= !SCALE_OFFERED;
            }
        }
    }

    /// Initialises side `s` from a non-SYN segment (its history is lost to
    /// us): trust the segment's own numbers.
    fn init_mid_stream(&mut self, s: usize, seg: &TcpSegment) {
        let r = 1 - s;
        let end = seg.end();
        let window = (u32::from(seg.window) << self.scale[s]).max(1);
        self.end[s] = end;
        self.max_window[s] = window;
        self.max_end[s] = end.wrapping_add(window);
        if !seg.has(TcpSegment::ACK) {
            return;
        }
        if self.max_window[r] == 0 {
            // Nothing seen from the other side yet: make checks 3 and 4
            // pass until it speaks.
            self.end[r] = seg.ack;
            self.max_end[r] = seg.ack;
        } else if seg.ack == self.end[r].wrapping_add(1) {
            // Likely the answer to a keepalive probe.
            self.end[r] = self.end[r].wrapping_add(1);
        }
    }

    /// The four checks of the module docs for a segment from side `s`.
    fn in_window(&self, s: usize, seq: u32, end: u32, ack: u32) -> bool {
        let r = 1 - s;
        let max_ack_window = self.max_window[s].max(MAX_ACK_WINDOW);
        !after(seq, self.max_end[s])
            && (self.max_window[r] == 0
                || !before(end, self.end[s].wrapping_sub(self.max_window[r])))
            && !after(ack, self.end[r])
            && !before(ack, self.end[r].wrapping_sub(max_ack_window))
    }

    /// Updates both sides' windows from an accepted segment of side `s`.
    fn record(&mut self, s: usize, seg: &TcpSegment, end: u32, ack: u32) {
        let r = 1 - s;
        let mut window = u32::from(seg.window);
        if !seg.has(TcpSegment::SYN) {
            window <<= self.scale[s];
        }
        self.max_window[s] = self.max_window[s].max(window);
        if after(end, self.end[s]) {
            self.end[s] = end;
        }
        if self.max_window[r] != 0 && after(end, self.max_end[s]) {
            self.max_window[r] = self.max_window[r].wrapping_add(end.wrapping_sub(self.max_end[s]));
        }
        let edge = ack.wrapping_add(window);
        if !before(edge, self.max_end[r]) {
            self.max_end[r] = if window == 0 {
                edge.wrapping_add(1)
            } else {
                edge
            };
        }
    }

    /// The state implied by the FIN bookkeeping of an established
    /// connection.
    fn closing_state(&self) -> TcpState {
        let seen = |d: usize| self.dir_flags[d] & FIN_SEEN != 0;
        let acked = |d: usize| self.dir_flags[d] & FIN_ACKED != 0;
        match (seen(0), seen(1)) {
            (false, false) => TcpState::Established,
            (true, false) => TcpState::FinWait,
            (false, true) => TcpState::CloseWait,
            (true, true) if acked(0) && acked(1) => TcpState::TimeWait,
            (true, true) => TcpState::LastAck,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::Reverse;

    const SYN: u8 = TcpSegment::SYN;
    const ACK: u8 = TcpSegment::ACK;
    const FIN: u8 = TcpSegment::FIN;
    const RST: u8 = TcpSegment::RST;

    #[test]
    fn invalid_flag_combinations_are_refused() {
        for flags in [
            0,
            SYN | FIN,
            SYN | RST,
            FIN,
            FIN | RST | ACK,
            TcpSegment::PSH,
        ] {
            assert_eq!(
                TcpTracker::new_from_syn(&TcpSegment::new(flags, 1, 0, 100)),
                Err(TcpViolation::InvalidState),
                "flags {flags:#x}"
            );
        }
        assert!(TcpTracker::new_from_syn(&TcpSegment::new(SYN | TcpSegment::ECE, 1, 0, 1)).is_ok());
    }

    #[test]
    fn refused_segments_change_nothing() {
        let mut t = TcpTracker::new_from_syn(&TcpSegment::new(SYN, 100, 0, 1000)).unwrap();
        let before = t;
        assert_eq!(
            t.update(Reverse, &TcpSegment::new(SYN | ACK, 5000, 999, 1000), false),
            Err(TcpViolation::OutOfWindow)
        );
        assert_eq!(t, before);
    }

    #[test]
    fn synced_tracker_reconstructs_fin_bookkeeping() {
        let mut t = TcpTracker::synced(TcpState::FinWait);
        assert!(t.is_liberal());
        // The responder's FIN+ACK after a synced FinWait gives LastAck, not
        // CloseWait.
        let u = t
            .update(Reverse, &TcpSegment::new(FIN | ACK, 10, 20, 100), false)
            .unwrap();
        assert_eq!(u.state, TcpState::LastAck);
    }

    #[test]
    fn mid_stream_pickup_starts_established_and_liberal() {
        let t = TcpTracker::new_mid_stream(&TcpSegment::new(ACK, 1000, 2000, 500)).unwrap();
        assert_eq!(t.state(), TcpState::Established);
        assert!(t.is_liberal());
        assert_eq!(
            TcpTracker::new_mid_stream(&TcpSegment::new(RST, 1, 0, 0)),
            Err(TcpViolation::InvalidState)
        );
    }
}
