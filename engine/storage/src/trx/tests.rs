//! Transaction ids and read views against a model.

use std::sync::Arc;

use floe_blk::CrashMode;

use super::*;
use crate::fil::MemStore;
use crate::srv::EngineConfig;
use crate::util::clock::SystemClock;
use crate::util::rng::Rng;

fn config() -> EngineConfig {
    EngineConfig {
        buf: crate::buf::BufConfig {
            pool_pages: 32,
            huge_pages: floe_rt::HugePages::Never,
            ..Default::default()
        },
        data_file_bytes: 256 * crate::fil::PAGE_BYTES as u64,
        cleaner: None,
        ..EngineConfig::default()
    }
}

/// Random begins, ends and view openings: every view sees exactly the
/// transactions that had ended before it was opened, plus its creator;
/// the purge bound never passes what an open view might not see.
#[test]
fn views_see_exactly_what_ended_before_them() {
    let engine = Engine::create(
        Arc::new(MemStore::new(4096, 4096, 1)),
        config(),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let trx = TrxSys::open(&engine).unwrap();
    let mut rng = Rng(42);
    let mut active: Vec<TrxId> = Vec::new();
    let mut ended: Vec<TrxId> = Vec::new();
    // (view, ids ended when it opened, ids active when it opened)
    let mut views: Vec<(ReadView, Vec<TrxId>, Vec<TrxId>)> = Vec::new();
    for step in 0..3000 {
        match rng.below(4) {
            0 | 1 => active.push(trx.begin_read_write(&engine).unwrap()),
            2 if !active.is_empty() => {
                let id = active.swap_remove(rng.below(active.len() as u64) as usize);
                trx.end(id).unwrap();
                ended.push(id);
            }
            _ => {
                let creator = if !active.is_empty() && rng.below(2) == 0 {
                    Some(active[rng.below(active.len() as u64) as usize])
                } else {
                    None
                };
                views.push((trx.open_view(creator), ended.clone(), active.clone()));
                if views.len() > 20 {
                    let (view, _, _) = views.remove(rng.below(views.len() as u64) as usize);
                    trx.close_view(view);
                }
            }
        }
        if step % 5 != 0 {
            continue;
        }
        let bound = trx.oldest_view_limit();
        for (view, ended_then, active_then) in &views {
            for id in ended_then {
                assert!(view.sees(*id), "a view misses {id:?}, which had ended");
            }
            for id in active_then {
                assert_eq!(
                    view.sees(*id),
                    view.creator == Some(*id),
                    "visibility of {id:?}, active at the view's opening"
                );
            }
            for id in active
                .iter()
                .chain(&ended)
                .filter(|id| !ended_then.contains(id) && !active_then.contains(id))
            {
                assert!(!view.sees(*id), "a view sees {id:?}, which began after it");
            }
            assert!(bound <= view.up_limit, "purge bound passes an open view");
        }
        if let Some(oldest) = active.iter().min() {
            assert!(bound <= *oldest, "purge bound passes an active transaction");
        }
    }
    assert!(trx.end(TrxId(u64::MAX)).is_err());
}

/// Ids handed out before a power cut are never handed out again, even
/// though the limit was raised without waiting for durability.
#[test]
fn ids_are_never_reused_after_a_crash() {
    let store = MemStore::new(512, 512, 3);
    let engine = Engine::create(
        Arc::new(store.clone()),
        config(),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let trx = TrxSys::open(&engine).unwrap();
    let mut highest = TrxId(0);
    for _ in 0..1000 {
        highest = trx.begin_read_write(&engine).unwrap();
    }
    // A record carrying the highest id, made durable: its redo follows the
    // limit raise that allowed the id.
    let tree = {
        let mut mtr = Mtr::start(engine.pool(), engine.log());
        let tree = crate::btr::tree::Tree::create(&mut mtr, SYSTEM_SPACE, 50).unwrap();
        mtr.commit().unwrap();
        tree
    };
    let lsn = tree
        .insert(engine.env(), b"k", &highest.0.to_le_bytes())
        .unwrap();
    engine.commit_wait(lsn).unwrap();
    drop(trx);
    drop(engine);
    for mode in CrashMode::ALL {
        let engine = Engine::open(
            Arc::new(store.restart(mode)),
            config(),
            Arc::new(SystemClock::new()),
        )
        .unwrap();
        let trx = TrxSys::open(&engine).unwrap();
        let next = trx.begin_read_write(&engine).unwrap();
        assert!(
            next > highest,
            "{mode:?}: id {next:?} handed out again (highest before the crash {highest:?})"
        );
    }
}

/// A read-only view takes no id and leaves the active set alone.
#[test]
fn read_only_views_take_no_id() {
    let engine = Engine::create(
        Arc::new(MemStore::new(4096, 4096, 2)),
        config(),
        Arc::new(SystemClock::new()),
    )
    .unwrap();
    let trx = TrxSys::open(&engine).unwrap();
    let writer = trx.begin_read_write(&engine).unwrap();
    let view = trx.open_view(None);
    assert_eq!(trx.active_count(), 1);
    assert!(!view.sees(writer));
    let next = trx.begin_read_write(&engine).unwrap();
    assert_eq!(next.0, writer.0 + 1, "the read-only view consumed an id");
    trx.close_view(view);
}
