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
    let mut got = None;
    for _ in 0..100 {
        for ev in sys.wait_events(Some(Duration::from_millis(50))) {
            if let Event::Exited { pid: p, status } = ev {
                if p == pid {
                    got = Some(status);
                }
            }
        }
        if got.is_some() {
            break;
        }
    }
    assert_eq!(got, Some(ExitStatus::Code(3)));
    let missing = SpawnSpec {
        argv: vec!["/nonexistent/daemon".into()],
        env: vec![],
        nice: 0,
    };
    let e = sys.spawn(&missing).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
}
