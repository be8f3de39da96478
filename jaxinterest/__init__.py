"""jaxinterest: user interests via reasoning and distillation, in pure-functional JAX."""

__version__ = "0.1.0"
