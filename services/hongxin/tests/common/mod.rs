//! What the tests that run the real `hongxin` binary share: starting it
//! with a local signing key the test knows, and tokens of that key.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// The local signing key the spawned processes are given, so the test can
/// mint the tokens they accept.
pub(crate) const LOCAL_KEY: &str = "aG9uZ3hpbiB0ZXN0czogYSBsb2NhbCBrZXkgb2YgMzIrIGJ5dGVz";

/// A county administrator's token for the spawned processes.
pub(crate) fn admin_token() -> String {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(LOCAL_KEY)
        .expect("base64");
    hongxin_runtime::auth::Authenticator::with_secret("hongxin", "hongxin", &key)
        .expect("authenticator")
        .mint(
            "person:test-admin",
            &[hongxin_runtime::auth::Role::CountyAdmin],
            hongxin_runtime::auth::Scope::default(),
            Duration::from_secs(3600),
        )
        .expect("token")
}

/// `hongxin <args>` in `dir` with `envs`, warnings only in its log; killed
/// when dropped.
pub(crate) fn hongxin(dir: &std::path::Path, envs: &[(&str, String)], args: &[&str]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hongxin"));
    cmd.args(args)
        .current_dir(dir)
        .env("HONGXIN_TELEMETRY__LOG_FILTER", "warn")
        .env("HONGXIN_AUTH__LOCAL_KEY", LOCAL_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("start hongxin")
}

/// The body of `GET <path>` from 127.0.0.1:`port` (plain HTTP/1.0).
pub(crate) async fn get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}
