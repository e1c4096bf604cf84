//! The model's TCP tracker: the documented van Rooij / netfilter rules
//! (see ARCHITECTURE.md, "TCP", and the module docs of the engine's
//! `session::tcp`), written out plainly. Direction 0 is the initiator,
//! 1 the responder. Every check works on a copy that is committed only
//! when the segment is accepted, so a refused segment changes nothing.

use xpf_runtime::TcpState;

/// FIN flag.
pub const FIN: u8 = 0x01;
/// SYN flag.
pub const SYN: u8 = 0x02;
/// RST flag.
pub const RST: u8 = 0x04;
/// ACK flag.
pub const ACK: u8 = 0x10;

/// Why a segment was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    /// Outside the window.
    OutOfWindow,
    /// Flags not allowed in this state.
    Invalid,
    /// A new SYN after the connection ended.
    Reopen,
}

/// A segment as the tracker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seg {
    /// Flags byte.
    pub flags: u8,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgment number.
    pub ack: u32,
    /// Raw window field.
    pub window: u16,
    /// Payload length.
    pub len: u32,
    /// Window-scale option.
    pub wscale: Option<u8>,
}

impl Seg {
    fn end(&self) -> u32 {
        self.seq
            .wrapping_add(self.len)
            .wrapping_add(u32::from(self.flags & SYN != 0))
            .wrapping_add(u32::from(self.flags & FIN != 0))
    }
    fn has(&self, f: u8) -> bool {
        self.flags & f == f
    }
}

fn lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}
fn gt(a: u32, b: u32) -> bool {
    lt(b, a)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Syn,
    SynAck,
    Rst,
    Fin,
    Ack,
}

fn kind(flags: u8) -> Option<Kind> {
    match flags & (SYN | ACK | FIN | RST) {
        SYN => Some(Kind::Syn),
        x if x == SYN | ACK => Some(Kind::SynAck),
        x if x == RST || x == RST | ACK => Some(Kind::Rst),
        x if x == FIN | ACK => Some(Kind::Fin),
        ACK => Some(Kind::Ack),
        _ => None,
    }
}

/// One side's window state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Side {
    end: u32,
    max_end: u32,
    max_win: u32,
    scale: u8,
    scale_offered: bool,
    fin_seen: bool,
    fin_acked: bool,
}

/// A TCP connection's tracking state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracker {
    sides: [Side; 2],
    /// The state.
    pub state: TcpState,
    liberal: bool,
}

impl Tracker {
    /// From the initiator's SYN.
    pub fn from_syn(seg: &Seg) -> Result<Self, Violation> {
        if kind(seg.flags) != Some(Kind::Syn) {
            return Err(Violation::Invalid);
        }
        let mut t = Tracker {
            sides: [Side::default(); 2],
            state: TcpState::SynSent,
            liberal: false,
        };
        t.syn_init(0, seg);
        Ok(t)
    }

    /// Mid-stream pickup (loose zones).
    pub fn mid_stream(seg: &Seg) -> Result<Self, Violation> {
        match kind(seg.flags) {
            Some(Kind::Syn) => Self::from_syn(seg),
            Some(Kind::Ack | Kind::Fin) => {
                let mut t = Tracker {
                    sides: [Side::default(); 2],
                    state: TcpState::Established,
                    liberal: true,
                };
                t.update(0, seg, true)?;
                Ok(t)
            }
            _ => Err(Violation::Invalid),
        }
    }

    /// A tracker for a session installed by cluster sync.
    pub fn synced(state: TcpState) -> Self {
        let state = if state == TcpState::None {
            TcpState::Established
        } else {
            state
        };
        let mut t = Tracker {
            sides: [Side::default(); 2],
            state,
            liberal: true,
        };
        let (a, b) = match state {
            TcpState::FinWait => ((true, false), (false, false)),
            TcpState::CloseWait => ((false, false), (true, false)),
            TcpState::LastAck => ((true, false), (true, false)),
            TcpState::TimeWait => ((true, true), (true, true)),
            _ => ((false, false), (false, false)),
        };
        t.sides[0].fin_seen = a.0;
        t.sides[0].fin_acked = a.1;
        t.sides[1].fin_seen = b.0;
        t.sides[1].fin_acked = b.1;
        t
    }

    fn syn_init(&mut self, s: usize, seg: &Seg) {
        let e = seg.end();
        let side = &mut self.sides[s];
        side.end = e;
        side.max_end = e;
        side.max_win = u32::from(seg.window).max(1);
        match seg.wscale {
            Some(x) => {
                side.scale = x.min(14);
                side.scale_offered = true;
            }
            None => {
                side.scale = 0;
                side.scale_offered = false;
            }
        }
    }

    fn mid_init(&mut self, s: usize, seg: &Seg) {
        let r = 1 - s;
        let e = seg.end();
        let win = (u32::from(seg.window) << self.sides[s].scale).max(1);
        self.sides[s].end = e;
        self.sides[s].max_win = win;
        self.sides[s].max_end = e.wrapping_add(win);
        if !seg.has(ACK) {
            return;
        }
        if self.sides[r].max_win == 0 {
            self.sides[r].end = seg.ack;
            self.sides[r].max_end = seg.ack;
        } else if seg.ack == self.sides[r].end.wrapping_add(1) {
            self.sides[r].end = self.sides[r].end.wrapping_add(1);
        }
    }

