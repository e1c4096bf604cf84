//! Loading the XDP program with aya, typed handles on its maps, and running
//! it on one frame with `BPF_PROG_TEST_RUN`.

use crate::abi::{self, *};
use aya::maps::lpm_trie::LpmTrie;
use aya::maps::{Array, HashMap, MapData, PerCpuArray, Queue, RingBuf};
use aya::programs::xdp::XdpLinkId;
use aya::programs::{ProgramError, TestRun, TestRunOptions, Xdp};
use aya::{Ebpf, EbpfLoader};

/// The compiled XDP object (built by `build.rs`).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/xpf.bpf.o"));

/// The name of the firewall program in the object.
pub const PROGRAM: &str = "xpf_xdp";
/// A program that passes every frame (benchmark baseline).
pub const PASS_PROGRAM: &str = "xpf_pass";

/// Errors of the kernel side.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading maps or programs failed (the verifier log is in the message).
    #[error("loading the XDP object: {0}")]
    Load(#[from] aya::EbpfError),
    /// A program failed to load or run.
    #[error("program {name}: {source}")]
    Program {
        /// Program name.
        name: &'static str,
        /// Cause.
        #[source]
        source: ProgramError,
    },
    /// A map operation failed.
    #[error("map {name}: {source}")]
    Map {
        /// Map name.
        name: &'static str,
        /// Cause.
        #[source]
        source: aya::maps::MapError,
    },
    /// The object lacks something the loader expects.
    #[error("the XDP object has no {0}")]
    Missing(&'static str),
    /// A device name that does not resolve in the caller's network namespace.
    #[error("interface {name}: {reason}")]
    Interface {
        /// Device name.
        name: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A syscall on a map failed.
    #[error("map {name}: {source}")]
    MapIo {
        /// Map name.
        name: &'static str,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Not running with the privileges BPF needs.
    #[error("the eBPF backend needs root (CAP_BPF / CAP_NET_ADMIN): {0}")]
    NotPrivileged(String),
}

/// Whether this process runs as root (effective uid 0), from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Sizing of the session tables at load time.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Forward sessions the maps hold (each session has two entries).
    pub max_sessions: u32,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_sessions: abi::MAX_SESSIONS,
        }
    }
}

