//! Which SIMD level the CPU kernels run at. An `Isa` other than `Portable` can only be obtained
//! from a check of the running CPU, which is what makes calling its kernels sound.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Level {
    /// x86-64 with AVX-512F and FMA: 12x32 register tile.
    Avx512,
    /// x86-64 with AVX2 and FMA: 6x16 register tile.
    Avx2,
    /// aarch64 NEON (always present there): 6x16 register tile.
    Neon,
    /// Whatever the compiler makes of plain Rust.
    Portable,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Avx512, Level::Avx2, Level::Neon, Level::Portable];

    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512 => "avx512",
            Level::Avx2 => "avx2",
            Level::Neon => "neon",
            Level::Portable => "portable",
        }
    }

    pub fn from_name(name: &str) -> Option<Level> {
        Self::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The CPU features a plan built for this level needs (recorded in its fingerprint).
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Level::Avx512 => &["avx512f", "fma"],
            Level::Avx2 => &["avx2", "fma"],
            Level::Neon => &["neon"],
            Level::Portable => &[],
        }
    }

    pub fn arch(self) -> &'static str {
        match self {
            Level::Avx512 | Level::Avx2 => "x86_64",
            Level::Neon => "aarch64",
            Level::Portable => std::env::consts::ARCH,
        }
    }
}

/// A SIMD level this CPU is known to support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isa(Level);

impl Isa {
    /// The best level this CPU supports.
    pub fn detect() -> Isa {
        Level::ALL
            .into_iter()
            .find_map(Isa::supported)
            .unwrap_or(Isa(Level::Portable))
    }

    /// `level`, if this CPU can run it.
    pub fn supported(level: Level) -> Option<Isa> {
        let ok = match level {
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "aarch64")]
            Level::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            Level::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        };
        ok.then_some(Isa(level))
    }

    pub fn level(self) -> Level {
        self.0
    }
}
