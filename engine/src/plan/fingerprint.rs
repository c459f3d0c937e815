//! What a plan was built for. Loading compares it with the machine it runs on.

use crate::backend::cpu::isa::{Isa, Level};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// "cpu" or "cuda"
    pub backend: String,
    pub arch: String,
    /// CPU features the plan's kernels need.
    pub features: Vec<String>,
    /// Further facts about the device, as (key, value): e.g. the CPU kernel level, or a GPU's
    /// name, compute capability and driver.
    pub device: Vec<(String, String)>,
}

impl Fingerprint {
    pub fn cpu(isa: Isa) -> Fingerprint {
        let level = isa.level();
        Fingerprint {
            backend: "cpu".into(),
            arch: level.arch().into(),
            features: level.features().iter().map(|f| f.to_string()).collect(),
            device: vec![("simd".into(), level.name().into())],
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.device
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// For a CPU plan: the kernel level, if this CPU can run it.
    pub fn cpu_isa(&self) -> Option<Isa> {
        if self.backend != "cpu" || self.arch != std::env::consts::ARCH {
            return None;
        }
        Isa::supported(Level::from_name(self.get("simd")?)?)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.backend, self.arch)?;
        for (k, v) in &self.device {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}
