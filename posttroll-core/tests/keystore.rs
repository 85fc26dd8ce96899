//! Key files and the client-key policy on real files: every error names
//! the file (or the setting), and the admitted-keys folder is re-read when
//! it changes.
#![allow(clippy::unwrap_used, missing_docs)]

use std::fs;

use posttroll_core::keystore::{
    zpl, Admission, ClientKeyPolicy, FileKeyStore, KeyPair, KeyStore, PublicKey,
};
use posttroll_core::Config;

const GOOD: &str = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";

fn err_of<T: std::fmt::Debug>(r: posttroll_core::Result<T>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn written_files_read_back_and_secret_is_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let pair = KeyPair::generate().unwrap();
    let (public, secret) = zpl::write_certificates(dir.path(), "node", &pair).unwrap();
    assert_eq!(public, dir.path().join("node.key"));
    assert_eq!(secret, dir.path().join("node.key_secret"));
    assert_eq!(zpl::load_key_pair(&secret).unwrap(), pair);
    assert_eq!(zpl::load_public_key(&public).unwrap(), pair.public);
    assert_eq!(zpl::load_public_key(&secret).unwrap(), pair.public);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&secret).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // Writing again replaces both files (as pyzmq's open(..., 'w')), and
    // leaves no temporary file behind.
    let other = KeyPair::generate().unwrap();
    zpl::write_certificates(dir.path(), "node", &other).unwrap();
    assert_eq!(zpl::load_key_pair(&secret).unwrap(), other);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn each_bad_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    };
    let cases: Vec<(std::path::PathBuf, &str)> = vec![
        (dir.path().join("missing.key"), "no such file"),
        (
            write("empty.key", "#   just a banner\nmetadata\ncurve\n"),
            "no public key",
        ),
        (
            write("short.key", "curve\n    public-key = \"abc\"\n"),
            "must be 40 Z85 characters",
        ),
        (
            write(
                "long.key",
                &format!("curve\n    public-key = \"{GOOD}12345\"\n"),
            ),
            "has 45",
        ),
        (
            write(
                "alphabet.key",
                "curve\n    public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf~\"\n",
            ),
            "not in the Z85 alphabet",
        ),
        (
            write("binary.key", "public-key = \"\u{e9}\u{e9}\"\n"),
            "must be 40",
        ),
    ];
    for (path, expected) in cases {
        let err = err_of(zpl::load_public_key(&path));
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let public_only = write("pub.key", &format!("curve\n    public-key = \"{GOOD}\"\n"));
    let err = err_of(zpl::load_key_pair(&public_only));
    assert!(
        err.contains("pub.key") && err.contains("no secret key"),
        "{err}"
    );
    let bad_secret = write(
        "bad.key_secret",
        &format!("curve\n    public-key = \"{GOOD}\"\n    secret-key = \"x\"\n"),
    );
    let err = err_of(zpl::load_key_pair(&bad_secret));
    assert!(
        err.contains("bad.key_secret") && err.contains("secret-key"),
        "{err}"
    );
    assert!(!err.contains(GOOD), "{err}");
    let err = err_of(zpl::load_public_keys_in(&dir.path().join("nope")));
    assert!(
        err.contains("nope") && err.contains("no such folder"),
        "{err}"
    );
}

#[test]
fn missing_settings_name_the_key() {
    let store = FileKeyStore::new(&Config::default());
    for (err, key) in [
        (err_of(store.server_key_pair()), "server_secret_key_file"),
        (err_of(store.client_key_pair()), "client_secret_key_file"),
        (err_of(store.server_public_key()), "server_public_key_file"),
        (
            err_of(store.admitted_client_keys()),
            "clients_public_keys_directory",
        ),
        (
            err_of(
                ClientKeyPolicy::from_config(&Config::default())
                    .unwrap()
                    .check(),
            ),
            "clients_public_keys_directory",
        ),
    ] {
        assert!(err.contains(&format!("secure_zmq needs `{key}`")), "{err}");
    }
}

