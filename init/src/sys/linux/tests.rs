//! The real syscalls that are safe to run unprivileged.

use super::*;

#[test]
fn spawn_reports_exit_code_and_missing_programs() {
    let mut sys = LinuxSys::new();
    let spec = SpawnSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), "exit $CODE".into()],
        env: vec![("CODE".into(), "3".into())],
        nice: 0,
    };
    let pid = sys.spawn(&spec).unwrap();
    assert_eq!(exit_of(&mut sys, pid), Some(ExitStatus::Code(3)));
    let missing = SpawnSpec {
        argv: vec!["/nonexistent/daemon".into()],
        env: vec![],
        nice: 0,
    };
    // spawn returns before the exec: the failure comes with the exit.
    let pid = sys.spawn(&missing).unwrap();
    assert_eq!(
        exit_of(&mut sys, pid),
        Some(ExitStatus::ExecFailed(libc::ENOENT))
    );
    // A program that exits 127 itself is not an exec failure.
    let own127 = SpawnSpec {
        argv: vec!["/bin/sh".into(), "-c".into(), "exit 127".into()],
        env: vec![],
        nice: 0,
    };
    let pid = sys.spawn(&own127).unwrap();
    assert_eq!(exit_of(&mut sys, pid), Some(ExitStatus::Code(127)));
    let empty = SpawnSpec {
        argv: vec![],
        env: vec![],
        nice: 0,
    };
    assert_eq!(
        sys.spawn(&empty).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
    assert!(sys.exec_reports.is_empty(), "no pipe outlives its child");
    spawn_sets_session_niceness_and_stdin(&mut sys);
}

/// (Called from the test above: `wait_events` reaps every child of the
/// test process, so two spawning tests must not run in parallel.)
fn spawn_sets_session_niceness_and_stdin(sys: &mut LinuxSys) {
    // Exit code 0 only if the child leads its own session, runs at nice 7
    // and reads /dev/null on stdin.
    let spec = SpawnSpec {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            r#"set -- $(cat /proc/$$/stat); [ "$6" = "$1" ] || exit 10; [ "$(nice)" = 7 ] || exit 11; [ "$(readlink /proc/$$/fd/0)" = /dev/null ] || exit 12; [ "$(pwd)" = / ] || exit 13"#.into(),
        ],
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        nice: 7,
    };
    let before = process::niceness();
    let pid = sys.spawn(&spec).unwrap();
    assert_eq!(
        process::niceness(),
        before,
        "init's own niceness is untouched"
    );
    assert_eq!(exit_of(sys, pid), Some(ExitStatus::Code(0)));
}

/// How `pid` ended, waiting at most 5 s.
fn exit_of(sys: &mut LinuxSys, pid: Pid) -> Option<ExitStatus> {
    for _ in 0..100 {
        for ev in sys.wait_events(Some(Duration::from_millis(50))) {
            if let Event::Exited { pid: p, status } = ev {
                if p == pid {
                    return Some(status);
                }
            }
        }
    }
    None
}
