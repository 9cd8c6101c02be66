//! B+trees: the node layout in a page (`node`) and the tree over the buffer
//! pool (`tree`, `cursor`).

pub mod node;
pub mod tree;

#[cfg(test)]
pub(crate) mod tests;
