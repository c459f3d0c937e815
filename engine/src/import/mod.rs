//! Importers: each turns a model format into the one graph IR.

pub mod darknet;
