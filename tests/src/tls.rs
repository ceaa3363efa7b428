//! Test certificates made with the `openssl` command line: a private CA and server
//! certificates it signs (for upstream TLS tests), all in a directory the caller owns.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::random_hex;

/// A private certificate authority (`<dir>/<name>-ca.pem` and its key), valid for two days.
pub struct TestCa {
    name: String,
    dir: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

/// A server certificate signed by a [`TestCa`]: PEM certificate and unencrypted PEM key.
#[derive(Clone, Debug)]
pub struct ServerCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    /// Makes a CA called `name` in `dir` (P-256 key, `CA:TRUE`, `keyCertSign`).
    #[track_caller]
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let cert = dir.join(format!("{name}-ca.pem"));
        let key = dir.join(format!("{name}-ca.key"));
        openssl(&[
            "req".as_ref(),
            "-x509".as_ref(),
            "-newkey".as_ref(),
            "ec".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:prime256v1".as_ref(),
            "-nodes".as_ref(),
            "-keyout".as_ref(),
            key.as_os_str(),
            "-out".as_ref(),
            cert.as_os_str(),
            "-days".as_ref(),
            "2".as_ref(),
            "-subj".as_ref(),
            format!("/CN=vigil-e2e {name} CA").as_ref(),
            "-addext".as_ref(),
            "basicConstraints=critical,CA:TRUE".as_ref(),
            "-addext".as_ref(),
            "keyUsage=critical,keyCertSign,cRLSign".as_ref(),
        ]);
        TestCa {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            cert,
            key,
        }
    }

    /// The CA certificate (PEM), to trust it.
    pub fn cert(&self) -> &Path {
        &self.cert
    }

    /// Issues a server certificate for `localhost` and `127.0.0.1` into the CA's dir as
    /// `<ca>-<server>.pem` and `<ca>-<server>.key` (mode 0600).
    #[track_caller]
    pub fn issue_server(&self, server: &str) -> ServerCert {
        self.issue(
            server,
            "/CN=localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n\
             basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\n",
        )
    }

    /// Issues a TLS client certificate (`CN=<client>`, `clientAuth`) the same way.
    #[track_caller]
    pub fn issue_client(&self, client: &str) -> ServerCert {
        self.issue(
            client,
            &format!("/CN={client}"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        )
    }

    #[track_caller]
    fn issue(&self, name: &str, subject: &str, extensions: &str) -> ServerCert {
        let base = format!("{}-{name}", self.name);
        let cert = self.dir.join(format!("{base}.pem"));
        let key = self.dir.join(format!("{base}.key"));
        let csr = self.dir.join(format!("{base}.csr"));
        let ext = self.dir.join(format!("{base}.ext"));
        std::fs::write(&ext, extensions).expect("could not write the certificate extensions file");
        openssl(&[
            "req".as_ref(),
            "-new".as_ref(),
            "-newkey".as_ref(),
            "ec".as_ref(),
            "-pkeyopt".as_ref(),
            "ec_paramgen_curve:prime256v1".as_ref(),
            "-nodes".as_ref(),
            "-keyout".as_ref(),
            key.as_os_str(),
            "-out".as_ref(),
            csr.as_os_str(),
            "-subj".as_ref(),
            subject.as_ref(),
        ]);
        openssl(&[
            "x509".as_ref(),
            "-req".as_ref(),
            "-in".as_ref(),
            csr.as_os_str(),
            "-CA".as_ref(),
            self.cert.as_os_str(),
            "-CAkey".as_ref(),
            self.key.as_os_str(),
            "-set_serial".as_ref(),
            format!("0x{}", random_hex(8)).as_ref(),
            "-days".as_ref(),
            "2".as_ref(),
            "-extfile".as_ref(),
            ext.as_os_str(),
            "-out".as_ref(),
            cert.as_os_str(),
        ]);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
            .expect("could not chmod the key");
        ServerCert { cert, key }
    }
}

#[track_caller]
fn openssl(args: &[&std::ffi::OsStr]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("could not run openssl (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}
