//! The backend with real worker threads and in-memory ports.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;
use xpf_dataplane::RuntimeDataPlane;
use xpf_engine::wire::parse_frame;
use xpf_runtime::{DropReason, GlobalCounter, SessionEntry};
use xpf_userspace::craft::tcp_flags::{ACK, SYN};
use xpf_userspace::{MemoryPortFactory, RunMode, UserspaceOptions};

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn snat_replies_reach_the_worker_that_owns_their_session() {
    let ports = Arc::new(MemoryPortFactory::new(1, 8192));
    let opts = UserspaceOptions {
        workers: 2,
        mode: RunMode::Threaded,
        port_factory: ports.clone(),
        ..UserspaceOptions::default()
    };
    let dp = backend(opts, &config(false));
    assert_eq!(dp.shard_count(), 2, "a PAT-pool config runs on both shards");
    let link = dp.link();
    block_on(link.attach("lan")).unwrap();
    block_on(link.attach("wan")).unwrap();
    let (lan, wan) = (ports.handle("lan"), ports.handle("wan"));

    const FLOWS: u16 = 32;
    for i in 0..FLOWS {
        let c = (i % 20) as u8;
        let syn = from_client(c, ip(SERVER)).tcp(40000 + i, 443, SYN, 1000, 0, 65535, &[]);
        assert!(lan.send(syn));
    }
    // Every SYN leaves the WAN translated to the pool address.
    let mut translated = Vec::new();
    for _ in 0..FLOWS {
        let f = wan.recv_timeout(WAIT).expect("SYN forwarded");
        let p = parse_frame(&f).unwrap();
        assert_eq!(p.src, ip(POOL));
        let t = p.tcp().unwrap();
        translated.push((t.src_port, t.dst_port));
    }
    // Replies to the translated tuples.
    for (pport, sport) in &translated {
        let synack =
            from_wan(ip(SERVER), ip(POOL)).tcp(*sport, *pport, SYN | ACK, 5000, 1001, 65535, &[]);
        assert!(wan.send(synack));
    }
    let mut delivered = Vec::new();
    for _ in 0..FLOWS {
        let f = lan
            .recv_timeout(WAIT)
            .expect("reply forwarded back to the client");
        let p = parse_frame(&f).unwrap();
        assert_eq!(p.src, ip(SERVER));
        delivered.push(p.tcp().unwrap().dst_port);
    }
    delivered.sort_unstable();
    assert_eq!(delivered, (40000..40000 + FLOWS).collect::<Vec<_>>());

    // Both shards hold sessions, and some session's reply tuple hashes to
    // the other shard: the steering table, not the hash, brought it home.
    let sessions = dp.sessions();
    let mut forward: Vec<SessionEntry> = Vec::new();
    block_on(sessions.for_each(None, &mut |e| {
        if !e.is_reverse() {
            forward.push(*e);
        }
        std::ops::ControlFlow::Continue(())
    }))
    .unwrap();
    assert_eq!(forward.len(), FLOWS as usize);
    let mut owners = [0usize; 2];
    let mut steered = 0;
    for e in &forward {
        let owner = dp.shard_of_session(&e.key()).unwrap();
        assert_eq!(dp.shard_of_session(&e.companion_key()), Some(owner));
        owners[owner] += 1;
        let plain = xpf_userspace::steer::Steering::new(2);
        if plain.hashed_shard(&e.companion_key()) != owner {
            steered += 1;
        }
    }
    assert!(owners[0] > 0 && owners[1] > 0, "owners {owners:?}");
    assert!(steered > 0, "no reply needed the steering table");
    let tel = dp.telemetry();
    assert_eq!(
        block_on(tel.global_counter(GlobalCounter::Drop(DropReason::DefaultDeny))).unwrap(),
        0
    );
    assert_eq!(
        block_on(tel.global_counter(GlobalCounter::Base(xpf_runtime::BaseCounter::Forwarded)))
            .unwrap(),
        2 * u64::from(FLOWS)
    );
    block_on(dp.teardown()).unwrap();
}

#[test]
fn unsolicited_inbound_is_denied_by_default_on_a_threaded_backend() {
    let ports = Arc::new(MemoryPortFactory::new(1, 1024));
    let opts = UserspaceOptions {
        workers: 2,
        port_factory: ports.clone(),
        ..UserspaceOptions::default()
    };
    let dp = backend(opts, &config(false));
    block_on(dp.link().attach("lan")).unwrap();
    block_on(dp.link().attach("wan")).unwrap();
    let (lan, wan) = (ports.handle("lan"), ports.handle("wan"));
    // Inbound SSH to a LAN host: no policy permits it.
    assert!(wan.send(from_wan(ip(SERVER), client(3)).tcp(50000, 22, SYN, 1, 0, 65535, &[])));
    // A permitted flow afterwards proves the denied one was processed.
    assert!(lan.send(from_client(1, ip(SERVER)).tcp(40001, 80, SYN, 1, 0, 65535, &[])));
    assert!(wan.recv_timeout(WAIT).is_some());
    let tel = dp.telemetry();
    let deny = GlobalCounter::Drop(DropReason::DefaultDeny);
    let mut denied = 0;
    for _ in 0..2000 {
        denied = block_on(tel.global_counter(deny)).unwrap();
        if denied == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(denied, 1);
    assert!(lan.try_recv().is_none(), "nothing reached the LAN");
    block_on(dp.close()).unwrap();
}
