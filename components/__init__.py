"""Custom TFX components, executors and resolver strategies."""
