//! The session table: forward and reverse entries, TCP tracking with
//! sequence/window checks, per-protocol timeouts, expiry by a timer wheel,
//! and bounded capacity with early eviction of embryonic sessions.
//!
//! Nothing here reads a clock, does I/O or spawns threads: every operation
//! that depends on time takes `now_ns`, nanoseconds on the dataplane's
//! monotonic clock.
//!
//! # Model
//!
//! A **session** is one logical flow with two keys: the **forward** key is
//! the 5-tuple of the packet that created it, as it arrived (before NAT);
//! the **reverse** key is the 5-tuple replies carry on the wire (after
//! NAT). [`SessionTable::lookup`] finds the session from either key and
//! says which [`Direction`] the packet travels. Both families live in one
//! table; per session it keeps the data of an `xpf_runtime::SessionValue`
//! (exported with [`SessionTable::to_entries`] as the forward and reverse
//! [`SessionEntry`](xpf_runtime::SessionEntry) that `SessionStore` and HA
//! sync exchange), counters per direction, the [`TcpTracker`], the
//! current timeout, created / last-seen times, and the config generation
//! and policy rule that admitted it.
//!
//! # Per packet
//!
//! ```text
//! lookup(key)                     -> (handle, direction) | None
//! track_tcp(handle, dir, &seg)    -> Ok(TcpUpdate) | Err(TcpViolation)   (TCP only)
//! touch(handle, dir, bytes, now)  -> state changed?                      (counters, last-seen)
//! ```
//!
//! A miss goes through policy; a permitted first packet calls
//! [`SessionTable::insert`] with the forward and reverse keys, a
//! [`SessionInit`] and `now`. The caller calls [`SessionTable::expire`]
//! periodically (every few ms to every second) with a bound on the work.
//!
//! # Timeouts
//!
//! [`Timeouts::for_session`] maps (protocol, TCP state, application
//! override) to seconds: TCP `SynSent`/`SynReceived` → `tcp_initial`;
//! `Established` → the application's override or `tcp_established`;
//! `FinWait`/`CloseWait`/`LastAck` → `tcp_closing`; `TimeWait`/`Close` →
//! `tcp_time_wait`; UDP → override or `udp`; ICMP → `icmp`; other →
//! `other`. A session is **expired** at `now` when
//! `now ≥ last_seen + timeout`.
//!
//! # Timer wheel
//!
//! A hashed wheel of 4096 buckets of **1 s** ([`TICK_NS`]) holds every
//! session in the bucket of its deadline. A packet only updates
//! `last_seen`; the wheel re-checks the real deadline when it reaches the
//! bucket and moves the session on if it was touched, so the per-packet
//! cost is zero wheel work. A state change to a *shorter* timeout
//! reschedules at once. The current second's bucket is rescanned within
//! the second whenever something in it has fallen due (the wheel tracks
//! the earliest such deadline, so idle calls are O(1)), so expiry is exact
//! to the nanosecond: `expire(now, max)` removes exactly the sessions due
//! at `now` (up to `max`, continuing on the next call), never a session
//! touched since it was scheduled. Sessions whose timeout exceeds one
//! revolution (4096 s) stay in their bucket for another lap. Closed TCP sessions expire
//! with reason `TcpFin` (`TimeWait`) or `TcpRst` (`Close`), others with
//! `IdleTimeout`.
//!
//! # Capacity and eviction
//!
//! The table holds at most `capacity` sessions (each a forward and a
//! reverse entry). Inserting into a full table first tries to make room by
//! evicting exactly one **embryonic** session: one nobody has answered yet
//! (state `New` and, for TCP, still `SynSent`, i.e. no SYN+ACK seen; for
//! UDP, ICMP and other protocols, no packet in the reverse direction yet).
//! The victim is the **oldest** embryonic session by insertion order,
//! taken from a FIFO that sessions leave as soon as they are answered
//! (O(1)). The evicted session is returned to the caller (in
//! [`Inserted::evicted`]) with `CloseReason::Evicted`, so it can release
//! NAT resources and log the close. If no embryonic session exists, the
//! new flow is refused with [`InsertError::TableFull`] and nothing in the
//! table changes: answered sessions (TCP past `SynSent`, or any session
//! that has seen a reply) are never evicted; they leave only by closing,
//! expiring or explicit removal. Keys are checked before anything is
//! evicted, so a refused insert never costs another session its place.
//!
//! # Memory
//!
//! Per session pair: one slab slot (the 152-byte [`Session`] record plus
//! both keys: 192 bytes for IPv4, whose slots are cache-line aligned so
//! the keys and the record's hot part share one line, and 232 for IPv6)
//! and two index buckets of 8 bytes at a load of at most 3/4 (21.3 bytes
//! per session at full capacity). At 1,000,000 sessions that is **213
//! bytes per IPv4 pair and 253 per IPv6 pair**
//! ([`SessionTable::bytes_per_session`]; printed by the
//! `slots_fit_the_memory_budget` test and the `sessions` benchmark). The
//! index is allocated for the capacity up front (zeroed pages, mapped by
//! the OS on first touch); slabs grow in chunks of 4096 slots as sessions
//! are created and never move. The per-address count maps add
//! about 9 (IPv4) or 21 (IPv6) bytes per distinct address.
//!
//! # Hashing
//!
//! Keys are hashed with a per-table random seed and a folded 64×64→128-bit
//! multiply (module `hash`), about as fast as FxHash but without its
//! predictable, sender-constructible collisions.
//!
//! # HA
//!
//! [`SessionTable::to_entries`] exports a session as the forward and
//! reverse entries; [`SessionTable::insert_synced`] installs or refreshes
//! one from a peer's forward entry (flag `CLUSTER_SYNCED`, liberal TCP
//! tracking because windows are not synced). [`TcpUpdate::state_changed`]
//! and the return value of [`SessionTable::touch`] say when an update
//! delta is due.

mod hash;
mod index;
mod record;
mod slab;
mod store;
mod table;
mod tcp;
mod timeout;
mod wheel;

pub use record::{Closed, Direction, FlowKeys, Session, SessionHandle, SessionInit};
pub use table::{InsertError, Inserted, MAX_CAPACITY, MemoryUsage, SessionTable, Synced};
pub use tcp::{TcpSegment, TcpTracker, TcpUpdate, TcpViolation, TcpWindow};
pub use timeout::{Timeouts, timeout_secs};
pub use wheel::{TICK_NS, WHEEL_SLOTS};