    fn acceptable(&self, s: usize, seq: u32, end: u32, ack: u32) -> bool {
        let (me, peer) = (&self.sides[s], &self.sides[1 - s]);
        let ack_span = me.max_win.max(66_000);
        !gt(seq, me.max_end)
            && (peer.max_win == 0 || !lt(end, me.end.wrapping_sub(peer.max_win)))
            && !gt(ack, peer.end)
            && !lt(ack, peer.end.wrapping_sub(ack_span))
    }

    /// Applies a segment from side `s` (0 initiator, 1 responder).
    pub fn update(&mut self, s: usize, seg: &Seg, loose: bool) -> Result<TcpState, Violation> {
        use TcpState::*;
        let k = kind(seg.flags).ok_or(Violation::Invalid)?;
        let prev = self.state;
        let fwd = s == 0;
        let r = 1 - s;
        let end = seg.end();
        let liberal = loose || self.liberal;
        let dup_syn = self.sides[s].max_win != 0 && !gt(end, self.sides[s].end);
        match (prev, k) {
            (SynSent, Kind::Syn) if fwd => {}
            (SynSent, Kind::SynAck) if !fwd => {}
            (SynSent, Kind::Rst) if !fwd => {
                let ok = seg.has(ACK) && seg.ack == self.sides[0].end;
                if !ok && !liberal {
                    return Err(Violation::OutOfWindow);
                }
                self.state = Close;
                return Ok(Close);
            }
            (SynSent, Kind::Rst) => {}
            (SynReceived, Kind::Syn) if fwd && dup_syn => {}
            (SynReceived, Kind::SynAck) if !fwd => {}
            (SynReceived, Kind::Ack) if fwd => {}
            (SynReceived, Kind::Fin) if fwd && !lt(seg.ack, self.sides[1].end) => {}
            (SynReceived, Kind::Rst) => {}
            (Established, Kind::Syn) if fwd && dup_syn => return Ok(prev),
            (Established, Kind::SynAck) if !fwd && dup_syn => return Ok(prev),
            (
                Established | FinWait | CloseWait | LastAck | TimeWait,
                Kind::Ack | Kind::Fin | Kind::Rst,
            ) => {}
            (Close, Kind::Rst) => {}
            (TimeWait | Close, Kind::Syn) if fwd => return Err(Violation::Reopen),
            _ => return Err(Violation::Invalid),
        }
        if self.sides[s].fin_seen && k != Kind::Rst && gt(end, self.sides[s].end) {
            return Err(Violation::Invalid);
        }
        // Windows, on a copy.
        let mut next = *self;
        let is_syn = matches!(k, Kind::Syn | Kind::SynAck);
        let first = self.sides[s].max_win == 0;
        let restart = !first
            && is_syn
            && gt(end, self.sides[s].end)
            && ((prev == SynSent && fwd) || (prev == SynReceived && !fwd));
        if first && !is_syn {
            next.mid_init(s, seg);
        } else if first || restart {
            next.syn_init(s, seg);
        }
        if k == Kind::SynAck && !(next.sides[0].scale_offered && next.sides[1].scale_offered) {
            next.sides[0].scale = 0;
            next.sides[1].scale = 0;
        }
        let ack = if !seg.has(ACK) || (seg.has(RST) && seg.ack == 0) {
            next.sides[r].end
        } else {
            seg.ack
        };
        if !next.acceptable(s, seg.seq, end, ack) && !liberal {
            return Err(Violation::OutOfWindow);
        }
        // Record.
        let mut win = u32::from(seg.window);
        if !seg.has(SYN) {
            win <<= next.sides[s].scale;
        }
        next.sides[s].max_win = next.sides[s].max_win.max(win);
        if gt(end, next.sides[s].end) {
            next.sides[s].end = end;
        }
        if next.sides[r].max_win != 0 && gt(end, next.sides[s].max_end) {
            let grow = end.wrapping_sub(next.sides[s].max_end);
            next.sides[r].max_win = next.sides[r].max_win.wrapping_add(grow);
        }
        let edge = ack.wrapping_add(win);
        if !lt(edge, next.sides[r].max_end) {
            next.sides[r].max_end = if win == 0 { edge.wrapping_add(1) } else { edge };
        }
        // State.
        let state = match k {
            Kind::Rst => Close,
            Kind::SynAck if prev == SynSent => SynReceived,
            Kind::Syn | Kind::SynAck => prev,
            Kind::Ack | Kind::Fin => {
                if seg.has(ACK) && next.sides[r].fin_seen && !lt(ack, next.sides[r].end) {
                    next.sides[r].fin_acked = true;
                }
                if k == Kind::Fin {
                    next.sides[s].fin_seen = true;
                }
                if prev == SynReceived && lt(ack, next.sides[1].end) {
                    SynReceived
                } else {
                    let (a, b) = (next.sides[0], next.sides[1]);
                    match (a.fin_seen, b.fin_seen) {
                        (false, false) => Established,
                        (true, false) => FinWait,
                        (false, true) => CloseWait,
                        (true, true) if a.fin_acked && b.fin_acked => TimeWait,
                        (true, true) => LastAck,
                    }
                }
            }
        };
        next.state = state;
        *self = next;
        Ok(state)
    }
}
