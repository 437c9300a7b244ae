//! The running node: minutely alive reports and start-up priorities.

use super::*;

#[test]
fn a_running_node_says_it_is_alive_every_minute() {
    let mut sys = node();
    let mut sup = run(&mut sys, 1);
    let reports = |sys: &FakeSys| {
        sys.calls
            .iter()
            .filter(|c| matches!(c, Call::SpawnReport(_)))
            .count()
    };
    assert_eq!(reports(&sys), 1, "services up");
    let t0 = sys.mono;
    for _ in 0..50 {
        if sys.mono - t0 > crate::report::ALIVE_EVERY * 3 {
            break;
        }
        sup.tick(&mut sys);
    }
    // One more per minute, and the loop slept in between (a deadline).
    assert_eq!(reports(&sys), 4, "{:?}", sys.mono - t0);
}

#[test]
fn background_daemons_yield_to_sshd_during_start_up() {
    let mut sys = node();
    let mut sup = run(&mut sys, 1);
    assert_eq!(
        sys.niced,
        [
            ("/usr/sbin/rpcbind".to_string(), 19),
            ("/usr/sbin/gmond".to_string(), 19)
        ],
        "sshd starts at normal priority"
    );
    let renices = |sys: &FakeSys| {
        sys.calls
            .iter()
            .filter(|c| matches!(c, Call::Renice(_, 0)))
            .count()
    };
    assert_eq!(renices(&sys), 0);
    let t0 = sys.mono;
    // Up to the end of the window (init waits for it: it is a deadline)...
    for _ in 0..20 {
        if sys.mono - t0 >= STARTUP_WINDOW {
            break;
        }
        sup.tick(&mut sys);
    }
    assert!(sys.mono - t0 <= STARTUP_WINDOW, "{:?}", sys.mono - t0);
    // ...and the tick that starts there lifts both.
    sup.tick(&mut sys);
    assert_eq!(
        renices(&sys),
        2,
        "both lifted to 0 at the end of the window"
    );
    // A restart after the window starts at normal priority.
    let gmond = sup.service("gmond").unwrap().pid().unwrap();
    sys.kill(gmond, Signal::Kill).unwrap();
    for _ in 0..5 {
        sup.tick(&mut sys);
    }
    assert_eq!(sys.niced.len(), 2, "{:?}", sys.niced);
    assert!(
        names(&sys)
            .iter()
            .filter(|n| *n == "/usr/sbin/gmond")
            .count()
            >= 2
    );
}
