//! Plan to bytes.

use super::{ALIGN, MAGIC, VERSION};
use crate::graph::{Graph, Op, Storage};
use crate::model::ModelMeta;
use crate::plan::{Fingerprint, Plan};

pub fn to_bytes(plan: &Plan) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(MAGIC);
    w.u32(VERSION);
    w.u64(0); // total length, patched below
    w.u64(0); // weights offset, patched below
    w.u64(0); // weight count, patched below
    w.str(&plan.producer);
    fingerprint(&mut w, &plan.fingerprint);
    w.u8(plan.precision as u8);
    for list in [&plan.inputs, &plan.outputs] {
        w.u32(list.len() as u32);
        for b in list {
            w.str(&b.name);
            for d in b.shape {
                w.u32(d as u32);
            }
            w.u8(b.dtype as u8);
            w.str(&b.layout);
        }
    }
    meta(&mut w, &plan.graph.meta);
    graph(&mut w, &plan.graph);
    w.u32(plan.tactics.len() as u32);
    for t in &plan.tactics {
        w.u32(t.node as u32);
        w.str(&t.name);
    }
    w.u32(plan.device_code.len() as u32);
    w.buf.extend_from_slice(&plan.device_code);
    match &plan.quant {
        None => w.u8(0),
        Some(q) => {
            w.u8(1);
            w.u32(q.int8.len() as u32);
            for &b in &q.int8 {
                w.u8(b as u8);
            }
            w.u32(q.scales.len() as u32);
            for s in &q.scales {
                // 0 is no scale: a real one is positive.
                w.f32(s.unwrap_or(0.0));
            }
        }
    }
    while w.buf.len() % ALIGN != 0 {
        w.buf.push(0);
    }
    let weights_at = w.buf.len();
    let weights = std::mem::take(&mut w.weights);
    for &v in &weights {
        w.f32(v);
    }
    let total = w.buf.len() + 4;
    w.buf[12..20].copy_from_slice(&(total as u64).to_le_bytes());
    w.buf[20..28].copy_from_slice(&(weights_at as u64).to_le_bytes());
    w.buf[28..36].copy_from_slice(&(weights.len() as u64).to_le_bytes());
    let crc = crc32fast::hash(&w.buf);
    w.u32(crc);
    w.buf
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
    weights: Vec<f32>,
}

impl Writer {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
    }
    /// Appends to the weights section, 64-byte aligned; the body stores (offset, count).
    fn array(&mut self, v: &[f32]) {
        while !self.weights.len().is_multiple_of(ALIGN / 4) {
            self.weights.push(0.0);
        }
        self.u64(self.weights.len() as u64);
        self.u64(v.len() as u64);
        self.weights.extend_from_slice(v);
    }
}

fn fingerprint(w: &mut Writer, f: &Fingerprint) {
    w.str(&f.backend);
    w.str(&f.arch);
    w.u32(f.features.len() as u32);
    for s in &f.features {
        w.str(s);
    }
    w.u32(f.device.len() as u32);
    for (k, v) in &f.device {
        w.str(k);
        w.str(v);
    }
}

fn meta(w: &mut Writer, m: &ModelMeta) {
    w.str(&m.name);
    for d in [m.input.h, m.input.w, m.input.c] {
        w.u32(d as u32);
    }
    w.u32(m.class_names.len() as u32);
    for c in &m.class_names {
        w.str(c);
    }
    w.u32(m.heads.len() as u32);
    for h in &m.heads {
        w.u32(h.tensor as u32);
        w.u32(h.classes as u32);
        w.f32(h.scale_x_y);
        w.u32(h.anchors.len() as u32);
        for &(aw, ah) in &h.anchors {
            w.f32(aw);
            w.f32(ah);
        }
    }
    let p = &m.preprocess;
    w.u8(p.letterbox as u8);
    w.f32(p.pad_value);
    for v in p.mean.iter().chain(&p.std) {
        w.f32(*v);
    }
}

fn graph(w: &mut Writer, g: &Graph) {
    w.u32(g.tensors.len() as u32);
    for t in &g.tensors {
        w.str(&t.name);
        for d in [t.shape.h, t.shape.w, t.shape.c] {
            w.u32(d as u32);
        }
        match t.storage {
            Storage::Own => w.u8(0),
            Storage::View {
                base,
                channel_offset,
            } => {
                w.u8(1);
                w.u32(base as u32);
                w.u32(channel_offset as u32);
            }
        }
    }
    w.u32(g.input as u32);
    w.u32(g.outputs.len() as u32);
    for &o in &g.outputs {
        w.u32(o as u32);
    }
    w.u32(g.nodes.len() as u32);
    for n in &g.nodes {
        w.str(&n.name);
        w.u32(n.inputs.len() as u32);
        for &i in &n.inputs {
            w.u32(i as u32);
        }
        w.u32(n.output as u32);
        match &n.op {
            Op::Conv(c) => {
                w.u8(0);
                for v in [c.filters, c.kernel, c.stride, c.pad, c.groups] {
                    w.u32(v as u32);
                }
                w.u8(c.act as u8);
                w.u8(c.post_act as u8);
                w.u32(c.residual.map_or(u32::MAX, |r| r as u32));
                w.array(&c.weights);
                w.array(&c.bias);
            }
            Op::BatchNorm(bn) => {
                w.u8(1);
                for v in [&bn.scale, &bn.bias, &bn.mean, &bn.var] {
                    w.array(v);
                }
                w.f32(bn.eps);
            }
            Op::Activation(a) => {
                w.u8(2);
                w.u8(*a as u8);
            }
            Op::Add(a) => {
                w.u8(3);
                w.u8(*a as u8);
            }
            Op::Concat => w.u8(4),
            Op::ChannelSlice { offset, channels } => {
                w.u8(5);
                w.u32(*offset as u32);
                w.u32(*channels as u32);
            }
            Op::MaxPool { size, stride, pad } => {
                w.u8(6);
                for v in [size, stride, pad] {
                    w.u32(*v as u32);
                }
            }
            Op::Upsample { scale } => {
                w.u8(7);
                w.u32(*scale as u32);
            }
        }
    }
}
