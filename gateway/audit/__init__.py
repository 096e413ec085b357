"""Tamper-evident audit trail: hash chain, RFC 9162 Merkle tree, signed checkpoints."""
