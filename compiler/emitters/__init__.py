"""Emitters: one module per output format (the compiled document, explanations, …)."""
