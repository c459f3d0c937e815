//! Darknet import: a `.cfg` becomes the unoptimized graph (conv, batch norm and activation as
//! separate nodes), and a `.weights` file (or seeded random weights) fills its parameters.

pub mod cfg;
pub mod weights;

use crate::error::{Error, Result};
use crate::graph::{
    Activation, BatchNorm, Conv, Graph, Node, Op, Shape, Storage, TensorId, TensorInfo,
};
use crate::model::{ModelMeta, Preprocess, YoloHead};
use cfg::{Cfg, SectionRef};
use std::path::Path;

/// Upper bound on sizes read from a cfg, so a typo cannot ask for terabytes.
const MAX_DIM: usize = 16384;

/// A conv layer's parameters in the weights file, in file order.
#[derive(Debug, Clone)]
pub struct ConvParams {
    pub conv_node: usize,
    pub bn_node: Option<usize>,
    pub filters: usize,
    pub weight_count: usize,
    /// True when the conv's output feeds a residual add (random weights keep those small).
    pub feeds_shortcut: bool,
}

/// An imported network whose parameters are not yet loaded.
#[derive(Debug, Clone)]
pub struct DarknetModel {
    pub graph: Graph,
    pub convs: Vec<ConvParams>,
}

impl DarknetModel {
    /// Floats a weights file for this cfg must carry after its header.
    pub fn param_count(&self) -> usize {
        self.convs
            .iter()
            .map(|c| c.filters * if c.bn_node.is_some() { 4 } else { 1 } + c.weight_count)
            .sum()
    }

    /// Fills the graph from parameters in Darknet file order.
    pub fn with_params(mut self, params: &[f32]) -> Result<Graph> {
        if params.len() != self.param_count() {
            return Err(Error::Input(format!(
                "{} parameters given, the cfg needs {}",
                params.len(),
                self.param_count()
            )));
        }
        let mut rest = params;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        };
        for c in &self.convs {
            let n = c.filters;
            let (bias, bn) = match c.bn_node {
                Some(bn_node) => {
                    let bias = take(n);
                    let scale = take(n);
                    let mean = take(n);
                    let var = take(n);
                    (bias, Some((bn_node, scale, mean, var)))
                }
                None => (take(n), None),
            };
            let w = take(c.weight_count);
            let Op::Conv(conv) = &mut self.graph.nodes[c.conv_node].op else {
                unreachable!("conv_node indexes a conv")
            };
            conv.weights = w;
            match bn {
                Some((bn_node, scale, mean, var)) => {
                    conv.bias = vec![0.0; n];
                    self.graph.nodes[bn_node].op = Op::BatchNorm(BatchNorm {
                        scale,
                        bias,
                        mean,
                        var,
                        eps: BN_EPS,
                    });
                }
                None => conv.bias = bias,
            }
        }
        self.graph.validate().map_err(Error::Graph)?;
        Ok(self.graph)
    }
}

/// PyTorch's BatchNorm2d default; the reference in tools/reference uses the same.
pub const BN_EPS: f32 = 1e-5;

/// Reads a cfg; `size` (height, width) replaces the input size in its [net] section.
pub fn load_cfg(path: &Path, size: Option<(usize, usize)>) -> Result<DarknetModel> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    let name = path
        .file_stem()
        .map_or_else(|| "model".to_string(), |s| s.to_string_lossy().into_owned());
    parse_cfg(&file, &name, &text, size)
}

pub fn parse_cfg(
    file: &str,
    name: &str,
    text: &str,
    size: Option<(usize, usize)>,
) -> Result<DarknetModel> {
    let cfg = Cfg::parse(file, text)?;
    let mut importer = Importer::new(&cfg, name)?;
    if let Some((h, w)) = size {
        if h == 0 || w == 0 || h > MAX_DIM || w > MAX_DIM {
            return Err(Error::Input(format!("input size {w}x{h} out of range")));
        }
        importer.input = Shape::new(h, w, 3);
        importer.tensors[0].shape = importer.input;
    }
    importer.run()
}

