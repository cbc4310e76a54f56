//! The device profiles shipped with the service (profiles/*.toml, embedded at build time so a
//! deployed binary knows them): analytic accelerators are modelled from their profile alone.

use flash_core::profile::Profile;

/// (file stem, text) of every shipped profile.
const SHIPPED: [(&str, &str); 4] = [
    ("gpu-host", include_str!("../../profiles/gpu-host.toml")),
    ("imc-rram", include_str!("../../profiles/imc-rram.toml")),
    (
        "raspberry-pi-3b",
        include_str!("../../profiles/raspberry-pi-3b.toml"),
    ),
    ("x86-host", include_str!("../../profiles/x86-host.toml")),
];

/// The shipped profile of that name (None for a profile the service does not ship, such as a
/// custom agent profile, which the agent reads itself).
pub fn shipped(name: &str) -> Option<Profile> {
    SHIPPED
        .iter()
        .find(|(stem, _)| *stem == name)
        .map(|(_, text)| Profile::parse(text).expect("shipped profiles are valid (tested)"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_file_in_profiles_is_shipped_and_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut stems: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        stems.sort();
        let shipped: Vec<&str> = super::SHIPPED.iter().map(|(s, _)| *s).collect();
        assert_eq!(stems, shipped);
        for stem in shipped {
            let profile = super::shipped(stem).unwrap();
            assert_eq!(profile.name, stem);
        }
        assert!(super::shipped("imc-rram").unwrap().crossbar().is_some());
    }
}
