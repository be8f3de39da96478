"""Tokenizers: the real Qwen2.5 one (offline) and a small trained BPE for the tiny family.

Public names are re-exported by `jaxinterest.tokenizer`.
"""
