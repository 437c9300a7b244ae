//! The running node: services that fail (missing, crash-looping, failing
//! exec), minutely alive reports and start-up priorities.

use super::*;

#[test]
fn nonexistent_service_binary_is_reported_and_others_run() {
    let mut sys = node();
    init_toml(&mut sys, "[[service]]\nname = \"ghost\"\ncommand = [\"/usr/bin/ghost\", \"-x\"]\n\n\
         [[service]]\nname = \"after-ghost\"\ncommand = [\"/usr/sbin/gmond\", \"-x\"]\nafter = [\"ghost\"]\n");
    let sup = run(&mut sys, 5);
    let why = gave_up_why(&sup, "ghost");
    assert!(why.contains("/usr/bin/ghost does not exist"), "{why}");
    // Tried exactly once: missing binaries are not retried.
    assert_eq!(
        names(&sys)
            .iter()
            .filter(|n| *n == "/usr/bin/ghost")
            .count(),
        1
    );
    assert!(sup.service("after-ghost").unwrap().pid().is_some());
    assert!(sup.service("sshd").unwrap().pid().is_some());
}

#[test]
fn crash_loop_backs_off_then_gives_up_and_node_stays_up() {
    let mut sys = node();
    init_toml(
        &mut sys,
        "[[service]]\nname = \"crashy\"\ncommand = [\"/usr/bin/crashy\"]\nmax_fast_failures = 4\n",
    );
    sys.files.insert("/usr/bin/crashy".into(), String::new());
    sys.behaviour.insert(
        "/usr/bin/crashy".into(),
        Behaviour::ExitAfter(Duration::from_millis(50), 1),
    );
    let mut sup = boot::boot(&mut sys);
    let mut starts = vec![];
    for _ in 0..40 {
        sup.tick(&mut sys);
        let n = names(&sys)
            .iter()
            .filter(|n| *n == "/usr/bin/crashy")
            .count();
        if starts.last().map(|&(c, _)| c) != Some(n) {
            starts.push((n, sys.mono));
        }
    }
    assert_eq!(starts.last().unwrap().0, 4, "{starts:?}");
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1].1 - w[0].1).as_millis())
        .collect();
    // 50 ms run + 500, 1000, 2000 ms backoff (the first start is observed
    // one tick late, after the mount helper's exit).
    assert_eq!(gaps[1..], [1050, 2050]);
    assert!((550..=600).contains(&gaps[0]), "{gaps:?}");
    assert!(
        matches!(&sup.service("crashy").unwrap().state, State::GaveUp(w) if w.contains("4 fast failures"))
    );
    // The other services are still running and init keeps going.
    assert!(sup.service("sshd").unwrap().pid().is_some());
    assert!(!sys.calls.iter().any(|c| matches!(c, Call::Reboot(_))));
}

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
    init_toml(
        &mut sys,
        "[[service]]\nname = \"ghost\"\ncommand = [\"/usr/bin/ghost\"]\n",
    );
    let sup = run(&mut sys, 5);
    let why = gave_up_why(&sup, "ghost");
    assert!(why.contains("/usr/bin/ghost does not exist"), "{why}");
    assert!(sup.service("sshd").unwrap().pid().is_some());
}

/// An exec that fails for another reason than a missing program (here
/// EACCES, delivered with the child's exit) backs off like a crash.
#[test]
fn exec_failure_after_spawn_backs_off_then_gives_up() {
    let mut sys = node();
    init_toml(
        &mut sys,
        "[[service]]\nname = \"noexec\"\ncommand = [\"/usr/bin/noexec\"]\nmax_fast_failures = 3\n",
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
    let why = gave_up_why(&sup, "noexec");
    assert!(why.contains("Permission denied"), "{why}");
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
