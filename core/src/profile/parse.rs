//! Parsing and validating a profile's TOML text.

use serde::Deserialize;

use super::{
    AgentProfile, CrossbarModel, DeviceKind, EnergyConfig, PowerModel, Profile, ProfileError,
    ProtocolDefaults,
};
use crate::space::FieldError;

#[derive(Clone, Copy, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
enum Kind {
    Agent,
    Analytic,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    kind: Kind,
    description: String,
    protocol: Option<ProtocolDefaults>,
    energy: Option<EnergyConfig>,
    power_model: Option<PowerModel>,
    crossbar: Option<CrossbarModel>,
}

impl Profile {
    /// Parses and validates a profile; every problem names its field.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let raw: RawProfile =
            toml::from_str(text).map_err(|e| ProfileError::Syntax(e.to_string().trim().into()))?;
        let mut errors = Vec::new();
        let valid_name = !raw.name.is_empty()
            && raw.name.len() <= 64
            && raw
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !valid_name {
            errors.push(FieldError::new(
                "name",
                "must be 1-64 characters of a-z, 0-9 and '-'",
            ));
        }
        let kind: &'static str = raw.kind.into();
        let mut need = |field: &str, present: bool, wanted: bool| {
            if present != wanted {
                let message = if wanted {
                    format!("required when kind = \"{kind}\"")
                } else {
                    format!("not allowed when kind = \"{kind}\"")
                };
                errors.push(FieldError::new(field, message));
            }
        };
        let device = match raw.kind {
            Kind::Agent => {
                need("crossbar", raw.crossbar.is_some(), false);
                need("protocol", raw.protocol.is_some(), true);
                need("energy", raw.energy.is_some(), true);
                need("power_model", raw.power_model.is_some(), true);
                match (raw.protocol, raw.energy, raw.power_model) {
                    (Some(protocol), Some(energy), Some(power_model)) => {
                        protocol.validate(&mut errors);
                        energy.validate(&mut errors);
                        power_model.validate(&mut errors);
                        Some(DeviceKind::Agent(AgentProfile {
                            protocol,
                            energy,
                            power_model,
                        }))
                    }
                    _ => None,
                }
            }
            Kind::Analytic => {
                need("protocol", raw.protocol.is_some(), false);
                need("energy", raw.energy.is_some(), false);
                need("power_model", raw.power_model.is_some(), false);
                need("crossbar", raw.crossbar.is_some(), true);
                raw.crossbar.map(|c| {
                    c.validate(&mut errors);
                    DeviceKind::Analytic(c)
                })
            }
        };
        match device {
            Some(device) if errors.is_empty() => Ok(Profile {
                name: raw.name,
                description: raw.description,
                device,
            }),
            _ => Err(ProfileError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::test_support::{AGENT, ANALYTIC};

    fn invalid_fields(text: &str) -> Vec<String> {
        match Profile::parse(text) {
            Err(ProfileError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    #[test]
    fn invalid_profiles_name_their_fields() {
        let syntax = |text: &str| match Profile::parse(text) {
            Err(ProfileError::Syntax(m)) => m,
            other => panic!("expected a syntax error, got {other:?}"),
        };
        let m = syntax(&AGENT.replace("threads = 2\n", ""));
        assert!(m.contains("threads"), "{m}");
        let m = syntax(&AGENT.replace("min_runs", "min_run"));
        assert!(m.contains("min_run"), "{m}");
        let m = syntax(&AGENT.replace("kind = \"agent\"", "kind = \"robot\""));
        assert!(m.contains("robot"), "{m}");

        assert_eq!(
            invalid_fields(&AGENT.replace("provider = \"cpu\"", "provider = \"tpu\"")),
            ["protocol.provider"]
        );
        assert_eq!(
            invalid_fields(&AGENT.replace("sensor = \"none\"", "sensor = \"hwmon\"")),
            ["energy.hwmon_name", "energy.hwmon_input"]
        );
        assert_eq!(
            invalid_fields(&AGENT.replace("name = \"test-host\"", "name = \"Test Host\"")),
            ["name"]
        );
        assert_eq!(
            invalid_fields(&AGENT.replace("kind = \"agent\"", "kind = \"analytic\"")),
            ["protocol", "energy", "power_model", "crossbar"]
        );
        let e = Profile::parse(&AGENT.replace("kind = \"agent\"", "kind = \"analytic\""))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("protocol: not allowed when kind = \"analytic\";"),
            "{e}"
        );
        assert!(
            e.ends_with("crossbar: required when kind = \"analytic\""),
            "{e}"
        );
        assert_eq!(
            invalid_fields(&ANALYTIC.replace("cell_bits = 2", "cell_bits = 0")),
            ["crossbar.cell_bits"]
        );
        let e = Profile::parse(&ANALYTIC.replace("mac_energy_pj = 1.0", "mac_energy_pj = -1.0"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "crossbar.mac_energy_pj: must be a finite number > 0"
        );
    }

    #[test]
    fn every_file_in_profiles_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let p = Profile::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                Some(p.name.as_str()),
                path.file_stem().and_then(|s| s.to_str())
            );
            names.push(p.name);
        }
        names.sort();
        assert_eq!(
            names,
            ["gpu-host", "imc-rram", "raspberry-pi-3b", "x86-host"]
        );
    }
}
