"""Orchestration adapters: how the one pipeline is executed."""
