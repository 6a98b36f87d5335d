"""What the Python references of the benchmarks share: loading a module from a checkout of
another project (OpenAI's clip/model.py, CLIP-Dissect's similarity.py), as that project's
users run it, without installing it."""
import importlib.util
import os
import sys


def load_file_module(path, name, caller, hint):
    """The module in `path`; exits naming `caller` and `hint` when the file is missing."""
    if not os.path.isfile(path):
        sys.exit(f"{caller}: {path}: not found ({hint})")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_model_py(repo, caller):
    """OpenAI's clip/model.py from a checkout of openai/CLIP."""
    return load_file_module(os.path.join(repo, "clip", "model.py"), "openai_clip_model", caller,
                            "--clip-repo must be a checkout of openai/CLIP")