/// Typed handles on every map of the program.
pub struct Maps {
    /// `xpf_globals`.
    pub globals: Array<MapData, Globals>,
    /// `xpf_state`.
    pub state: Array<MapData, State>,
    /// `xpf_trace`.
    pub trace: Array<MapData, Trace>,
    /// `xpf_gen`.
    pub gen_cfg: Array<MapData, GenCfg>,
    /// `xpf_ifaces`.
    pub ifaces: Array<MapData, Iface>,
    /// `xpf_ifindex`.
    pub ifindex: HashMap<MapData, IfindexKey, u32>,
    /// `xpf_zones`.
    pub zones: Array<MapData, Zone>,
    /// `xpf_zone_pairs`.
    pub zone_pairs: HashMap<MapData, PairKey, Span>,
    /// `xpf_rules`.
    pub rules: Array<MapData, Rule>,
    /// `xpf_scheds`.
    pub scheds: Array<MapData, Sched>,
    /// `xpf_floods`.
    pub floods: Array<MapData, Flood>,
    /// `xpf_limit_cnt`.
    pub limit_cnt: HashMap<MapData, LimitKey, u64>,
    /// `xpf_terms`.
    pub terms: Array<MapData, Term>,
    /// `xpf_filters`.
    pub filters: Array<MapData, Span>,
    /// `xpf_policers`.
    pub policers: Array<MapData, Bucket>,
    /// `xpf_cnt_term`.
    pub cnt_term: PerCpuArray<MapData, PktCnt>,
    /// `xpf_rg_state`.
    pub rg_state: Array<MapData, u32>,
    /// `xpf_fabric`: key 0, the fabric link of the synced view (absent: none).
    pub fabric: HashMap<MapData, u32, Fabric>,
    /// `xpf_persist`.
    pub persist: HashMap<MapData, PersistKey, Binding>,
    /// `xpf_binds`.
    pub binds: HashMap<MapData, BindKey, Binding>,
    /// `xpf_sets4`.
    pub sets4: LpmTrie<MapData, Lpm4, u8>,
    /// `xpf_sets6`.
    pub sets6: LpmTrie<MapData, Lpm6, u8>,
    /// `xpf_members4`.
    pub members4: LpmTrie<MapData, Lpm4, Members>,
    /// `xpf_members6`.
    pub members6: LpmTrie<MapData, Lpm6, Members>,
    /// `xpf_routes4`.
    pub routes4: LpmTrie<MapData, Lpm4, Route>,
    /// `xpf_routes6`.
    pub routes6: LpmTrie<MapData, Lpm6, Route>,
    /// `xpf_neighbours`.
    pub neighbours: HashMap<MapData, AddrKey, Neighbour>,
    /// `xpf_nexthops`: per slot, neighbour id -> the neighbour entry.
    pub nexthops: Array<MapData, Neighbour>,
    /// `xpf_local`.
    pub local: HashMap<MapData, AddrKey, u32>,
    /// `xpf_snat`.
    pub snat: Array<MapData, SnatRule>,
    /// `xpf_dnat`.
    pub dnat: Array<MapData, DnatRule>,
    /// `xpf_static`.
    pub statics: Array<MapData, StaticRule>,
    /// `xpf_pools`.
    pub pools: Array<MapData, Pool>,
    /// `xpf_pool_addrs`.
    pub pool_addrs: HashMap<MapData, PoolAddrKey, Prefix>,
    /// `xpf_slots`.
    pub slots: HashMap<MapData, SlotKey, u8>,
    /// `xpf_exhausted`: the program's source-NAT exhaustion memo.
    pub exhausted: HashMap<MapData, SlotKey, Exhaust>,
    /// `xpf_sessions`.
    pub sessions: HashMap<MapData, SessKey, SessVal>,
    /// A duplicate of `xpf_sessions`' descriptor, for batched reads
    /// ([`Maps::all_sessions`]; aya's map keeps its own).
    sessions_fd: std::os::fd::OwnedFd,
    /// `xpf_embryonic`.
    pub embryonic: Queue<MapData, Embryo>,
    /// `xpf_frags`: datagrams whose fragments are being followed.
    pub frags: HashMap<MapData, FragKey, FragVal>,
    /// `xpf_frag_ages`: their insertion order.
    pub frag_ages: Queue<MapData, FragAge>,
    /// `xpf_events`.
    pub events: RingBuf<MapData>,
    /// `xpf_cnt_global`.
    pub cnt_global: PerCpuArray<MapData, u64>,
    /// `xpf_cnt_iface`.
    pub cnt_iface: PerCpuArray<MapData, IfCnt>,
    /// `xpf_cnt_zone`.
    pub cnt_zone: PerCpuArray<MapData, ZoneCnt>,
    /// `xpf_cnt_policy`.
    pub cnt_policy: PerCpuArray<MapData, PktCnt>,
    /// `xpf_cnt_nat`.
    pub cnt_nat: PerCpuArray<MapData, PktCnt>,
}

impl Maps {
    /// Every entry of `xpf_sessions` (forward and reverse), read in batches
    /// of thousands per syscall.
    pub fn all_sessions(&self) -> Result<Vec<(SessKey, SessVal)>, Error> {
        use std::os::fd::AsFd;
        crate::batch::lookup_all(self.sessions_fd.as_fd()).map_err(|source| Error::MapIo {
            name: "xpf_sessions",
            source,
        })
    }

    /// Forgets every remembered source-NAT exhaustion: called whenever the
    /// control plane frees port slots, so the program scans again.
    pub fn forget_exhaustion(&mut self) {
        let keys: Vec<SlotKey> = self.exhausted.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = self.exhausted.remove(&k);
        }
    }

    /// Forgets every datagram the fragment table follows.
    pub fn clear_fragments(&mut self) {
        let keys: Vec<FragKey> = self.frags.keys().filter_map(Result::ok).collect();
        for k in keys {
            let _ = self.frags.remove(&k);
        }
        while self.frag_ages.pop(0).is_ok() {}
    }
}

