//! The Darknet `.cfg` text format: `[section]` headers and `key=value` lines.

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

/// A parsed cfg, with the file name kept so every later error can point into it.
#[derive(Debug, Clone)]
pub struct Cfg {
    pub file: String,
    pub sections: Vec<Section>,
}

impl Cfg {
    pub fn parse(file: &str, text: &str) -> Result<Cfg> {
        let mut sections: Vec<Section> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let s = raw.trim();
            if s.is_empty() || s.starts_with('#') || s.starts_with(';') {
                continue;
            }
            if let Some(rest) = s.strip_prefix('[') {
                let Some(name) = rest.strip_suffix(']') else {
                    return Err(Error::Cfg {
                        file: file.into(),
                        line,
                        section: rest.into(),
                        key: None,
                        msg: "section header without closing ']'".into(),
                    });
                };
                sections.push(Section {
                    name: name.trim().to_string(),
                    line,
                    entries: Vec::new(),
                });
                continue;
            }
            let Some(section) = sections.last_mut() else {
                return Err(Error::Cfg {
                    file: file.into(),
                    line,
                    section: String::new(),
                    key: None,
                    msg: format!("'{s}' before the first [section]"),
                });
            };
            let Some((k, v)) = s.split_once('=') else {
                return Err(Error::Cfg {
                    file: file.into(),
                    line,
                    section: section.name.clone(),
                    key: None,
                    msg: format!("expected key=value, found '{s}'"),
                });
            };
            section.entries.push(Entry {
                key: k.trim().to_string(),
                value: v.trim().to_string(),
                line,
            });
        }
        if sections.is_empty() {
            return Err(Error::Cfg {
                file: file.into(),
                line: 1,
                section: String::new(),
                key: None,
                msg: "no sections: is this a Darknet .cfg?".into(),
            });
        }
        Ok(Cfg {
            file: file.into(),
            sections,
        })
    }

    pub fn at<'a>(&'a self, section: &'a Section) -> SectionRef<'a> {
        SectionRef { cfg: self, section }
    }
}

/// Typed access to one section's keys, with errors that name file, line, section and key.
pub struct SectionRef<'a> {
    cfg: &'a Cfg,
    pub section: &'a Section,
}

impl SectionRef<'_> {
    pub fn error(&self, key: Option<&str>, msg: impl Into<String>) -> Error {
        let line = key
            .and_then(|k| self.entry(k))
            .map_or(self.section.line, |e| e.line);
        Error::Cfg {
            file: self.cfg.file.clone(),
            line,
            section: self.section.name.clone(),
            key: key.map(str::to_string),
            msg: msg.into(),
        }
    }

    fn entry(&self, key: &str) -> Option<&Entry> {
        self.section.entries.iter().rev().find(|e| e.key == key)
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        self.entry(key).map(|e| e.value.as_str())
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>> {
        match self.entry(key) {
            None => Ok(None),
            Some(e) => e.value.parse().map(Some).map_err(|_| {
                self.error(Some(key), format!("expected {what}, found '{}'", e.value))
            }),
        }
    }

    pub fn int(&self, key: &str, default: i64) -> Result<i64> {
        Ok(self.parse(key, "an integer")?.unwrap_or(default))
    }

    /// A non-negative integer no larger than `max`.
    pub fn count(&self, key: &str, default: usize, max: usize) -> Result<usize> {
        let v = self.int(key, default as i64)?;
        if v < 0 || v as u64 > max as u64 {
            return Err(self.error(Some(key), format!("{v} is outside 0..={max}")));
        }
        Ok(v as usize)
    }

    pub fn float(&self, key: &str, default: f32) -> Result<f32> {
        let v: f32 = self.parse(key, "a number")?.unwrap_or(default);
        if !v.is_finite() {
            return Err(self.error(Some(key), "must be finite"));
        }
        Ok(v)
    }

    pub fn int_list(&self, key: &str) -> Result<Option<Vec<i64>>> {
        self.list(key, "a comma-separated list of integers")
    }

    pub fn float_list(&self, key: &str) -> Result<Option<Vec<f32>>> {
        self.list(key, "a comma-separated list of numbers")
    }

    fn list<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<Vec<T>>> {
        let Some(e) = self.entry(key) else {
            return Ok(None);
        };
        e.value
            .split(',')
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse()
                    .map_err(|_| self.error(Some(key), format!("expected {what}, found '{p}'")))
            })
            .collect::<Result<Vec<T>>>()
            .map(Some)
    }
}
