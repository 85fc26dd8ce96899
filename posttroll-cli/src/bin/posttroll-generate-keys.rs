//! `posttroll-generate-keys NAME [-d DIRECTORY]`: creates a CURVE key pair
//! for the `secure_zmq` backend as the reference's command does: `NAME.key`
//! (the public certificate) and `NAME.key_secret` (both keys, readable by
//! its owner only from its creation) in DIRECTORY (default: the current
//! directory), ZPL certificates exactly as pyzmq writes them.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use posttroll_core::keystore::zpl;

/// Create a public/secret key pair for the secure zmq backend. This will
/// create two files (in the current directory if not otherwise specified)
/// with the suffixes '.key' and '.key_secret'. The name of the files will
/// be the one provided.
#[derive(Debug, Parser)]
#[command(name = "posttroll-generate-keys", version)]
struct Args {
    /// Name of the file.
    name: String,
    /// Directory to place the keys in.
    #[arg(short, long, default_value = ".")]
    directory: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.name.is_empty() || args.name.contains('/') {
        eprintln!(
            "posttroll-generate-keys: the name '{}' must be a plain file name (use -d for the directory)",
            args.name
        );
        return ExitCode::from(2);
    }
    if !args.directory.is_dir() {
        eprintln!(
            "posttroll-generate-keys: the directory {} does not exist",
            args.directory.display()
        );
        return ExitCode::FAILURE;
    }
    match zpl::create_certificates(&args.directory, &args.name) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("posttroll-generate-keys: {e}");
            ExitCode::FAILURE
        }
    }
}