#[test]
fn folder_keys_skip_bad_files_and_other_suffixes() {
    let dir = tempfile::tempdir().unwrap();
    let a = KeyPair::generate().unwrap();
    let b = KeyPair::generate().unwrap();
    zpl::write_certificates(dir.path(), "a", &a).unwrap();
    zpl::write_certificates(dir.path(), "b", &b).unwrap();
    fs::write(dir.path().join("broken.key"), "nothing here").unwrap();
    fs::write(
        dir.path().join("note.txt"),
        format!("public-key = \"{GOOD}\""),
    )
    .unwrap();
    fs::write(
        dir.path().join(".hidden.key"),
        format!("public-key = \"{GOOD}\""),
    )
    .unwrap();
    let (keys, problems) = zpl::load_public_keys_in(dir.path()).unwrap();
    let mut expected = vec![a.public, b.public];
    expected.sort();
    assert_eq!(keys, expected);
    assert_eq!(problems.len(), 1);
    assert!(problems[0].to_string().contains("broken.key"));
}

fn admitted(policy: &ClientKeyPolicy, key: &PublicKey, ip: &str) -> bool {
    policy
        .admit(Some(key), Some(ip.parse().unwrap()))
        .is_admitted()
}

#[test]
fn policy_follows_the_folder_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let client = KeyPair::generate().unwrap();
    let (client_pub, _) = zpl::write_certificates(keys.path(), "client", &client).unwrap();
    let config = Config {
        clients_public_keys_directory: Some(dir.path().to_owned()),
        authorized_client_addresses: vec!["127.0.0.1".into(), "localhost".into()],
        ..Config::default()
    };
    let policy = ClientKeyPolicy::from_config(&config).unwrap();
    policy.check().unwrap();
    assert!(!admitted(&policy, &client.public, "127.0.0.1"));
    let copy = dir.path().join("client.key");
    fs::copy(&client_pub, &copy).unwrap();
    assert!(admitted(&policy, &client.public, "127.0.0.1"));
    assert!(admitted(&policy, &client.public, "::ffff:127.0.0.1"));
    match policy.admit(Some(&client.public), Some("127.0.0.2".parse().unwrap())) {
        Admission::Refuse { reason } => {
            assert!(reason.contains("127.0.0.2") && reason.contains("authorized_client_addresses"))
        }
        Admission::Admit => panic!("127.0.0.2 is not authorized"),
    }
    // Plain connections pass the IP check only.
    assert!(policy
        .admit(None, Some("127.0.0.1".parse().unwrap()))
        .is_admitted());
    assert!(!policy
        .admit(None, Some("10.1.1.1".parse().unwrap()))
        .is_admitted());
    assert!(!policy.admit(None, None).is_admitted());
    fs::remove_file(&copy).unwrap();
    match policy.admit(Some(&client.public), Some("127.0.0.1".parse().unwrap())) {
        Admission::Refuse { reason } => {
            assert!(reason.contains(&client.public.to_z85()), "{reason}");
            assert!(
                reason.contains(&dir.path().display().to_string()),
                "{reason}"
            );
        }
        Admission::Admit => panic!("the key was removed"),
    }
    // Replaced in place by another key under the same name.
    let other = KeyPair::generate().unwrap();
    zpl::write_certificates(dir.path(), "client", &other).unwrap();
    assert!(admitted(&policy, &other.public, "127.0.0.1"));
    assert!(!admitted(&policy, &client.public, "127.0.0.1"));
    let counts = policy.counts();
    assert_eq!(counts.admitted, 4);
    assert_eq!(counts.refused, 6);
    assert!(counts.reloads >= 3, "{counts:?}");
    // Unchanged folder: no re-read.
    let before = policy.counts().reloads;
    assert!(admitted(&policy, &other.public, "127.0.0.1"));
    assert_eq!(policy.counts().reloads, before);
    // A folder that disappears admits nobody.
    drop(dir);
    assert!(!admitted(&policy, &other.public, "127.0.0.1"));
}

#[test]
fn unresolvable_allowed_host_is_named() {
    let config = Config {
        authorized_client_addresses: vec!["no-such-host.invalid".into()],
        ..Config::default()
    };
    let err = err_of(ClientKeyPolicy::from_config(&config));
    assert!(err.contains("no-such-host.invalid"), "{err}");
}
