//! The command name policies compare: `ls`, not `/usr/bin/../bin/ls`.
//!
//! A name without `/` is looked up in `PATH` by the target's shell and is
//! kept as written. A path is normalised lexically (`//` and `.` dropped,
//! `..` applied) and, when it lands in one of the system's binary
//! directories, named by its file name alone, so `/usr/bin/rm` and `rm`
//! are both `rm`. Anything else stays a path (`/tmp/x/ls` is not `ls`).
//!
//! `..` is applied lexically only where the directory it leaves is a
//! system directory: the kernel resolves `..` after symlinks, so
//! `/tmp/link/../../usr/bin/ls` may run a file outside `/usr/bin` when
//! `/tmp/link` is a symlink someone else controls. Such a path is kept as
//! written, which no rule naming a bare command matches.

/// Directories owned by root on every Linux distribution: a symlink inside
/// them is root's choice, and a binary in them is the system's.
const SYSTEM_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local",
    "/usr/local/bin",
    "/usr/local/sbin",
    "/usr/lib",
    "/usr/libexec",
];

/// Directories whose programs are named by their file name alone.
const BIN_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// The normalised command name of `word` (the first word of a command).
pub fn normalise(word: &str) -> String {
    if !word.contains('/') {
        return word.to_string();
    }
    if !word.starts_with('/') {
        // Relative to the target's working directory: as written.
        return word.to_string();
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in word.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                let dir = format!("/{}", parts.join("/"));
                if parts.is_empty() || !SYSTEM_DIRS.contains(&dir.as_str()) {
                    return word.to_string();
                }
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let Some((name, dirs)) = parts.split_last() else {
        return word.to_string();
    };
    let dir = format!("/{}", dirs.join("/"));
    if BIN_DIRS.contains(&dir.as_str()) {
        (*name).to_string()
    } else {
        format!("{dir}/{name}").replace("//", "/")
    }
}

#[cfg(test)]
mod tests {
    use super::normalise;

    #[test]
    fn system_paths_become_names_and_others_stay_paths() {
        assert_eq!(normalise("rm"), "rm");
        assert_eq!(normalise("/usr/bin/../bin/rm"), "rm");
        assert_eq!(normalise("/usr/bin/rm"), "rm");
        assert_eq!(normalise("//bin/./ls"), "ls");
        assert_eq!(normalise("/usr/local/bin/kubectl"), "kubectl");
        assert_eq!(normalise("/tmp/x/ls"), "/tmp/x/ls");
        assert_eq!(normalise("/opt//tool/./run"), "/opt/tool/run");
        assert_eq!(normalise("./ls"), "./ls");
        assert_eq!(normalise("bin/ls"), "bin/ls");
        // `..` out of a directory someone else may control: kept as written.
        assert_eq!(
            normalise("/tmp/link/../../usr/bin/ls"),
            "/tmp/link/../../usr/bin/ls"
        );
        assert_eq!(normalise("/../bin/ls"), "/../bin/ls");
        assert_eq!(normalise("/"), "/");
    }
}
