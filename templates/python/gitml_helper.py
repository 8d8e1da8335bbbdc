"""Optional helper for gitml runs (standard library only; copy it into your code).

gitml's run contract needs no library: append JSON lines to $GITML_METRICS and write files
under $GITML_OUTPUTS. This module only wraps those two plain file operations.

    from gitml_helper import log_metric, outputs_dir
    log_metric("loss", 0.31, step=2)
    open(os.path.join(outputs_dir(), "model.pkl"), "wb").write(blob)
"""
import json
import math
import os
import tempfile
import time

__all__ = ["log_metric", "outputs_dir", "run_id"]


def run_id():
    """The id of the current gitml run, or None outside gitml."""
    return os.environ.get("GITML_RUN_ID")


def outputs_dir():
    """The folder whose files gitml keeps as the run's artifacts (a temp folder outside gitml)."""
    path = os.environ.get("GITML_OUTPUTS")
    if not path:
        path = os.path.join(tempfile.gettempdir(), "gitml-outputs")
    os.makedirs(path, exist_ok=True)
    return path


def log_metric(name, value, step=None, timestamp=None):
    """Record one metric point. Outside gitml (no $GITML_METRICS) it is printed instead.

    step: an integer (default: the previous step of this metric + 1, starting at 0).
    timestamp: milliseconds since the epoch (default: now).
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError("metric %r: value must be finite, got %r" % (name, value))
    point = {"name": str(name), "value": value}
    if step is not None:
        point["step"] = int(step)
    point["timestamp"] = int(timestamp if timestamp is not None else time.time() * 1000)
    line = json.dumps(point, separators=(",", ":"))
    path = os.environ.get("GITML_METRICS")
    if path:
        # One write of one whole line, appended: safe alongside other writers of the file.
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    else:
        print(line)
