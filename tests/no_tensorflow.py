"""Run ``python -m translator ARGS`` (or a script) in a process where TensorFlow cannot be imported.

    python tests/no_tensorflow.py train --config ...       # the command line
    python tests/no_tensorflow.py --script FILE ARGS...    # any script

Used by the JAX tests: ``import tensorflow`` raises ImportError here, as on a machine that
has only JAX installed.
"""

import runpy
import sys


class BlockTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name == "tensorflow" or name.startswith("tensorflow."):
            raise ImportError(f"import of {name} is blocked in this test")
        return None


sys.meta_path.insert(0, BlockTensorFlow())
if sys.argv[1:2] == ["--script"]:
    sys.argv = sys.argv[2:]
    runpy.run_path(sys.argv[0], run_name="__main__")
else:
    sys.argv = ["translator", *sys.argv[1:]]
    runpy.run_module("translator", run_name="__main__")