struct Importer<'a> {
    cfg: &'a Cfg,
    tensors: Vec<TensorInfo>,
    nodes: Vec<Node>,
    /// Output tensor of each Darknet layer, by layer index.
    layer_out: Vec<TensorId>,
    convs: Vec<ConvParams>,
    heads: Vec<YoloHead>,
    input: Shape,
    name: String,
    last_conv_out: Option<TensorId>,
}

impl<'a> Importer<'a> {
    fn new(cfg: &'a Cfg, name: &str) -> Result<Self> {
        let first = &cfg.sections[0];
        let net = cfg.at(first);
        if first.name != "net" && first.name != "network" {
            return Err(net.error(None, "the first section must be [net]"));
        }
        let input = Shape::new(
            net.count("height", 416, MAX_DIM)?,
            net.count("width", 416, MAX_DIM)?,
            net.count("channels", 3, 4)?,
        );
        if input.is_empty() {
            return Err(net.error(None, "width, height and channels must be non-zero"));
        }
        if input.c != 3 {
            return Err(net.error(
                Some("channels"),
                "only 3-channel (RGB) inputs are supported",
            ));
        }
        Ok(Importer {
            cfg,
            tensors: vec![TensorInfo {
                name: "input".into(),
                shape: input,
                storage: Storage::Own,
            }],
            nodes: Vec::new(),
            layer_out: Vec::new(),
            convs: Vec::new(),
            heads: Vec::new(),
            input,
            name: name.to_string(),
            last_conv_out: None,
        })
    }

    fn run(mut self) -> Result<DarknetModel> {
        for section in &self.cfg.sections[1..] {
            let s = self.cfg.at(section);
            let index = self.layer_out.len();
            let prev = self.layer_out.last().copied().unwrap_or(0);
            let out = match section.name.as_str() {
                "convolutional" | "conv" => self.conv(&s, index, prev)?,
                "shortcut" => self.shortcut(&s, index, prev)?,
                "route" => self.route(&s, index)?,
                "upsample" => {
                    let scale = s.count("stride", 2, 64)?;
                    if scale == 0 {
                        return Err(s.error(Some("stride"), "must be at least 1"));
                    }
                    self.push(&s, index, "upsample", Op::Upsample { scale }, vec![prev])?
                }
                "maxpool" => {
                    let stride = s.count("stride", 1, MAX_DIM)?;
                    let size = s.count("size", stride, MAX_DIM)?;
                    let pad = s.count("padding", size.saturating_sub(1), MAX_DIM)?;
                    if size == 0 || stride == 0 {
                        return Err(s.error(None, "size and stride must be at least 1"));
                    }
                    self.push(
                        &s,
                        index,
                        "maxpool",
                        Op::MaxPool { size, stride, pad },
                        vec![prev],
                    )?
                }
                "yolo" => self.yolo(&s, index, prev)?,
                other => {
                    return Err(s.error(None, format!("unsupported layer type [{other}]")));
                }
            };
            self.layer_out.push(out);
        }
        if self.heads.is_empty() {
            return Err(Error::Cfg {
                file: self.cfg.file.clone(),
                line: 1,
                section: "net".into(),
                key: None,
                msg: "no [yolo] layer: the network has no detection head".into(),
            });
        }
        let outputs = self.heads.iter().map(|h| h.tensor).collect();
        let classes = self.heads[0].classes;
        let graph = Graph {
            tensors: self.tensors,
            nodes: self.nodes,
            input: 0,
            outputs,
            meta: ModelMeta {
                name: self.name,
                input: self.input,
                // Until a names file says otherwise, so clients always get a name per class.
                class_names: (0..classes).map(|c| format!("class{c}")).collect(),
                heads: self.heads,
                preprocess: Preprocess::default(),
            },
        };
        Ok(DarknetModel {
            graph,
            convs: self.convs,
        })
    }

