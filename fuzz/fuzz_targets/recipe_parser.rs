//! Fuzzes the target recipe parser the way `Recipe::load` reads `targets/NAME.toml`: the
//! TOML text into `xtask::recipe::Recipe`, then `Recipe::problems` and the accessors the
//! train task uses. None may panic on any text.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use xtask::recipe::{Recipe, Suite};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(recipe) = toml::from_str::<Recipe>(text) else {
        return;
    };
    let _ = recipe.problems();
    let _ = recipe.source_package();
    let _ = recipe.origin();
    let _ = recipe.build_env(Some(2));
    let _ = recipe.files_dir();
    let _ = recipe.tree_in(Path::new("/nonexistent/fetch"));
    for suite in [Suite::Full, Suite::Quick] {
        let _ = recipe.test_command(suite);
        let _ = recipe.test_timeout(suite);
    }
});
