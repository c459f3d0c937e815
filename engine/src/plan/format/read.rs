//! Bytes to plan: every count, offset and value checked, errors naming the byte offset.

use super::{ALIGN, HEADER, MAGIC, MAX_ITEMS, VERSION};
use crate::graph::{Activation, BatchNorm, Conv, Graph, Node, Op, Shape, Storage, TensorInfo};
use crate::model::{ModelMeta, Preprocess, YoloHead};
use crate::plan::{Binding, DType, Fingerprint, Plan, PlanError, Precision, Tactic};
use crate::quant::Quantization;

pub fn from_bytes(bytes: &[u8]) -> Result<Plan, PlanError> {
    if bytes.len() < 12 {
        if !MAGIC.starts_with(&bytes[..bytes.len().min(8)]) || bytes.is_empty() {
            return Err(PlanError::BadMagic {
                found: bytes[..bytes.len().min(8)].to_vec(),
            });
        }
        return Err(PlanError::Truncated {
            expected: HEADER as u64 + 4,
            found: bytes.len() as u64,
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(PlanError::BadMagic {
            found: bytes[..8].to_vec(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(PlanError::UnsupportedVersion {
            found: version,
            supported: VERSION,
        });
    }
    if bytes.len() < HEADER + 4 {
        return Err(PlanError::Truncated {
            expected: HEADER as u64 + 4,
            found: bytes.len() as u64,
        });
    }
    let total = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    if total > bytes.len() as u64 {
        return Err(PlanError::Truncated {
            expected: total,
            found: bytes.len() as u64,
        });
    }
    let end = bytes.len() - 4;
    let stored = u32::from_le_bytes(bytes[end..].try_into().expect("4 bytes"));
    let computed = crc32fast::hash(&bytes[..end]);
    if stored != computed {
        return Err(PlanError::Checksum { stored, computed });
    }
    if total != bytes.len() as u64 {
        return Err(PlanError::Malformed {
            offset: 12,
            what: format!("header says {total} bytes, file has {}", bytes.len()),
        });
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let (weights_at, weight_count) = (word(20), word(28));
    let weights_ok = weights_at % ALIGN as u64 == 0
        && weights_at >= HEADER as u64
        && weight_count
            .checked_mul(4)
            .and_then(|n| n.checked_add(weights_at))
            == Some(end as u64);
    if !weights_ok {
        return Err(PlanError::Malformed {
            offset: 20,
            what: format!("weights at {weights_at} with {weight_count} floats do not fit the file"),
        });
    }
    let weights_at = weights_at as usize;
    let mut r = Reader {
        bytes: &bytes[..weights_at],
        pos: HEADER,
        weights: &bytes[weights_at..end],
    };
    let producer = r.str("producer")?;
    let fingerprint = read_fingerprint(&mut r)?;
    let precision = match r.u8("precision")? {
        0 => Precision::Fp32,
        1 => Precision::Fp16,
        2 => Precision::Int8,
        p => return Err(r.malformed(format!("precision {p}"))),
    };
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = r.count("bindings", 8)?;
        for _ in 0..n {
            let name = r.str("binding name")?;
            let mut shape = [0; 4];
            for d in &mut shape {
                *d = r.u32("binding shape")? as usize;
            }
            let dtype = match r.u8("binding dtype")? {
                0 => DType::F32,
                1 => DType::F16,
                2 => DType::I8,
                d => return Err(r.malformed(format!("dtype {d}"))),
            };
            let layout = r.str("binding layout")?;
            list.push(Binding {
                name,
                shape,
                dtype,
                layout,
            });
        }
    }
    let [inputs, outputs] = lists;
    let meta = read_meta(&mut r)?;
    let graph = read_graph(&mut r, meta)?;
    let n = r.count("tactics", 8)?;
    let mut tactics = Vec::with_capacity(n);
    for _ in 0..n {
        let node = r.u32("tactic node")? as usize;
        if node >= graph.nodes.len() {
            return Err(r.malformed(format!("tactic for node {node} of {}", graph.nodes.len())));
        }
        tactics.push(Tactic {
            node,
            name: r.str("tactic name")?,
        });
    }
    let n = r.count("device code", 1)?;
    let device_code = r.take(n, "device code")?.to_vec();
    let quant = match r.u8("quantization flag")? {
        0 => None,
        1 => {
            let n = r.count("int8 nodes", 1)?;
            let mut int8 = Vec::with_capacity(n);
            for _ in 0..n {
                int8.push(match r.u8("int8 node")? {
                    0 => false,
                    1 => true,
                    b => return Err(r.malformed(format!("int8 node flag {b}"))),
                });
            }
            let n = r.count("int8 scales", 4)?;
            let mut scales = Vec::with_capacity(n);
            for _ in 0..n {
                let s = r.f32("int8 scale")?;
                scales.push((s != 0.0).then_some(s));
            }
            let q = Quantization { int8, scales };
            q.validate(&graph).map_err(|what| r.malformed(what))?;
            Some(q)
        }
        b => return Err(r.malformed(format!("quantization flag {b}"))),
    };
    if (precision == Precision::Int8) != quant.is_some() {
        return Err(r.malformed(format!(
            "a {} plan {} quantization",
            precision.name(),
            if quant.is_some() { "with" } else { "without" }
        )));
    }
    Ok(Plan {
        producer,
        fingerprint,
        precision,
        inputs,
        outputs,
        graph,
        tactics,
        device_code,
        quant,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    weights: &'a [u8],
}

impl<'a> Reader<'a> {
    fn malformed(&self, what: impl Into<String>) -> PlanError {
        PlanError::Malformed {
            offset: self.pos,
            what: what.into(),
        }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], PlanError> {
        match self.bytes.get(self.pos..self.pos.saturating_add(n)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(self.malformed(format!("{field} runs past the end of the plan"))),
        }
    }

    fn u8(&mut self, field: &str) -> Result<u8, PlanError> {
        Ok(self.take(1, field)?[0])
    }
    fn u32(&mut self, field: &str) -> Result<u32, PlanError> {
        Ok(u32::from_le_bytes(
            self.take(4, field)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self, field: &str) -> Result<u64, PlanError> {
        Ok(u64::from_le_bytes(
            self.take(8, field)?.try_into().expect("8 bytes"),
        ))
    }
    fn f32(&mut self, field: &str) -> Result<f32, PlanError> {
        let v = f32::from_le_bytes(self.take(4, field)?.try_into().expect("4 bytes"));
        if v.is_finite() {
            Ok(v)
        } else {
            Err(self.malformed(format!("{field} is not finite")))
        }
    }
    /// A count of items that each take at least `min_size` bytes of what is left.
    fn count(&mut self, field: &str, min_size: usize) -> Result<usize, PlanError> {
        let n = self.u32(field)? as usize;
        if n > MAX_ITEMS || n.saturating_mul(min_size) > self.bytes.len() - self.pos {
            return Err(self.malformed(format!("{field}: count {n} exceeds the plan")));
        }
        Ok(n)
    }
    fn str(&mut self, field: &str) -> Result<String, PlanError> {
        let n = self.count(field, 1)?;
        let at = self.pos;
        let b = self.take(n, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| PlanError::Malformed {
            offset: at,
            what: format!("{field} is not UTF-8"),
        })
    }
    fn dim(&mut self, field: &str) -> Result<usize, PlanError> {
        let v = self.u32(field)? as usize;
        if v > 1 << 20 {
            return Err(self.malformed(format!("{field} = {v} is implausibly large")));
        }
        Ok(v)
    }

    fn array(&mut self, field: &str) -> Result<Vec<f32>, PlanError> {
        let offset = self.u64(field)?;
        let count = self.u64(field)?;
        let bytes = offset
            .checked_mul(4)
            .zip(count.checked_mul(4))
            .and_then(|(o, c)| Some(o as usize..o.checked_add(c)? as usize))
            .and_then(|r| self.weights.get(r))
            .ok_or_else(|| {
                self.malformed(format!(
                    "{field}: weights {offset}+{count} outside the section"
                ))
            })?;
        let v: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        if v.iter().any(|x| !x.is_finite()) {
            return Err(self.malformed(format!("{field}: weights are not finite")));
        }
        Ok(v)
    }

    fn activation(&mut self, field: &str) -> Result<Activation, PlanError> {
        let a = self.u8(field)? as usize;
        Activation::ALL
            .get(a)
            .copied()
            .ok_or_else(|| self.malformed(format!("{field}: activation {a}")))
    }
}

fn read_fingerprint(r: &mut Reader) -> Result<Fingerprint, PlanError> {
    let backend = r.str("fingerprint backend")?;
    let arch = r.str("fingerprint arch")?;
    let n = r.count("fingerprint features", 4)?;
    let features = (0..n)
        .map(|_| r.str("fingerprint feature"))
        .collect::<Result<_, _>>()?;
    let n = r.count("fingerprint device", 8)?;
    let device = (0..n)
        .map(|_| Ok((r.str("fingerprint key")?, r.str("fingerprint value")?)))
        .collect::<Result<_, _>>()?;
    Ok(Fingerprint {
        backend,
        arch,
        features,
        device,
    })
}

fn read_meta(r: &mut Reader) -> Result<ModelMeta, PlanError> {
    let name = r.str("model name")?;
    let input = Shape::new(r.dim("input h")?, r.dim("input w")?, r.dim("input c")?);
    let n = r.count("class names", 4)?;
    let class_names = (0..n)
        .map(|_| r.str("class name"))
        .collect::<Result<_, _>>()?;
    let n = r.count("heads", 16)?;
    let mut heads = Vec::with_capacity(n);
    for _ in 0..n {
        let tensor = r.u32("head tensor")? as usize;
        let classes = r.dim("head classes")?;
        let scale_x_y = r.f32("head scale_x_y")?;
        let k = r.count("head anchors", 8)?;
        let anchors = (0..k)
            .map(|_| Ok((r.f32("anchor w")?, r.f32("anchor h")?)))
            .collect::<Result<_, PlanError>>()?;
        heads.push(YoloHead {
            tensor,
            anchors,
            classes,
            scale_x_y,
        });
    }
    let letterbox = r.u8("letterbox")? != 0;
    let pad_value = r.f32("pad value")?;
    let mut mean = [0.0; 3];
    let mut std = [0.0; 3];
    for v in mean.iter_mut().chain(std.iter_mut()) {
        *v = r.f32("normalization")?;
    }
    if std.contains(&0.0) {
        return Err(r.malformed("normalization std of zero"));
    }
    Ok(ModelMeta {
        name,
        input,
        class_names,
        heads,
        preprocess: Preprocess {
            letterbox,
            pad_value,
            mean,
            std,
        },
    })
}

fn read_graph(r: &mut Reader, meta: ModelMeta) -> Result<Graph, PlanError> {
    let n = r.count("tensors", 17)?;
    let mut tensors = Vec::with_capacity(n);
    for _ in 0..n {
        let name = r.str("tensor name")?;
        let shape = Shape::new(r.dim("tensor h")?, r.dim("tensor w")?, r.dim("tensor c")?);
        if shape.len() > 1 << 30 {
            return Err(r.malformed(format!("tensor {name} of {shape} elements")));
        }
        let storage = match r.u8("tensor storage")? {
            0 => Storage::Own,
            1 => Storage::View {
                base: r.u32("view base")? as usize,
                channel_offset: r.dim("view offset")?,
            },
            s => return Err(r.malformed(format!("storage kind {s}"))),
        };
        tensors.push(TensorInfo {
            name,
            shape,
            storage,
        });
    }
    let input = r.u32("graph input")? as usize;
    let k = r.count("graph outputs", 4)?;
    let outputs = (0..k)
        .map(|_| r.u32("graph output").map(|v| v as usize))
        .collect::<Result<_, _>>()?;
    let k = r.count("nodes", 13)?;
    let mut nodes = Vec::with_capacity(k);
    for _ in 0..k {
        let name = r.str("node name")?;
        let m = r.count("node inputs", 4)?;
        let inputs = (0..m)
            .map(|_| r.u32("node input").map(|v| v as usize))
            .collect::<Result<_, _>>()?;
        let output = r.u32("node output")? as usize;
        let at = r.pos;
        let op = match r.u8("op")? {
            0 => {
                let filters = r.dim("conv filters")?;
                let kernel = r.dim("conv kernel")?;
                let stride = r.dim("conv stride")?;
                let pad = r.dim("conv pad")?;
                let groups = r.dim("conv groups")?;
                let act = r.activation("conv activation")?;
                let post_act = r.activation("conv post activation")?;
                let residual = match r.u32("conv residual")? {
                    u32::MAX => None,
                    t => Some(t as usize),
                };
                Op::Conv(Conv {
                    filters,
                    kernel,
                    stride,
                    pad,
                    groups,
                    weights: r.array("conv weights")?,
                    bias: r.array("conv bias")?,
                    act,
                    residual,
                    post_act,
                })
            }
            1 => Op::BatchNorm(BatchNorm {
                scale: r.array("bn scale")?,
                bias: r.array("bn bias")?,
                mean: r.array("bn mean")?,
                var: r.array("bn var")?,
                eps: r.f32("bn eps")?,
            }),
            2 => Op::Activation(r.activation("activation")?),
            3 => Op::Add(r.activation("add activation")?),
            4 => Op::Concat,
            5 => Op::ChannelSlice {
                offset: r.dim("slice offset")?,
                channels: r.dim("slice channels")?,
            },
            6 => Op::MaxPool {
                size: r.dim("maxpool size")?,
                stride: r.dim("maxpool stride")?,
                pad: r.dim("maxpool pad")?,
            },
            7 => Op::Upsample {
                scale: r.dim("upsample scale")?,
            },
            k => {
                return Err(PlanError::Malformed {
                    offset: at,
                    what: format!("unknown op {k}"),
                })
            }
        };
        if let Op::BatchNorm(bn) = &op {
            if bn.var.iter().any(|v| v + bn.eps <= 0.0) {
                return Err(r.malformed("batchnorm variance + eps not positive"));
            }
        }
        nodes.push(Node {
            name,
            op,
            inputs,
            output,
        });
    }
    let graph = Graph {
        tensors,
        nodes,
        input,
        outputs,
        meta,
    };
    graph
        .validate()
        .map_err(|e| r.malformed(format!("graph: {e}")))?;
    for h in &graph.meta.heads {
        if !graph.outputs.contains(&h.tensor) {
            return Err(r.malformed(format!("head tensor {} is not an output", h.tensor)));
        }
        let c = graph.shape(h.tensor).c;
        if h.anchors.is_empty() || c != h.anchors.len() * (h.classes + 5) {
            return Err(r.malformed(format!(
                "head with {} anchors and {} classes on a {c}-channel tensor",
                h.anchors.len(),
                h.classes
            )));
        }
    }
    if graph.shape(graph.input) != graph.meta.input {
        return Err(r.malformed("input tensor shape differs from the model's input size"));
    }
    Ok(graph)
}