    /// Adds a node reading `inputs`; its output shape comes from the op.
    fn push(
        &mut self,
        s: &SectionRef,
        layer: usize,
        label: &str,
        op: Op,
        inputs: Vec<TensorId>,
    ) -> Result<TensorId> {
        let shapes: Vec<Shape> = inputs.iter().map(|&t| self.tensors[t].shape).collect();
        let shape = op.output_shape(&shapes).map_err(|m| s.error(None, m))?;
        let id = self.tensors.len();
        let name = format!("{layer}:{label}");
        self.tensors.push(TensorInfo {
            name: name.clone(),
            shape,
            storage: Storage::Own,
        });
        self.nodes.push(Node {
            name,
            op,
            inputs,
            output: id,
        });
        Ok(id)
    }

    fn activation(&self, s: &SectionRef, default: &str) -> Result<Activation> {
        let name = s.str("activation").unwrap_or(default);
        Activation::from_name(name).ok_or_else(|| {
            s.error(
                Some("activation"),
                format!(
                    "unsupported activation '{name}' (linear, leaky, relu, logistic, mish, swish)"
                ),
            )
        })
    }

    fn conv(&mut self, s: &SectionRef, layer: usize, prev: TensorId) -> Result<TensorId> {
        let bn = s.count("batch_normalize", 0, 1)? == 1;
        let filters = s.count("filters", 1, MAX_DIM)?;
        let kernel = s.count("size", 1, 64)?;
        let stride = s.count("stride", 1, 64)?;
        let pad = if s.count("pad", 0, 1)? == 1 {
            kernel / 2
        } else {
            s.count("padding", 0, 64)?
        };
        let groups = s.count("groups", 1, MAX_DIM)?;
        let act = self.activation(s, "logistic")?;
        if filters == 0 || kernel == 0 || stride == 0 || groups == 0 {
            return Err(s.error(None, "filters, size, stride and groups must be at least 1"));
        }
        let cin = self.tensors[prev].shape.c;
        if !cin.is_multiple_of(groups) || filters % groups != 0 {
            return Err(s.error(
                Some("groups"),
                format!("{groups} does not divide input channels {cin} and filters {filters}"),
            ));
        }
        let weight_count = filters * (cin / groups) * kernel * kernel;
        let op = Op::Conv(Conv {
            filters,
            kernel,
            stride,
            pad,
            groups,
            weights: vec![0.0; weight_count],
            bias: vec![0.0; filters],
            act: Activation::Linear,
            residual: None,
            post_act: Activation::Linear,
        });
        let conv_node = self.nodes.len();
        let mut out = self.push(s, layer, "conv", op, vec![prev])?;
        let mut bn_node = None;
        if bn {
            bn_node = Some(self.nodes.len());
            let zeros = vec![0.0; filters];
            let op = Op::BatchNorm(BatchNorm {
                scale: vec![1.0; filters],
                bias: zeros.clone(),
                mean: zeros,
                var: vec![1.0; filters],
                eps: BN_EPS,
            });
            out = self.push(s, layer, "bn", op, vec![out])?;
        }
        if act != Activation::Linear {
            out = self.push(s, layer, act.name(), Op::Activation(act), vec![out])?;
        }
        self.convs.push(ConvParams {
            conv_node,
            bn_node,
            filters,
            weight_count,
            feeds_shortcut: false,
        });
        self.last_conv_out = Some(out);
        Ok(out)
    }

    /// A layer reference: negative is relative to this layer, otherwise absolute.
    fn layer_ref(&self, s: &SectionRef, key: &str, layer: usize, v: i64) -> Result<TensorId> {
        let index = if v < 0 { layer as i64 + v } else { v };
        if index < 0 || index as usize >= layer {
            return Err(s.error(
                Some(key),
                format!("{v} refers to layer {index}, but only layers 0..{layer} come before"),
            ));
        }
        Ok(self.layer_out[index as usize])
    }

