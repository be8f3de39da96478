"""Package data: `tiny_bpe_8k.json`, the tiny family tokenizer (jaxinterest.tokenizers.tiny)."""
