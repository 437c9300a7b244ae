//! The running node: minutely alive reports, start-up priorities and exec
//! failures.

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

/// A `Sys` whose spawn reports the missing program itself (before the
/// child exists) gets the same policy as the exec failure arriving later.
#[test]
fn missing_binary_reported_at_spawn_gives_up_the_same_way() {
    let mut sys = node();
    sys.exec_errors_at_spawn = true;
    sys.files.insert(
        "/etc/diskless/init.toml".into(),
        "[[service]]\nname = \"ghost\"\ncommand = [\"/usr/bin/ghost\"]\n".into(),
    );
    let sup = run(&mut sys, 5);
    match &sup.service("ghost").unwrap().state {
        State::GaveUp(why) => assert!(why.contains("/usr/bin/ghost does not exist"), "{why}"),
        s => panic!("{s:?}"),
    }
    assert!(sup.service("sshd").unwrap().pid().is_some());
}

/// An exec that fails for another reason than a missing program (here
/// EACCES, delivered with the child's exit) backs off like a crash.
#[test]
fn exec_failure_after_spawn_backs_off_then_gives_up() {
    let mut sys = node();
    sys.files.insert(
        "/etc/diskless/init.toml".into(),
        "[[service]]\nname = \"noexec\"\ncommand = [\"/usr/bin/noexec\"]\nmax_fast_failures = 3\n"
            .into(),
    );
    sys.files.insert("/usr/bin/noexec".into(), String::new());
    sys.behaviour
        .insert("/usr/bin/noexec".into(), Behaviour::ExecFails(libc::EACCES));
    let sup = run(&mut sys, 60);
    let tries = names(&sys)
        .iter()
        .filter(|n| *n == "/usr/bin/noexec")
        .count();
    assert_eq!(tries, 3, "three fast failures, then it gives up");
    match &sup.service("noexec").unwrap().state {
        State::GaveUp(why) => assert!(why.contains("Permission denied"), "{why}"),
        s => panic!("{s:?}"),
    }
    assert!(sup.service("sshd").unwrap().pid().is_some());
}

/// The fstab mounts are background work: their helpers are forked after
/// the services and after the late mounts (an fstab mount under /tmp must
/// not be hidden by the tmpfs), and the milestone does not wait for them.
#[test]
fn fstab_mounts_start_after_the_services_and_the_late_mounts() {
    let mut sys = node();
    run(&mut sys, 1);
    let pos = |pred: &dyn Fn(&Call) -> bool| sys.calls.iter().position(pred).unwrap();
    let culc = pos(&|c| *c == Call::SpawnMount("/culc".into()));
    let gmond = pos(&|c| matches!(c, Call::Spawn(a) if a[0] == "/usr/sbin/gmond"));
    let tmp = pos(&|c| matches!(c, Call::Mount(m) if m.target == "/tmp"));
    let milestone = pos(&|c| *c == Call::OwnPriority(false));
    assert!(gmond < tmp && tmp < culc, "{:#?}", sys.calls);
    assert!(milestone < culc, "all spawned without waiting for /culc");
}