    fn shortcut(&mut self, s: &SectionRef, layer: usize, prev: TensorId) -> Result<TensorId> {
        let from = s
            .int_list("from")?
            .filter(|l| l.len() == 1)
            .ok_or_else(|| s.error(Some("from"), "needs exactly one layer"))?;
        let other = self.layer_ref(s, "from", layer, from[0])?;
        let act = self.activation(s, "linear")?;
        let (a, b) = (self.tensors[prev].shape, self.tensors[other].shape);
        if a != b {
            return Err(s.error(
                Some("from"),
                format!("shortcut of different shapes {a} and {b} is not supported"),
            ));
        }
        if self.last_conv_out == Some(prev) {
            if let Some(c) = self.convs.last_mut() {
                c.feeds_shortcut = true;
            }
        }
        let out = self.push(
            s,
            layer,
            "shortcut",
            Op::Add(Activation::Linear),
            vec![prev, other],
        )?;
        if act == Activation::Linear {
            Ok(out)
        } else {
            self.push(s, layer, act.name(), Op::Activation(act), vec![out])
        }
    }

    fn route(&mut self, s: &SectionRef, layer: usize) -> Result<TensorId> {
        let refs = s
            .int_list("layers")?
            .filter(|l| !l.is_empty())
            .ok_or_else(|| s.error(Some("layers"), "needs at least one layer"))?;
        let groups = s.count("groups", 1, MAX_DIM)?;
        let group_id = s.count("group_id", 0, MAX_DIM)?;
        if groups == 0 || group_id >= groups {
            return Err(s.error(
                Some("group_id"),
                format!("group_id {group_id} must be below groups {groups}"),
            ));
        }
        let mut parts = Vec::with_capacity(refs.len());
        for &r in &refs {
            let t = self.layer_ref(s, "layers", layer, r)?;
            if groups == 1 {
                parts.push(t);
                continue;
            }
            let c = self.tensors[t].shape.c;
            if !c.is_multiple_of(groups) {
                return Err(s.error(
                    Some("groups"),
                    format!("{groups} does not divide the {c} channels of layer {r}"),
                ));
            }
            let channels = c / groups;
            let op = Op::ChannelSlice {
                offset: group_id * channels,
                channels,
            };
            parts.push(self.push(s, layer, "slice", op, vec![t])?);
        }
        if parts.len() == 1 {
            return Ok(parts[0]);
        }
        self.push(s, layer, "route", Op::Concat, parts)
    }

    fn yolo(&mut self, s: &SectionRef, layer: usize, prev: TensorId) -> Result<TensorId> {
        let classes = s.count("classes", 20, 100_000)?;
        let num = s.count("num", 1, 1000)?;
        let anchors = s.float_list("anchors")?.unwrap_or_default();
        if anchors.len() != 2 * num {
            return Err(s.error(
                Some("anchors"),
                format!(
                    "{} numbers for num={num} anchors (need {})",
                    anchors.len(),
                    2 * num
                ),
            ));
        }
        let mask: Vec<i64> = s
            .int_list("mask")?
            .unwrap_or_else(|| (0..num as i64).collect());
        let mut picked = Vec::with_capacity(mask.len());
        for &m in &mask {
            if m < 0 || m as usize >= num {
                return Err(s.error(Some("mask"), format!("anchor {m} out of 0..{num}")));
            }
            picked.push((anchors[2 * m as usize], anchors[2 * m as usize + 1]));
        }
        let scale_x_y = s.float("scale_x_y", 1.0)?;
        let c = self.tensors[prev].shape.c;
        let want = picked.len() * (classes + 5);
        if c != want {
            return Err(s.error(
                None,
                format!(
                    "the layer before has {c} channels; {} anchors x ({classes} classes + 5) needs {want}",
                    picked.len()
                ),
            ));
        }
        if self.heads.iter().any(|h| h.tensor == prev) {
            return Err(s.error(None, format!("layer {layer} reuses another head's tensor")));
        }
        if let Some(h) = self.heads.first() {
            if h.classes != classes {
                return Err(s.error(
                    Some("classes"),
                    "all [yolo] layers must have the same classes",
                ));
            }
        }
        self.heads.push(YoloHead {
            tensor: prev,
            anchors: picked,
            classes,
            scale_x_y,
        });
        Ok(prev)
    }
}
