//! perfscope's developer tasks as a library: the `cargo xtask` binary (`main.rs`) parses
//! the command line and calls a module's `run(opts)`; the fuzz targets reach the recipe
//! and case parsers here.

pub mod bench_train;
pub mod case;
pub mod ci;
pub mod demo;
pub mod diffcheck;
pub mod eval;
pub mod fuzz;
pub mod glob;
pub mod procs;
pub mod progress;
pub mod publish;
pub mod recipe;
pub mod score;
pub mod stamp;
pub mod tidy;
pub mod timeline;
pub mod tools;
pub mod train;
pub mod tree;

use std::path::PathBuf;

/// Options that train and eval share.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Common {
    /// Work folder: source trees, traces and logs under `targets/NAME/`, case runs
    /// under `eval/` [default: WORKSPACE/work].
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,

    /// Folder of the target recipes [default: WORKSPACE/targets].
    #[arg(long, value_name = "DIR")]
    pub targets: Option<PathBuf>,

    /// Where trained databases are published, with index.json [default: WORKSPACE/sigdb].
    #[arg(long, value_name = "DIR")]
    pub publish_dir: Option<PathBuf>,

    /// Build parallelism: sets OMP_NUM_THREADS, which `nproc` (and so the recipes'
    /// `make -j"$(nproc)"`) honours [default: all cores].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
}

/// The workspace root (set by .cargo/config.toml for every build in the workspace).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_WORKSPACE_DIR"))
}
