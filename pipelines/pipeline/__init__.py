"""The TFX pipeline: its DAG (dag.py) and the Evaluator's configuration and results (evaluation.py)."""
