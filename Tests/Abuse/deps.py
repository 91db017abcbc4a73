"""Makes sure the third-party Python modules the suite needs are importable.

Imported first by abuse.py, before anything that imports grpc or h2: a fresh CI machine lacks
them, and installing them from inside the run keeps `.ci/run` a single command.
"""
import importlib
import subprocess
import sys

# import name -> pip distribution name
REQUIRED = {
    "grpc": "grpcio",
    "grpc_tools": "grpcio-tools",
    "grpc_health": "grpcio-health-checking",
    "h2": "h2",
}


def ensure() -> None:
    missing = []
    for module, distribution in REQUIRED.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(distribution)
    if not missing:
        return
    print(f"installing missing Python packages: {', '.join(missing)}", flush=True)
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", *missing])
    importlib.invalidate_caches()
    for module in REQUIRED:
        importlib.import_module(module)