/// The loaded object: programs and maps.
pub struct Loaded {
    ebpf: Ebpf,
    /// The maps.
    pub maps: Maps,
}

macro_rules! take {
    ($ebpf:expr, $name:literal) => {{
        let map = $ebpf.take_map($name).ok_or(Error::Missing($name))?;
        map.try_into().map_err(|source| Error::Map {
            name: $name,
            source,
        })?
    }};
}

/// What one test run of the program did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// The XDP action the program returned.
    pub action: u32,
    /// The frame after the program (its whole output buffer).
    pub frame: Vec<u8>,
    /// Run time per repetition as the kernel measured it, ns.
    pub duration_ns: u64,
}

impl Loaded {
    /// Loads the object, sizes the session tables and loads both programs
    /// (the verifier runs here). Needs root.
    pub fn load(opts: LoadOptions) -> Result<Self, Error> {
        if !is_root() {
            return Err(Error::NotPrivileged(
                "loading BPF programs and maps needs root on this kernel".into(),
            ));
        }
        let sessions = opts.max_sessions.max(16);
        // Two entries per session, exactly: a power of two stays one (the
        // kernel rounds the bucket array up to one, and a doubled bucket
        // array is a cache miss more per lookup). The room an eviction at
        // capacity needs is kept out of the capacity instead
        // (`Firewall::capacity`).
        let mut ebpf = EbpfLoader::new()
            .map_max_entries("xpf_sessions", sessions.saturating_mul(2))
            .map_max_entries("xpf_embryonic", sessions)
            .map_max_entries("xpf_slots", sessions)
            .map_max_entries("xpf_limit_cnt", sessions.saturating_mul(2))
            .map_max_entries("xpf_persist", sessions)
            .map_max_entries("xpf_binds", sessions)
            .load(OBJECT)?;
        for name in [PROGRAM, PASS_PROGRAM] {
            let prog: &mut Xdp = ebpf
                .program_mut(name)
                .ok_or(Error::Missing("xpf_xdp program"))?
                .try_into()
                .map_err(|source| Error::Program {
                    name: PROGRAM,
                    source,
                })?;
            prog.load().map_err(|source| Error::Program {
                name: PROGRAM,
                source,
            })?;
        }
        let sessions_fd = match ebpf.map("xpf_sessions") {
            Some(aya::maps::Map::HashMap(data)) => {
                use std::os::fd::AsFd;
                data.fd()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|source| Error::MapIo {
                        name: "xpf_sessions",
                        source,
                    })?
            }
            _ => return Err(Error::Missing("xpf_sessions (a hash map)")),
        };
        let maps = Maps {
            sessions_fd,
            globals: take!(ebpf, "xpf_globals"),
            state: take!(ebpf, "xpf_state"),
            trace: take!(ebpf, "xpf_trace"),
            gen_cfg: take!(ebpf, "xpf_gen"),
            ifaces: take!(ebpf, "xpf_ifaces"),
            ifindex: take!(ebpf, "xpf_ifindex"),
            zones: take!(ebpf, "xpf_zones"),
            zone_pairs: take!(ebpf, "xpf_zone_pairs"),
            rules: take!(ebpf, "xpf_rules"),
            scheds: take!(ebpf, "xpf_scheds"),
            floods: take!(ebpf, "xpf_floods"),
            limit_cnt: take!(ebpf, "xpf_limit_cnt"),
            persist: take!(ebpf, "xpf_persist"),
            rg_state: take!(ebpf, "xpf_rg_state"),
            fabric: take!(ebpf, "xpf_fabric"),
            terms: take!(ebpf, "xpf_terms"),
            filters: take!(ebpf, "xpf_filters"),
            policers: take!(ebpf, "xpf_policers"),
            cnt_term: take!(ebpf, "xpf_cnt_term"),
            binds: take!(ebpf, "xpf_binds"),
            sets4: take!(ebpf, "xpf_sets4"),
            sets6: take!(ebpf, "xpf_sets6"),
            members4: take!(ebpf, "xpf_members4"),
            members6: take!(ebpf, "xpf_members6"),
            routes4: take!(ebpf, "xpf_routes4"),
            routes6: take!(ebpf, "xpf_routes6"),
            neighbours: take!(ebpf, "xpf_neighbours"),
            nexthops: take!(ebpf, "xpf_nexthops"),
            local: take!(ebpf, "xpf_local"),
            snat: take!(ebpf, "xpf_snat"),
            dnat: take!(ebpf, "xpf_dnat"),
            statics: take!(ebpf, "xpf_static"),
            pools: take!(ebpf, "xpf_pools"),
            pool_addrs: take!(ebpf, "xpf_pool_addrs"),
            slots: take!(ebpf, "xpf_slots"),
            exhausted: take!(ebpf, "xpf_exhausted"),
            sessions: take!(ebpf, "xpf_sessions"),
            embryonic: take!(ebpf, "xpf_embryonic"),
            frags: take!(ebpf, "xpf_frags"),
            frag_ages: take!(ebpf, "xpf_frag_ages"),
            events: take!(ebpf, "xpf_events"),
            cnt_global: take!(ebpf, "xpf_cnt_global"),
            cnt_iface: take!(ebpf, "xpf_cnt_iface"),
            cnt_zone: take!(ebpf, "xpf_cnt_zone"),
            cnt_policy: take!(ebpf, "xpf_cnt_policy"),
            cnt_nat: take!(ebpf, "xpf_cnt_nat"),
        };
        Ok(Self { ebpf, maps })
    }

    /// Runs `name` on `frame` `repeat` times with `BPF_PROG_TEST_RUN`.
    pub fn test_run(
        &mut self,
        name: &'static str,
        frame: &[u8],
        repeat: u32,
    ) -> Result<RunResult, Error> {
        let prog: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .ok_or(Error::Missing("program"))?
            .try_into()
            .map_err(|source| Error::Program { name, source })?;
        // Room for a pushed VLAN tag.
        let mut out = vec![0u8; frame.len() + 64];
        let opts = TestRunOptions {
            data_in: Some(frame),
            data_out: Some(&mut out),
            repeat: repeat.max(1),
            ..TestRunOptions::default()
        };
        let r = prog
            .test_run(opts)
            .map_err(|source| Error::Program { name, source })?;
        out.truncate(r.data_size_out as usize);
        Ok(RunResult {
            action: r.return_value,
            frame: out,
            duration_ns: r.duration.as_nanos() as u64,
        })
    }

    fn xdp_program(&mut self) -> Result<&mut Xdp, Error> {
        self.ebpf
            .program_mut(PROGRAM)
            .ok_or(Error::Missing("program"))?
            .try_into()
            .map_err(|source| Error::Program {
                name: PROGRAM,
                source,
            })
    }

    /// Attaches the firewall program to the device with kernel index
    /// `ifindex` (resolved by the caller in its network namespace) in `mode`.
    /// The attachment lives until [`detach`](Self::detach) or until the
    /// loaded object is dropped.
    pub fn attach(
        &mut self,
        ifindex: u32,
        mode: aya::programs::XdpMode,
    ) -> Result<XdpLinkId, Error> {
        self.xdp_program()?
            .attach_to_if_index(ifindex, mode)
            .map_err(|source| Error::Program {
                name: PROGRAM,
                source,
            })
    }

    /// Removes an attachment made by [`attach`](Self::attach).
    pub fn detach(&mut self, link: XdpLinkId) -> Result<(), Error> {
        self.xdp_program()?
            .detach(link)
            .map_err(|source| Error::Program {
                name: PROGRAM,
                source,
            })
    }
}
