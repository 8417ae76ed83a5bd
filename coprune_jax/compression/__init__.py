"""Compression after pruning: quantization, weight sharing, Huffman sizes, sparse export and sparse inference."""
