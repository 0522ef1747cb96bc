"""Test-wide settings: quiet TensorFlow's C++ logs (thousands of lines otherwise)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
