//! The Debian package's sources agree with each other, checked in seconds
//! (`.ci/package-test` builds, lints and installs the package itself, in
//! minutes): the packaged config passes `errtally check` and keeps its state
//! where the unit's StateDirectory is, and every asset in Cargo.toml's
//! `[package.metadata.deb]` is a file of the repository, the binary, or a
//! file `config/deploy/debian/build-deb.sh` generates, installed where
//! Debian looks for it.

use std::path::Path;

use crate::support::run;

fn repository(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repository(path)).unwrap()
}

fn deb_metadata() -> toml::Table {
    let manifest: toml::Table = read("Cargo.toml").parse().unwrap();
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .unwrap()
        .clone()
}

#[test]
fn the_packaged_config_checks_and_keeps_its_state_in_the_units_state_directory() {
    let path = repository("config/deploy/debian/errtally.toml");
    let output = run(&["check", "--config", path.to_str().unwrap()], None);
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "{}: ok (1 inputs, 46 error types, listen_address 0.0.0.0:10404)\n",
            path.display()
        )
    );
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");

    let config: toml::Table = read("config/deploy/debian/errtally.toml").parse().unwrap();
    let service = read("config/deploy/systemd/errtally.service");
    assert!(
        service
            .lines()
            .any(|line| line == "StateDirectory=errtally")
    );
    assert_eq!(config["state_dir"].as_str(), Some("/var/lib/errtally"));
    assert!(
        service
            .lines()
            .any(|line| line.contains("--config /etc/errtally/errtally.toml")),
        "the unit runs another config"
    );
    let inputs = config["input"].as_array().unwrap();
    let paths: Vec<&str> = inputs[0]["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|path| path.as_str().unwrap())
        .collect();
    assert_eq!(paths, ["/var/log/*.log"]);
}

#[test]
fn every_package_asset_exists_or_is_generated_and_lands_where_debian_looks() {
    let metadata = deb_metadata();
    let build_script = read("config/deploy/debian/build-deb.sh");
    let mut destinations = Vec::new();
    for asset in metadata["assets"].as_array().unwrap() {
        let asset = asset.as_array().unwrap();
        let source = asset[0].as_str().unwrap();
        let destination = asset[1].as_str().unwrap();
        if source == "target/release/errtally" {
            // cargo-deb's marker for the binary it builds.
        } else if let Some(generated) = source.strip_prefix("target/assets/") {
            assert!(
                build_script.contains(&format!(">\"$assets/{generated}\"")),
                "build-deb.sh does not write {source}"
            );
        } else {
            assert!(repository(source).is_file(), "{source} is missing");
        }
        // A destination ending in / keeps the source's file name.
        let name = source.rsplit('/').next().unwrap();
        destinations.push(match destination.strip_suffix('/') {
            Some(directory) => format!("/{directory}/{name}"),
            None => format!("/{destination}"),
        });
    }
    destinations.sort();
    assert_eq!(
        destinations,
        [
            "/etc/default/errtally",
            "/etc/errtally/errtally.toml",
            "/usr/bin/errtally",
            "/usr/share/bash-completion/completions/errtally",
            "/usr/share/doc/errtally/README.md.gz",
            "/usr/share/fish/vendor_completions.d/errtally.fish",
            "/usr/share/lintian/overrides/errtally",
            "/usr/share/man/man1/errtally.1.gz",
            "/usr/share/zsh/vendor-completions/_errtally",
        ]
    );

    let units = metadata["systemd-units"]["unit-scripts"].as_str().unwrap();
    for unit in ["errtally.service", "errtally.socket"] {
        assert!(repository(units).join(unit).is_file(), "{units}{unit}");
    }
    let scripts = metadata["maintainer-scripts"].as_str().unwrap();
    let postrm = std::fs::read_to_string(repository(scripts).join("postrm")).unwrap();
    assert!(
        postrm.contains("\n#DEBHELPER#\n"),
        "cargo-deb's snippets go nowhere"
    );
    assert!(postrm.contains("\nset -e\n"));

    let changelog = read(metadata["changelog"].as_str().unwrap());
    assert_eq!(
        changelog.lines().next(),
        Some(
            format!(
                "errtally ({}-1) unstable; urgency=medium",
                env!("CARGO_PKG_VERSION")
            )
            .as_str()
        )
    );
}
