#!/usr/bin/env python3
"""gitml scoring server: serves one model version over HTTP, Python standard library only.

    python3 gitml_server.py --model-dir DIR [--host 127.0.0.1] [--port 8080] [--workers N]
                            [--max-body-bytes N] [--sample-log FILE --sample-rate R]

DIR is a serving bundle (server.json, schema.json, optional sample.json and score.py, the
model artifact); its format is described in README.md next to this file and in
schemas/serving-bundle.schema.json. Protocols: Azure ML style `POST /score`, MLflow's
`POST /invocations`, the Open Inference Protocol v2 under `/v2`, Prometheus `/metrics` and
an OpenAPI 3.0 description at `/openapi.json`.

Runs on Python 3.9+. scikit-learn, numpy and pandas are used when the model needs them and
they import; the server itself needs none of them.
"""
from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import datetime
import importlib.util
import io
import itertools
import json
import math
import operator
import os
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import types
import urllib.parse

RUNTIME_NAME = "gitml-scoring-server"
RUNTIME_VERSION = "1.0.0"

DEFAULTS = {
    "host": "127.0.0.1",
    "port": 8080,
    "workers": 1,
    "max_body_bytes": 10 * 1024 * 1024,
    "timeout": 30.0,
    "max_connections": 256,
    "sample_rate": 1.0,
    "grace": 10.0,
}

COLUMN_TYPES = ("double", "float", "long", "integer", "string", "boolean")
V2_FOR_TYPE = {"double": "FP64", "float": "FP32", "long": "INT64", "integer": "INT32", "string": "BYTES", "boolean": "BOOL"}
V2_INT = ("INT8", "INT16", "INT32", "INT64")
V2_UINT = ("UINT8", "UINT16", "UINT32", "UINT64")
V2_FP = ("FP16", "FP32", "FP64")
V2_TYPES = V2_INT + V2_UINT + V2_FP + ("BOOL", "BYTES")
# Which tensor datatypes may feed a column of each type (a number tensor feeds a double column).
V2_ACCEPTS = {
    "double": V2_FP + V2_INT + V2_UINT,
    "float": V2_FP + V2_INT + V2_UINT,
    "long": V2_INT + V2_UINT,
    "integer": V2_INT + V2_UINT,
    "string": ("BYTES",),
    "boolean": ("BOOL",),
}
JSON_SCHEMA_FOR_TYPE = {
    "double": {"type": "number", "format": "double"},
    "float": {"type": "number", "format": "float"},
    "long": {"type": "integer", "format": "int64"},
    "integer": {"type": "integer", "format": "int32"},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
}
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


# --------------------------------------------------------------------------------------
# Logging: one line per event on stderr, never a request body.

_log_lock = threading.Lock()


_second_cache = [-1, ""]


def _now_iso() -> str:
    # strftime costs ~30 us and a request logs a line: format the second once.
    t = time.time()
    sec = int(t)
    cached = _second_cache
    if cached[0] != sec:
        cached[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        cached[0] = sec
    return "%s.%03dZ" % (cached[1], int((t - sec) * 1000))


# Access lines (one per request) are coalesced: a line written within ACCESS_LOG_COALESCE
# seconds of the last write waits in _access_pending for the next write, or for flush_log(),
# which the server's loop calls every SERVICE_INTERVAL. Under load that is one write to stderr
# every 10 ms instead of one per request (each write is a system call and wakes the reader of
# the log: a third of the requests per second at 3,000 requests/s); when requests are apart,
# each line is written at once. Every other line is written at once, after the pending ones.
ACCESS_LOG_COALESCE = 0.01
SERVICE_INTERVAL = 0.05
# With no connection open and no access line waiting, the watch runs once a second: an idle
# server wakes once a second instead of twenty times (a new connection brings the pace back).
IDLE_INTERVAL = 1.0
_access_pending: list = []
_access_written = [0.0]


def _write_lines(lines: list) -> None:
    # with _log_lock held
    try:
        sys.stderr.write("".join(lines))
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def log(msg: str) -> None:
    line = "%s %s\n" % (_now_iso(), msg)
    with _log_lock:
        if _access_pending:
            _access_pending.append(line)
            _write_lines(_access_pending)
            _access_pending.clear()
        else:
            _write_lines([line])


def access_log(msg: str) -> None:
    line = "%s %s\n" % (_now_iso(), msg)
    now = time.monotonic()
    with _log_lock:
        _access_pending.append(line)
        if now - _access_written[0] >= ACCESS_LOG_COALESCE:
            _access_written[0] = now
            _write_lines(_access_pending)
            _access_pending.clear()


def flush_log() -> None:
    """Write the access lines still waiting (called by the server's loop, and at exit)."""
    if _access_pending:
        with _log_lock:
            if _access_pending:
                _access_written[0] = time.monotonic()
                _write_lines(_access_pending)
                _access_pending.clear()


# --------------------------------------------------------------------------------------
# Errors

class BundleError(Exception):
    """The serving bundle is unusable: the server refuses to start (exit 2)."""


class RequestError(Exception):
    """A request the server answers with `status` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# --------------------------------------------------------------------------------------
# The bundle

class Column:
    __slots__ = ("name", "type")

    def __init__(self, name: str, type_: str):
        self.name = name
        self.type = type_


class Bundle:
    def __init__(self) -> None:
        self.dir = ""
        self.model = ""
        self.version = ""
        self.flavor = "sklearn"
        self.artifact: str | None = None
        self.scoring: str | None = None
        self.runtime = ""
        self.method = "predict"
        self.inputs: list[Column] = []
        self.outputs: list[Column] = []
        self.sample: list | None = None


def _read_json(path: str, what: str):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise BundleError("%s is missing: %s" % (what, path))
    except (ValueError, UnicodeDecodeError) as e:
        raise BundleError("%s is not valid JSON (%s): %s" % (what, e, path))


def _inside(base: str, rel: object, what: str) -> str:
    """Resolve `rel` under `base`, refusing absolute paths and anything escaping `base`."""
    if not isinstance(rel, str) or not rel or "\0" in rel:
        raise BundleError("%s must be a non-empty relative path" % what)
    if os.path.isabs(rel) or rel.replace("\\", "/").split("/")[0] == "..":
        raise BundleError("%s must be a path inside the bundle, got %r" % (what, rel))
    root = os.path.realpath(base)
    full = os.path.realpath(os.path.join(root, rel))
    if full != root and not full.startswith(root + os.sep):
        raise BundleError("%s escapes the bundle folder: %r" % (what, rel))
    if not os.path.isfile(full):
        raise BundleError("%s does not exist: %s" % (what, os.path.join(base, rel)))
    return full


def _columns(value: object, what: str, required: bool) -> list[Column]:
    if value is None and not required:
        return []
    if not isinstance(value, list) or (required and not value):
        raise BundleError("schema.json: %s must be a %slist of {name, type}" % (what, "non-empty " if required else ""))
    cols: list[Column] = []
    seen = set()
    for i, c in enumerate(value):
        if not isinstance(c, dict) or not isinstance(c.get("name"), str) or not c.get("name"):
            raise BundleError("schema.json: %s[%d] needs a non-empty string `name`" % (what, i))
        if c.get("type") not in COLUMN_TYPES:
            raise BundleError("schema.json: %s[%d] (%s) has type %r; expected one of %s" % (what, i, c["name"], c.get("type"), ", ".join(COLUMN_TYPES)))
        if c["name"] in seen:
            raise BundleError("schema.json: %s has the column %r twice" % (what, c["name"]))
        seen.add(c["name"])
        cols.append(Column(c["name"], c["type"]))
    return cols


def load_bundle(model_dir: str) -> Bundle:
    if not model_dir:
        raise BundleError("no model folder: pass --model-dir DIR or set GITML_MODEL_DIR")
    if not os.path.isdir(model_dir):
        raise BundleError("model folder does not exist: %s" % model_dir)
    b = Bundle()
    b.dir = os.path.abspath(model_dir)
    s = _read_json(os.path.join(b.dir, "server.json"), "server.json")
    if not isinstance(s, dict):
        raise BundleError("server.json must be a JSON object")
    for key in ("model", "version"):
        if not isinstance(s.get(key), str) or not s.get(key):
            raise BundleError("server.json: `%s` must be a non-empty string" % key)
    b.model, b.version = s["model"], s["version"]
    if any(ch.isspace() for ch in b.model):
        raise BundleError("server.json: `model` must not contain spaces, got %r" % b.model)
    b.flavor = s.get("flavor", "sklearn")
    if b.flavor not in ("sklearn", "python"):
        raise BundleError("server.json: `flavor` must be sklearn or python, got %r" % (b.flavor,))
    b.runtime = s.get("runtime") if isinstance(s.get("runtime"), str) else ""
    method = s.get("method") or "predict"
    if not isinstance(method, str) or not method.isidentifier() or method.startswith("_"):
        raise BundleError("server.json: `method` must be a public method name such as predict or predict_proba")
    b.method = method
    if s.get("artifact") is not None:
        b.artifact = _inside(b.dir, s["artifact"], "server.json `artifact`")
    if s.get("scoring") is not None:
        b.scoring = _inside(b.dir, s["scoring"], "server.json `scoring`")
    if b.scoring is None and b.flavor == "python":
        raise BundleError("server.json: the python flavor needs a scoring script (`scoring`)")
    if b.scoring is None and b.artifact is None:
        raise BundleError("server.json: the sklearn flavor without a scoring script needs `artifact`")
    sch = _read_json(os.path.join(b.dir, "schema.json"), "schema.json")
    if not isinstance(sch, dict):
        raise BundleError("schema.json must be a JSON object with `inputs` and `outputs`")
    b.inputs = _columns(sch.get("inputs"), "inputs", True)
    b.outputs = _columns(sch.get("outputs"), "outputs", False)
    sample_path = os.path.join(b.dir, "sample.json")
    if os.path.isfile(sample_path):
        raw = _read_json(sample_path, "sample.json")
        try:
            b.sample = as_records(records_from_data(raw, b.inputs, "sample.json"))
        except RequestError as e:
            log("warning: sample.json does not match schema.json (%s); it is not used as an example" % e.message)
    return b


# --------------------------------------------------------------------------------------
# Inputs: every protocol's payload becomes a list of records checked against the schema.

def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool))


def check_value(v, col: Column, where: str, missing: bool = False):
    """Return `v` converted to the column's Python type, or raise WRONG_TYPE.

    `missing`: MLflow's /invocations, where a double column takes null (read as NaN), NaN and
    +/-Infinity as pandas does; elsewhere only finite numbers."""
    t = col.type
    if t in ("double", "float"):
        if type(v) is float and v - v == 0.0:  # the common case first: a finite float
            return v
        # JSON has no infinity, but 1e999 parses to one and a 400-digit integer overflows a
        # double: refuse both here rather than fail inside the model with a 500.
        if _is_num(v):
            try:
                f = float(v)
            except OverflowError:
                f = math.inf
            if math.isfinite(f) or (missing and not _is_int(v)):
                return f
            raise RequestError(400, "WRONG_TYPE", "%s: column %r expects a finite double, got a number out of range" % (where, col.name))
        if v is None and missing:
            return math.nan
    elif t in ("long", "integer"):
        if _is_int(v) or (isinstance(v, float) and v.is_integer()):
            iv = int(v)
            if (INT64_MIN if t == "long" else INT32_MIN) <= iv <= (INT64_MAX if t == "long" else INT32_MAX):
                return iv
    elif t == "string":
        if isinstance(v, str):
            return v
    elif t == "boolean":
        if isinstance(v, bool):
            return v
    raise RequestError(400, "WRONG_TYPE", "%s: column %r expects a %s, got %s" % (where, col.name, t, _describe(v)))


def _describe(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean %s" % ("true" if v else "false")
    if isinstance(v, (int, float)):
        return "number %s" % json.dumps(v)
    if isinstance(v, str):
        return "string %s" % json.dumps(v[:40])
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _checker(cols: list[Column], missing: bool):
    """A function (values in column order, where) -> list of checked values. Column-wise
    fast path: finite floats for double columns, plain ints and strings and bools for their
    columns pass by a type test; anything else goes through check_value, which converts or
    raises, so the answers are the same."""
    kinds = []
    for c in cols:
        if c.type in ("double", "float"):
            kinds.append(float)
        elif c.type == "string":
            kinds.append(str)
        elif c.type == "boolean":
            kinds.append(bool)
        else:
            kinds.append(None)  # integers: a range check every time
    pairs = list(zip(cols, kinds))

    def check(values, where):
        out = []
        for (c, k), v in zip(pairs, values):
            if k is not None and type(v) is k and (k is not float or v - v == 0.0):
                out.append(v)
            else:
                out.append(check_value(v, c, where(), missing))
        return out

    return check


class Records(list):
    """The checked records of a request (a list of dicts, what run(data) receives), and, when
    a fast path made them, `matrix`: the same values as rows in schema column order, so the
    built-in loader need not take the dicts apart again."""
    __slots__ = ("matrix",)

    def __init__(self, records=(), matrix=None):
        super().__init__(records)
        self.matrix = matrix


class Rows:
    """Checked rows in schema column order, as a fast path makes them: the built-in loader
    feeds `matrix` to the estimator as it is, and the records (dicts) that run(data), the
    DataFrame input and the sample log take are made only when one of them asks (records())."""
    __slots__ = ("names", "matrix", "_records")

    def __init__(self, names: list, matrix: list):
        self.names = names
        self.matrix = matrix
        self._records = None

    def __len__(self) -> int:
        return len(self.matrix)

    def records(self) -> Records:
        if self._records is None:
            names = self.names
            self._records = Records([dict(zip(names, row)) for row in self.matrix], self.matrix)
        return self._records


def as_records(records):
    """The list of dicts of checked records (Rows made into records)."""
    return records.records() if type(records) is Rows else records


_FLOAT_ONLY = {float}
_DICT_ONLY = {dict}
_LIST_ONLY = {list}
_chain = itertools.chain.from_iterable


def _all_floats(cols: list[Column]) -> bool:
    return all(c.type in ("double", "float") for c in cols)


def _finite_floats(matrix: list) -> bool:
    """Whether every value of the rows is a finite float (the common request, checked in C:
    types by a set of types, finiteness by the sum, which is finite only if every term is;
    a sum that overflows sends the request down the value-by-value path, which is exact)."""
    flat = list(_chain(matrix))
    return set(map(type, flat)) <= _FLOAT_ONLY and math.isfinite(sum(flat))


def _same_length(rows: list, n: int) -> bool:
    lengths = set(map(len, rows))
    return len(lengths) == 1 and n in lengths


def records_from_records(rows: list, cols: list[Column], where: str, missing: bool = False, dicts: bool = False):
    """`dicts`: the caller found every row a dict."""
    names = [c.name for c in cols]
    if _all_floats(cols) and (dicts or set(map(type, rows)) == _DICT_ONLY) and _same_length(rows, len(names)):
        # Records with exactly the schema's columns (as many keys, none missing) and finite
        # floats in them: checked at once, in C, and kept as rows (Rows).
        try:
            matrix = list(map(operator.itemgetter(*names), rows)) if len(names) > 1 else [(r[names[0]],) for r in rows]
        except KeyError:
            matrix = None  # a column missing (and so another one unknown): said exactly below
        if matrix is not None and _finite_floats(matrix):
            return Rows(names, matrix)
    name_set = set(names)
    check = _checker(cols, missing)
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise RequestError(400, "WRONG_SHAPE", "%s[%d]: expected a record (object), got %s" % (where, i, _describe(r)))
        if r.keys() != name_set:
            for k in r:
                if k not in name_set:
                    raise RequestError(400, "UNKNOWN_COLUMN", "%s[%d]: unknown column %r; the model takes %s" % (where, i, k, ", ".join(names)))
            for n in names:
                if n not in r:
                    raise RequestError(400, "MISSING_COLUMN", "%s[%d]: missing column %r" % (where, i, n))
        out.append(dict(zip(names, check([r[n] for n in names], lambda: "%s[%d]" % (where, i)))))
    return out


def records_from_rows(rows: list, cols: list[Column], where: str, missing: bool = False) -> list[dict]:
    n = len(cols)
    names = [c.name for c in cols]
    if _all_floats(cols) and set(map(type, rows)) == _LIST_ONLY and _same_length(rows, n) and _finite_floats(rows):
        return Rows(names, rows)
    check = _checker(cols, missing)
    out = []
    for i, r in enumerate(rows):
        if not isinstance(r, list):
            raise RequestError(400, "WRONG_SHAPE", "%s[%d]: expected a row (array), got %s" % (where, i, _describe(r)))
        if len(r) != n:
            raise RequestError(400, "WRONG_SHAPE", "%s[%d]: a row needs %d values (%s), got %d" % (where, i, n, ", ".join(names), len(r)))
        out.append(dict(zip(names, check(r, lambda: "%s[%d]" % (where, i)))))
    return out


def records_from_columns(data: dict, cols: list[Column], where: str, missing: bool = False) -> list[dict]:
    names = {c.name for c in cols}
    for k in data:
        if k not in names:
            raise RequestError(400, "UNKNOWN_COLUMN", "%s: unknown column %r" % (where, k))
    for c in cols:
        if c.name not in data:
            raise RequestError(400, "MISSING_COLUMN", "%s: missing column %r" % (where, c.name))
    lengths = {len(data[c.name]) for c in cols}
    if len(lengths) != 1:
        raise RequestError(400, "WRONG_SHAPE", "%s: every column needs the same number of values" % where)
    n = lengths.pop()
    if n == 0:
        raise RequestError(400, "WRONG_SHAPE", "%s: no rows to score" % where)
    return [{c.name: check_value(data[c.name][i], c, "%s[%d]" % (where, i), missing) for c in cols} for i in range(n)]


def records_from_data(data, cols: list[Column], where: str, missing: bool = False) -> list[dict]:
    """Records (objects), rows (arrays in schema column order), columns ({name: [values]})
    or one record (an object of scalars)."""
    if isinstance(data, list):
        if not data:
            raise RequestError(400, "WRONG_SHAPE", "%s: no rows to score" % where)
        types = set(map(type, data))  # what JSON makes: the common cases, told in C
        if types == _DICT_ONLY:
            return records_from_records(data, cols, where, missing, dicts=True)
        if types == _LIST_ONLY:
            return records_from_rows(data, cols, where, missing)
        if all(isinstance(r, dict) for r in data):
            return records_from_records(data, cols, where, missing)
        if all(isinstance(r, list) for r in data):
            return records_from_rows(data, cols, where, missing)
        raise RequestError(400, "WRONG_SHAPE", "%s: expected a list of records (objects) or of rows (arrays), not a mix or scalars" % where)
    if isinstance(data, dict):
        if data and all(isinstance(v, list) for v in data.values()):
            return records_from_columns(data, cols, where, missing)
        return records_from_records([data], cols, where, missing)
    raise RequestError(400, "WRONG_SHAPE", "%s: expected records, rows or columns, got %s" % (where, _describe(data)))


def _no_constants(name):
    raise ValueError("%s is not JSON" % name)


# Made once: json.loads and json.dumps with options make a new decoder or encoder every call.
_STRICT_JSON = json.JSONDecoder(parse_constant=_no_constants)
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def parse_json(body: bytes, constants: bool = False):
    """The body as JSON. `constants`: also NaN, Infinity and -Infinity, which MLflow's client
    writes for missing values (pandas' to_json does not, json.dumps does)."""
    if not body.strip():
        raise RequestError(400, "BAD_JSON", "the request body is empty; expected JSON")
    try:
        if constants:
            return json.loads(body.decode("utf-8"))
        return _STRICT_JSON.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise RequestError(400, "BAD_JSON", "the request body is not UTF-8")
    except RecursionError:
        raise RequestError(400, "BAD_JSON", "the request body nests too deeply")
    except ValueError as e:
        raise RequestError(400, "BAD_JSON", "the request body is not valid JSON: %s" % e)


def parse_csv(body: bytes, cols: list[Column]) -> list[dict]:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestError(400, "BAD_REQUEST", "the CSV body is not UTF-8")
    try:
        reader = csv.reader(io.StringIO(text))
        rows = [r for r in reader if r]
    except csv.Error as e:
        raise RequestError(400, "BAD_REQUEST", "the CSV body does not parse: %s" % e)
    if len(rows) < 2:
        raise RequestError(400, "WRONG_SHAPE", "CSV: expected a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    by_name = {c.name: c for c in cols}
    # pandas' df.to_csv() writes the index first under an empty header: it is not a column.
    skip = 1 if header and header[0] == "" and "" not in by_name else 0
    header = header[skip:]
    records = []
    for i, r in enumerate(rows[1:]):
        r = r[skip:]
        if len(r) != len(header):
            raise RequestError(400, "WRONG_SHAPE", "CSV row %d has %d values for %d columns" % (i + 1, len(r) + skip, len(header) + skip))
        rec = {}
        for name, text_value in zip(header, r):
            col = by_name.get(name)
            rec[name] = _from_text(text_value, col, "CSV row %d" % (i + 1)) if col else text_value
        records.append(rec)
    return records_from_records(records, cols, "CSV", missing=True)


def _from_text(s: str, col: Column, where: str):
    s = s.strip()
    try:
        if col.type in ("double", "float"):
            # An empty cell is pandas' missing value (NaN), as read_csv reads it.
            return float(s) if s else math.nan
        elif col.type in ("long", "integer"):
            return check_value(int(s), col, where)
        elif col.type == "boolean":
            if s.lower() in ("true", "1"):
                return True
            if s.lower() in ("false", "0"):
                return False
        else:
            return s
    except ValueError:
        pass
    raise RequestError(400, "WRONG_TYPE", "%s: column %r expects a %s, got %s" % (where, col.name, col.type, json.dumps(s[:40])))


def _only_key(body: dict, allowed: tuple, where: str) -> str:
    keys = [k for k in body if k in allowed]
    unknown = [k for k in body if k not in allowed]
    if unknown:
        raise RequestError(400, "BAD_REQUEST", "%s: unexpected field %r; expected exactly one of %s" % (where, unknown[0], ", ".join(allowed)))
    if len(keys) != 1:
        raise RequestError(400, "BAD_REQUEST", "%s: expected exactly one of %s" % (where, ", ".join(allowed)))
    return keys[0]


def score_inputs(body, cols: list[Column]) -> list[dict]:
    """POST /score: {"data": records|rows|columns} or a bare list."""
    if isinstance(body, list):
        return records_from_data(body, cols, "body")
    if isinstance(body, dict):
        _only_key(body, ("data",), "body")
        return records_from_data(body["data"], cols, "data")
    raise RequestError(400, "WRONG_SHAPE", "body: expected {\"data\": [...]} or a list of records or rows")


MLFLOW_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def mlflow_params(body) -> dict | None:
    """MLflow's `params` (since MLflow 2.6): an object of inference parameters, or None."""
    if not isinstance(body, dict) or body.get("params") is None:
        return None
    params = body["params"]
    if not isinstance(params, dict):
        raise RequestError(400, "BAD_REQUEST", "params: expected an object of parameter names and values")
    return params


def mlflow_inputs(body, cols: list[Column]) -> list[dict]:
    """POST /invocations: MLflow's dataframe_split, dataframe_records, instances, inputs
    (double columns take null, NaN and +/-Infinity); `params` is read by mlflow_params."""
    if not isinstance(body, dict):
        raise RequestError(400, "BAD_REQUEST", "body: expected an object with one of dataframe_split, dataframe_records, instances, inputs")
    key = _only_key({k: v for k, v in body.items() if k != "params"}, MLFLOW_KEYS, "body")
    v = body[key]
    if key == "dataframe_split":
        if not isinstance(v, dict) or not isinstance(v.get("data"), list):
            raise RequestError(400, "WRONG_SHAPE", "dataframe_split: expected {\"columns\": [...], \"data\": [[...]]}")
        extra = [k for k in v if k not in ("columns", "data", "index")]
        if extra:
            raise RequestError(400, "BAD_REQUEST", "dataframe_split: unexpected field %r" % extra[0])
        rows = v["data"]
        if not rows:
            raise RequestError(400, "WRONG_SHAPE", "dataframe_split.data: no rows to score")
        columns = v.get("columns")
        if columns is None:
            return records_from_rows(rows, cols, "dataframe_split.data", True)
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns) or len(set(columns)) != len(columns):
            raise RequestError(400, "WRONG_SHAPE", "dataframe_split.columns: expected a list of distinct column names")
        if columns == [c.name for c in cols] and set(map(type, rows)) == _LIST_ONLY and _same_length(rows, len(columns)):
            # The columns in schema order (what MLflow's client sends for a DataFrame of the
            # signature): the rows are rows; value errors are worded as for records.
            return records_from_rows(rows, cols, "dataframe_split.data", True)
        records = []
        for i, r in enumerate(rows):
            if not isinstance(r, list) or len(r) != len(columns):
                raise RequestError(400, "WRONG_SHAPE", "dataframe_split.data[%d]: expected a row of %d values" % (i, len(columns)))
            records.append(dict(zip(columns, r)))
        return records_from_records(records, cols, "dataframe_split.data", True)
    if key == "dataframe_records":
        if not isinstance(v, list) or not v:
            raise RequestError(400, "WRONG_SHAPE", "dataframe_records: expected a non-empty list of records")
        return records_from_records(v, cols, "dataframe_records", True)
    return records_from_data(v, cols, key, True)


def _flatten(data, out: list) -> None:
    """Row-major flattening of nested lists, without recursion (any depth is safe)."""
    stack = [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()


def _tensor_value(v, datatype: str, where: str):
    ok = False
    if datatype in V2_FP:
        ok = _is_num(v)
    elif datatype in V2_INT or datatype in V2_UINT:
        ok = (_is_int(v) or (isinstance(v, float) and v.is_integer())) and (datatype in V2_INT or v >= 0)
    elif datatype == "BOOL":
        ok = isinstance(v, bool)
    elif datatype == "BYTES":
        ok = isinstance(v, str)
    if not ok:
        raise RequestError(400, "WRONG_TYPE", "%s: a %s tensor cannot hold %s" % (where, datatype, _describe(v)))
    return v


_FP_TYPES = {float, int}
_INT_ONLY = {int}


def _tensor_values_ok(flat: list, types: set, datatype: str) -> bool:
    """Whether every value fits the tensor's datatype, told from the set of their Python types
    (in C); False sends them one by one through _tensor_value, which says which is wrong."""
    if datatype in V2_FP:
        return types <= _FP_TYPES
    if datatype in V2_INT:
        return types <= _INT_ONLY
    if datatype in V2_UINT:
        return types <= _INT_ONLY and (not flat or min(flat) >= 0)
    if datatype == "BOOL":
        return types <= {bool}
    if datatype == "BYTES":
        return types <= {str}
    return False


# The binary tensor data extension (Triton's, which tritonclient uses by default): the body is
# JSON of Inference-Header-Content-Length bytes, then each binary tensor's raw little-endian
# values in the order of the tensors, `parameters.binary_data_size` bytes each; BYTES elements
# are a 4-byte little-endian length and the bytes.
BINARY_EXTENSION = "binary_tensor_data"
_STRUCT = {"BOOL": "?", "INT8": "b", "INT16": "h", "INT32": "i", "INT64": "q", "UINT8": "B", "UINT16": "H",
           "UINT32": "I", "UINT64": "Q", "FP16": "e", "FP32": "f", "FP64": "d"}


def split_binary(raw: bytes, header_length) -> tuple:
    """(JSON part, binary part) of a request with Inference-Header-Content-Length."""
    if header_length is None:
        return raw, b""
    if not _DIGITS.fullmatch(header_length.strip()) or int(header_length) > len(raw):
        raise RequestError(400, "BAD_REQUEST", "Inference-Header-Content-Length must be an integer between 0 and the body's length (%d)" % len(raw))
    n = int(header_length)
    return raw[:n], raw[n:]


def _decode_binary(buf: bytes, datatype: str, where: str) -> list:
    if datatype == "BYTES":
        out, i = [], 0
        while i < len(buf):
            if i + 4 > len(buf):
                raise RequestError(400, "WRONG_SHAPE", "%s: a BYTES element is cut short" % where)
            (k,) = struct.unpack_from("<I", buf, i)
            if i + 4 + k > len(buf):
                raise RequestError(400, "WRONG_SHAPE", "%s: a BYTES element is cut short" % where)
            try:
                out.append(buf[i + 4:i + 4 + k].decode("utf-8"))
            except UnicodeDecodeError:
                raise RequestError(400, "WRONG_TYPE", "%s: a BYTES element is not UTF-8 text" % where)
            i += 4 + k
        return out
    fmt = _STRUCT[datatype]
    size = struct.calcsize(fmt)
    if len(buf) % size:
        raise RequestError(400, "WRONG_SHAPE", "%s: %d bytes is not a whole number of %s values" % (where, len(buf), datatype))
    values = list(struct.unpack("<%d%s" % (len(buf) // size, fmt), buf))
    if datatype == "BOOL":
        values = [bool(v) for v in values]
    return values


def attach_binary(body, binary: bytes) -> None:
    """Give each input tensor sent as binary its `data`, decoded from the binary part."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        return
    pos = 0
    for i, t in enumerate(body["inputs"]):
        prm = t.get("parameters") if isinstance(t, dict) else None
        size = prm.get("binary_data_size") if isinstance(prm, dict) else None
        if size is None:
            continue
        where = "inputs[%d]" % i
        if not _is_int(size) or size < 0 or pos + size > len(binary):
            raise RequestError(400, "WRONG_SHAPE", "%s: binary_data_size %s does not fit the %d bytes after the JSON header" % (where, json.dumps(size), len(binary)))
        if "data" in t:
            raise RequestError(400, "BAD_REQUEST", "%s: a tensor has either `data` or binary_data_size, not both" % where)
        if t.get("datatype") not in _STRUCT and t.get("datatype") != "BYTES":
            raise RequestError(400, "WRONG_TYPE", "%s: unknown datatype %r; expected one of %s" % (where, t.get("datatype"), ", ".join(V2_TYPES)))
        t["data"] = _decode_binary(binary[pos:pos + size], t["datatype"], where)
        pos += size
    if pos != len(binary):
        raise RequestError(400, "WRONG_SHAPE", "%d bytes follow the JSON header but the tensors' binary_data_size add up to %d" % (len(binary), pos))


def encode_binary(tensor: dict) -> bytes:
    """Move a response tensor's `data` into raw bytes; its JSON keeps binary_data_size."""
    data, dt = tensor.pop("data"), tensor["datatype"]
    if dt == "BYTES":
        buf = b"".join(struct.pack("<I", len(b)) + b for b in (v.encode("utf-8") for v in data))
    else:
        if dt in V2_FP:
            data = [math.nan if v is None else v for v in data]
        buf = struct.pack("<%d%s" % (len(data), _STRUCT[dt]), *data)
    tensor["parameters"] = dict(tensor.get("parameters") or {}, binary_data_size=len(buf))
    return buf


def _flag(obj, key: str):
    prm = obj.get("parameters") if isinstance(obj, dict) else None
    return prm.get(key) if isinstance(prm, dict) else None


def v2_inputs(body, cols: list[Column]) -> list[dict]:
    """Open Inference Protocol v2 request: one tensor per column ([N] or [N, 1]) or a single
    2-D tensor [N, C] with the columns in schema order."""
    if not isinstance(body, dict):
        raise RequestError(400, "BAD_REQUEST", "body: expected an inference request object")
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise RequestError(400, "BAD_REQUEST", "inputs: expected a non-empty list of tensors")
    parsed = []
    for i, t in enumerate(tensors):
        where = "inputs[%d]" % i
        if not isinstance(t, dict):
            raise RequestError(400, "BAD_REQUEST", "%s: expected a tensor object" % where)
        name, shape, datatype, data = t.get("name"), t.get("shape"), t.get("datatype"), t.get("data")
        if not isinstance(name, str) or not name:
            raise RequestError(400, "BAD_REQUEST", "%s: `name` must be a non-empty string" % where)
        where = "input %r" % name
        if not isinstance(shape, list) or not shape or not all(_is_int(d) and d >= 0 for d in shape):
            raise RequestError(400, "WRONG_SHAPE", "%s: `shape` must be a list of non-negative integers" % where)
        if datatype not in V2_TYPES:
            raise RequestError(400, "WRONG_TYPE", "%s: unknown datatype %r; expected one of %s" % (where, datatype, ", ".join(V2_TYPES)))
        if not isinstance(data, list):
            raise RequestError(400, "WRONG_SHAPE", "%s: `data` must be an array" % where)
        flat: list = data
        types = set(map(type, data))
        if list in types:
            if types == _LIST_ONLY and not any(list in set(map(type, r)) for r in data):
                flat = list(_chain(data))  # rows of scalars: [N, C] as JSON nests it
            else:
                flat = []
                _flatten(data, flat)
            types = set(map(type, flat))
        size = 1
        for d in shape:
            size *= d
        if len(flat) != size:
            raise RequestError(400, "WRONG_SHAPE", "%s: shape %s needs %d values, got %d" % (where, shape, size, len(flat)))
        if not _tensor_values_ok(flat, types, datatype):
            flat = [_tensor_value(v, datatype, where) for v in flat]
        parsed.append((name, shape, datatype, flat))

    names = [c.name for c in cols]
    if len(parsed) == 1 and len(parsed[0][1]) == 2 and (len(cols) > 1 or parsed[0][0] not in names):
        name, shape, datatype, flat = parsed[0]
        n, width = shape
        if width != len(cols):
            raise RequestError(400, "WRONG_SHAPE", "input %r: a 2-D input needs shape [N, %d] (%s), got %s" % (name, len(cols), ", ".join(names), shape))
        for c in cols:
            if datatype not in V2_ACCEPTS[c.type]:
                raise RequestError(400, "WRONG_TYPE", "input %r: column %r (%s) cannot be fed by a %s tensor; send one tensor per column" % (name, c.name, c.type, datatype))
        if n == 0:
            raise RequestError(400, "WRONG_SHAPE", "input %r: no rows to score" % name)
        return records_from_rows([flat[i * width:(i + 1) * width] for i in range(n)], cols, "input %r" % name)

    by_name = {}
    for name, shape, datatype, flat in parsed:
        if name not in names:
            raise RequestError(400, "UNKNOWN_COLUMN", "input %r is not a column of the model; it takes %s (or one [N, %d] tensor)" % (name, ", ".join(names), len(cols)))
        if name in by_name:
            raise RequestError(400, "BAD_REQUEST", "input %r appears twice" % name)
        if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
            raise RequestError(400, "WRONG_SHAPE", "input %r: a column tensor needs shape [N] or [N, 1], got %s" % (name, shape))
        col = cols[names.index(name)]
        if datatype not in V2_ACCEPTS[col.type]:
            raise RequestError(400, "WRONG_TYPE", "input %r: column type %s cannot be fed by a %s tensor (use %s)" % (name, col.type, datatype, V2_FOR_TYPE[col.type]))
        by_name[name] = flat
    for c in cols:
        if c.name not in by_name:
            raise RequestError(400, "MISSING_COLUMN", "missing input tensor for column %r" % c.name)
    return records_from_columns(by_name, cols, "inputs")


# --------------------------------------------------------------------------------------
# Outputs

_PLAIN_SCALARS = {int, str, bool}


def plain(x):
    """JSON-ready Python values from numpy/pandas results; NaN and infinities become null."""
    if x is None or isinstance(x, (bool, str, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        if set(map(type, x)) <= _PLAIN_SCALARS:  # numpy's tolist() of labels: nothing to convert
            return list(x)
        return [plain(v) for v in x]
    if hasattr(x, "to_dict") and hasattr(x, "columns"):  # pandas DataFrame
        return plain(x.to_dict(orient="records"))
    if hasattr(x, "tolist"):  # numpy arrays and scalars, pandas Series
        return plain(x.tolist())
    if isinstance(x, (set, frozenset)):
        return [plain(v) for v in sorted(x, key=repr)]
    if isinstance(x, (datetime.date, datetime.datetime)):
        return x.isoformat()
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    try:
        import decimal

        if isinstance(x, decimal.Decimal):
            return plain(float(x))
    except ImportError:  # pragma: no cover
        pass
    raise TypeError("a %s is not JSON-serialisable" % type(x).__name__)


def _infer_datatype(values: list) -> str:
    if values and all(isinstance(v, bool) for v in values):
        return "BOOL"
    if values and all(_is_int(v) for v in values):
        return "INT64"
    if values and all(_is_num(v) for v in values):
        return "FP64"
    return "BYTES"


def _tensor(name: str, values: list, n: int, declared: str | None) -> dict:
    if values and all(isinstance(v, list) for v in values) and len({len(v) for v in values}) == 1:
        width = len(values[0])
        flat: list = []
        for v in values:
            flat.extend(v)
        shape = [n, width]
    else:
        flat, shape = values, [n]
    datatype = _infer_datatype(flat)
    if declared and datatype != "BYTES":
        # Honour the schema's output type when the values fit it (an int fits FP64).
        if (declared in V2_FP and datatype in ("INT64", "FP64")) or (declared in V2_INT and datatype == "INT64") or declared == datatype:
            datatype = declared
    if datatype == "BYTES":
        flat = [v if isinstance(v, str) else json.dumps(v) for v in flat]
    elif datatype in V2_FP:
        flat = [float(v) if v is not None else None for v in flat]
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


def v2_outputs(result, n: int, outputs: list[Column]) -> list[dict]:
    declared = {c.name: V2_FOR_TYPE[c.type] for c in outputs}
    first = outputs[0].name if outputs else "prediction"
    if isinstance(result, list) and len(result) == n:
        if n and all(isinstance(r, dict) for r in result) and len({tuple(sorted(r)) for r in result}) == 1:
            keys = list(result[0])
            return [_tensor(k, [r[k] for r in result], n, declared.get(k)) for k in keys]
        if all(not isinstance(r, dict) for r in result):
            return [_tensor(first, result, n, declared.get(first))]
    if isinstance(result, dict) and result and all(isinstance(v, list) and len(v) == n for v in result.values()):
        return [_tensor(k, v, n, declared.get(k)) for k, v in result.items()]
    # Anything else (a scalar, a summary object): one BYTES element holding its JSON.
    return [{"name": "result", "shape": [1], "datatype": "BYTES", "data": [json.dumps(result)]}]


# --------------------------------------------------------------------------------------
# The model

class Model:
    """Loads the model once (in the background) and scores lists of records.

    state is "loading", then "ready" or "failed"; scoring needs "ready"."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle
        self.state = "loading"
        self.error = ""
        self.load_seconds = 0.0
        self._predict = None
        self.batch = None  # predict_rows when requests may be scored together (_batchable)
        self.takes_params = False
        self._params_noted = False
        self._stage = ""
        self.kind = "score.py" if bundle.scoring else "built-in %s loader" % bundle.flavor

    def load(self) -> None:
        t0 = time.perf_counter()
        try:
            if self.bundle.scoring:
                self._predict = self._load_script()
            else:
                self._predict = self._load_sklearn()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure leaves the server up but not ready
            # One line that says where it failed (importing score.py, its init(), the pickle),
            # then the traceback once: the line is what `gitml serve` and GET / report.
            self.error = "%s%s: %s" % (self._stage + " raised " if self._stage else "", type(e).__name__, e)
            self.state = "failed"
            log("error: model %s %s failed to load: %s; the server stays up and answers 503 until it is fixed\n%s"
                % (self.bundle.model, self.bundle.version, _printable(self.error), traceback.format_exc().rstrip()))
            return
        self.load_seconds = time.perf_counter() - t0
        self.state = "ready"
        log("model %s %s ready (%s, loaded in %.2f s)" % (self.bundle.model, self.bundle.version, self.kind, self.load_seconds))

    def _env(self) -> None:
        os.environ["GITML_MODEL_DIR"] = self.bundle.dir
        if self.bundle.artifact:
            os.environ["GITML_MODEL_PATH"] = self.bundle.artifact
            # Scripts written for Azure ML find the model folder here too.
            os.environ.setdefault("AZUREML_MODEL_DIR", os.path.dirname(self.bundle.artifact))

    def _load_script(self):
        self._env()
        path = self.bundle.scoring
        folder = os.path.dirname(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        script = os.path.basename(path)
        spec = importlib.util.spec_from_file_location("score", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["score"] = module
        self._stage = "importing %s" % script
        spec.loader.exec_module(module)
        self._stage = ""
        run = getattr(module, "run", None)
        if not callable(run):
            raise AttributeError("%s defines no run(data) function" % script)
        init = getattr(module, "init", None)
        if callable(init):
            self._stage = "init() in %s" % script
            init()
            self._stage = ""
        self.takes_params = _takes_two(run)
        return run

    def _load_sklearn(self):
        self._env()
        path = self.bundle.artifact
        self._stage = "unpickling %s" % os.path.basename(path)
        try:
            import joblib  # reads plain pickles and joblib dumps alike

            model = joblib.load(path)
        except ImportError:
            import pickle

            with open(path, "rb") as f:
                model = pickle.load(f)
        self._stage = ""
        fn = getattr(model, self.bundle.method, None)
        if not callable(fn):
            raise AttributeError("the unpickled %s has no %s() method" % (type(model).__name__, self.bundle.method))
        names = [c.name for c in self.bundle.inputs]
        fitted = getattr(model, "feature_names_in_", None)
        fitted = [str(x) for x in fitted] if fitted is not None else None
        pd = None
        if fitted is not None:
            try:
                import pandas as pd  # noqa: F811
            except ImportError:
                pd = None
        if fitted is not None and sorted(fitted) == sorted(names):
            order = fitted  # scikit-learn insists on the column order it was fitted with
        else:
            order = names

        same_order = order == names

        def predict_rows(records):
            matrix = getattr(records, "matrix", None)
            if matrix is not None and same_order:
                return fn(matrix)
            return fn([[r[c] for c in order] for r in as_records(records)])

        if pd is None:  # fitted without column names (on arrays), or no pandas: rows as they are
            self._batchable(predict_rows, same_order)
            return predict_rows

        def predict_frame(records):
            return fn(pd.DataFrame([[r[c] for c in order] for r in as_records(records)], columns=order))

        # A DataFrame costs about 1 ms a call in pandas and scikit-learn's name checks. When the
        # estimator gives the same answer on sample.json from a plain 2-D list (it does not select
        # columns by name), feed it lists: several times faster for small requests.
        if self.bundle.sample:
            import warnings

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    same = plain(predict_rows(self.bundle.sample)) == plain(predict_frame(self.bundle.sample))
            except Exception:  # noqa: BLE001 - the model needs its DataFrame
                same = False
            if same:
                warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)
                self.kind += ", 2-D list input"
                self._batchable(predict_rows, same_order)
                return predict_rows
        self.kind += ", DataFrame input"
        return predict_frame

    def _batchable(self, predict_rows, same_order: bool) -> None:
        """Whether the rows of concurrent requests may be scored in one call (Scorer): only
        when the estimator scores sample.json as a whole exactly as it scores each row alone
        (a value-for-value equal answer, one per row), so that no answer depends on what else
        was asked at the same moment."""
        sample = self.bundle.sample
        if not same_order or not sample or len(sample) < 2:
            return
        names = [c.name for c in self.bundle.inputs]
        matrix = [tuple(r[c] for c in names) for r in sample]
        try:
            whole = predict_rows(Rows(names, matrix))
            if len(whole) != len(matrix):
                return
            alone = [plain(predict_rows(Rows(names, [row]))) for row in matrix]
            sliced = [plain(whole[i:i + 1]) for i in range(len(matrix))]
        except Exception:  # noqa: BLE001 - not batchable
            return
        if alone == sliced and all(isinstance(a, list) and len(a) == 1 for a in alone):
            self.batch = predict_rows
            self.kind += ", concurrent requests batched"

    def predict(self, records, params: dict | None = None):
        """Score checked records: a list of dicts, or Rows (what run(data) gets is always the
        list of dicts)."""
        if self.bundle.scoring:
            records = as_records(records)
        if params is not None:
            if self.takes_params:
                return self._predict(records, params)
            if not self._params_noted:
                # As MLflow does for a model whose signature has no params: say so, score without.
                self._params_noted = True
                log("note: the request carries params, but %s takes none; they are ignored (noted once)"
                    % ("run(data)" if self.bundle.scoring else "the built-in %s loader" % self.bundle.flavor))
        return self._predict(records)


def _takes_two(fn) -> bool:
    """Whether fn accepts a second positional argument: run(data, params)."""
    import inspect

    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    n = 0
    for prm in sig.parameters.values():
        if prm.kind == prm.VAR_POSITIONAL:
            return True
        if prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD):
            n += 1
    return n >= 2


# --------------------------------------------------------------------------------------
# Metrics (Prometheus text exposition format 0.0.4)

class Metrics:
    BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict = {}
        self.errors: dict = {}
        self.hist: dict = {}
        self.rows = 0
        self.calls = 0
        self.inflight = 0

    def observe(self, route: str, method: str, status: int, seconds: float, error_code: str | None) -> None:
        with self.lock:
            k = (route, method, str(status))
            self.requests[k] = self.requests.get(k, 0) + 1
            if error_code:
                e = (route, error_code)
                self.errors[e] = self.errors.get(e, 0) + 1
            h = self.hist.get(route)
            if h is None:
                h = self.hist[route] = [0] * (len(self.BUCKETS) + 2)  # buckets..., count, sum
            i = bisect.bisect_left(self.BUCKETS, seconds)  # the first bucket with seconds <= bound
            if i < len(self.BUCKETS):
                h[i] += 1
            h[-2] += 1
            h[-1] += seconds

    def add_rows(self, n: int) -> None:
        with self.lock:
            self.rows += n

    def add_calls(self, n: int) -> None:
        with self.lock:
            self.calls += n

    def render(self, app: "App") -> str:
        b = app.bundle
        out = []

        def lbl(**kv) -> str:
            return "{" + ",".join('%s="%s"' % (k, _escape_label(str(v))) for k, v in kv.items()) + "}"

        with self.lock:
            out += ["# HELP gitml_requests_total HTTP requests answered, by route, method and status code.",
                    "# TYPE gitml_requests_total counter"]
            for (route, method, code), v in sorted(self.requests.items()):
                out.append("gitml_requests_total%s %d" % (lbl(route=route, method=method, code=code), v))
            out += ["# HELP gitml_request_errors_total Requests answered with an error, by route and error code.",
                    "# TYPE gitml_request_errors_total counter"]
            for (route, code), v in sorted(self.errors.items()):
                out.append("gitml_request_errors_total%s %d" % (lbl(route=route, code=code), v))
            out += ["# HELP gitml_request_duration_seconds Time from the request's headers to the end of the response, by route.",
                    "# TYPE gitml_request_duration_seconds histogram"]
            for route, h in sorted(self.hist.items()):
                cum = 0
                for i, bound in enumerate(self.BUCKETS):
                    cum += h[i]
                    out.append("gitml_request_duration_seconds_bucket%s %d" % (lbl(route=route, le=repr(bound)), cum))
                out.append("gitml_request_duration_seconds_bucket%s %d" % (lbl(route=route, le="+Inf"), h[-2]))
                out.append("gitml_request_duration_seconds_sum%s %s" % (lbl(route=route), repr(float(h[-1]))))
                out.append("gitml_request_duration_seconds_count%s %d" % (lbl(route=route), h[-2]))
            out += ["# HELP gitml_scored_rows_total Rows (records) scored successfully.",
                    "# TYPE gitml_scored_rows_total counter",
                    "gitml_scored_rows_total %d" % self.rows,
                    "# HELP gitml_model_calls_total Calls of the model's scoring function; fewer than the scoring requests when concurrent ones were batched.",
                    "# TYPE gitml_model_calls_total counter",
                    "gitml_model_calls_total %d" % self.calls,
                    "# HELP gitml_inflight_requests Requests being handled now.",
                    "# TYPE gitml_inflight_requests gauge",
                    "gitml_inflight_requests %d" % self.inflight]
        out += ["# HELP gitml_model_ready 1 when the model is loaded and scoring, else 0.",
                "# TYPE gitml_model_ready gauge",
                "gitml_model_ready%s %d" % (lbl(model=b.model, version=b.version), 1 if app.model.state == "ready" else 0),
                "# HELP gitml_model_info The model version and server runtime this process serves.",
                "# TYPE gitml_model_info gauge",
                "gitml_model_info%s 1" % lbl(model=b.model, version=b.version, flavor=b.flavor, runtime=RUNTIME_VERSION),
                "# HELP gitml_process_start_time_seconds Start time of the server since the Unix epoch.",
                "# TYPE gitml_process_start_time_seconds gauge",
                "gitml_process_start_time_seconds %s" % repr(app.started)]
        return "\n".join(out) + "\n"


def _printable(s: str, limit: int = 200) -> str:
    """A request's method or path as it may appear in a log line: no control characters."""
    s = (s or "-")[:limit]
    if s.isascii() and s.isprintable():  # the common case, checked in C
        return s
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in s)


def _escape_label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


# --------------------------------------------------------------------------------------
# Request sampling for monitoring: one JSON line per sampled scoring request.

# Sampled requests written to standard output (a sample log named "-", as pods do: their
# log is read through the Kubernetes API) start with this, among the server's other lines.
SAMPLE_LINE_PREFIX = "gitml-sample "


class Sampler:
    def __init__(self, path: str, rate: float, rng: random.Random | None = None):
        self.path = path
        self.rate = rate
        self.rng = rng or random.Random()
        self.lock = threading.Lock()
        if path == "-":
            self.file = sys.stdout
            self.prefix = SAMPLE_LINE_PREFIX
            return
        self.prefix = ""
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self.file = open(path, "a", encoding="utf-8")

    def offer(self, bundle: Bundle, route: str, records: list, outputs, ms: float) -> None:
        with self.lock:
            if self.rate < 1.0 and self.rng.random() >= self.rate:
                return
        records = as_records(records)
        # NaN and infinities (MLflow's missing values) are not JSON: logged as null.
        if any(type(v) is float and not math.isfinite(v) for r in records for v in r.values()):
            records = plain(records)
        line = self.prefix + json.dumps({
            "ts": _now_iso(),
            "model": bundle.model,
            "version": bundle.version,
            "route": route,
            "ms": round(ms, 3),
            "inputs": records,
            "outputs": outputs,
        }, separators=(",", ":")) + "\n"
        with self.lock:
            try:
                self.file.write(line)
                self.file.flush()
            except OSError as e:
                log("warning: cannot write the sample log %s: %s" % (self.path, e))

    def close(self) -> None:
        with self.lock:
            if self.file is not sys.stdout:
                self.file.close()


# --------------------------------------------------------------------------------------
# OpenAPI 3.0 description, generated from schema.json

_DOUBLE_MAX = 1.7976931348623157e308
# The value constraints the server enforces (check_value), as JSON Schema.
_VALUE_SCHEMA = {
    "double": {"type": "number", "format": "double", "minimum": -_DOUBLE_MAX, "maximum": _DOUBLE_MAX},
    "float": {"type": "number", "format": "float", "minimum": -_DOUBLE_MAX, "maximum": _DOUBLE_MAX},
    "long": {"type": "integer", "format": "int64", "minimum": INT64_MIN, "maximum": INT64_MAX},
    "integer": {"type": "integer", "format": "int32", "minimum": INT32_MIN, "maximum": INT32_MAX},
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
}
# CSV cells as _from_text reads them (an empty double cell is NaN).
_CSV_CELL = {"double": r"-?[0-9]{1,15}(\.[0-9]{1,15})?|", "float": r"-?[0-9]{1,15}(\.[0-9]{1,15})?|",
             "long": r"-?[0-9]{1,18}", "integer": r"-?[0-9]{1,9}", "string": r"[^,\r\n\"]*",
             "boolean": r"true|false|True|False|0|1"}


def _value(c: Column, missing: bool) -> dict:
    v = dict(_VALUE_SCHEMA[c.type])
    if missing and c.type in ("double", "float"):
        # MLflow's missing values: null here; the server also reads NaN, Infinity, -Infinity.
        v["nullable"] = True
        v["description"] = "null (and the non-JSON NaN, Infinity, -Infinity) is a missing or non-finite value"
    return v


def _inputs_schemas(cols: list[Column], missing: bool, sample) -> dict:
    """Record, Row and Columns for one reading of the columns (`missing`: MLflow's)."""
    names = [c.name for c in cols]
    distinct: list = []
    for c in cols:
        v = _value(c, missing)
        if v not in distinct:
            distinct.append(v)
    record = {"type": "object", "description": "One input record: every column of the model, nothing else.",
              "properties": {c.name: _value(c, missing) for c in cols}, "required": names, "additionalProperties": False}
    if sample:
        record["example"] = sample[0]
    row = {"type": "array", "description": "One input row, values in column order: %s." % ", ".join(names),
           "items": distinct[0] if len(distinct) == 1 else {"anyOf": distinct},
           "minItems": len(cols), "maxItems": len(cols)}
    columns = {"type": "object", "description": "Column-oriented input: one non-empty array of values per column, all of the same length.",
               "properties": {c.name: {"type": "array", "minItems": 1, "items": _value(c, missing)} for c in cols},
               "required": names, "additionalProperties": False}
    return {"record": record, "row": row, "columns": columns}


def csv_pattern(cols: list[Column]) -> str:
    """A regular expression for the CSV bodies /invocations takes: the header in schema order
    (after pandas' unnamed index column, or not), then rows of cells of each column's type."""
    cells = ",".join("(%s)" % _CSV_CELL[c.type] for c in cols)
    head = ",".join(re.escape(c.name) for c in cols)
    return r"^(%s\r?\n(%s\r?\n)+|,%s\r?\n([0-9]{1,9},%s\r?\n)+)$" % (head, cells, head, cells)


def openapi(bundle: Bundle) -> dict:
    cols = bundle.inputs
    names = [c.name for c in cols]
    strict = _inputs_schemas(cols, False, bundle.sample)
    lenient = _inputs_schemas(cols, True, None)
    record, row, columns = strict["record"], strict["row"], strict["columns"]
    ref = lambda n: {"$ref": "#/components/schemas/%s" % n}  # noqa: E731
    data = {"description": "Records, rows (in column order), columns, or a single record.",
            "anyOf": [{"type": "array", "items": ref("Record"), "minItems": 1},
                      {"type": "array", "items": ref("Row"), "minItems": 1},
                      ref("Columns"), ref("Record")]}
    mlflow_data = {"description": "Records, rows (in column order), columns, or a single record; double columns may be missing.",
                   "anyOf": [{"type": "array", "items": ref("MlflowRecord"), "minItems": 1},
                             {"type": "array", "items": ref("MlflowRow"), "minItems": 1},
                             ref("MlflowColumns"), ref("MlflowRecord")]}
    if bundle.scoring:
        prediction: dict = {"description": "Whatever the scoring script's run(data) returns."}
        result: dict = {"description": "Whatever the scoring script's run(data) returns (any JSON value)."}
    else:
        if len(bundle.outputs) == 1 and bundle.method == "predict":
            prediction = dict(JSON_SCHEMA_FOR_TYPE[bundle.outputs[0].type])
        else:
            prediction = {"description": "The result of %s() for one row." % bundle.method}
        result = {"type": "array", "items": ref("Prediction"), "description": "One prediction per input row, in order."}
    accepted = [t for t in V2_TYPES if all(t in V2_ACCEPTS[c.type] for c in cols)] or list(V2_TYPES)
    out_name: dict = {"type": "string", "minLength": 1}
    if not bundle.scoring:
        out_name["enum"] = [bundle.outputs[0].name if bundle.outputs else "prediction"]
    groups = ((V2_FP, {"type": "number", "minimum": -_DOUBLE_MAX, "maximum": _DOUBLE_MAX}),
              (V2_INT, {"type": "integer", "minimum": INT64_MIN, "maximum": INT64_MAX}),
              (V2_UINT, {"type": "integer", "minimum": 0, "maximum": INT64_MAX}),
              (("BOOL",), {"type": "boolean"}), (("BYTES",), {"type": "string"}))
    tensor_in = {"description": "A tensor; the data holds product(shape) values of its datatype, row-major (JSON, or binary with parameters.binary_data_size).",
                 "anyOf": [{"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
                     "name": {"type": "string", "minLength": 1, "description": "A column name (one tensor per column, shape [N] or [N, 1]) or any name for one [N, %d] tensor." % len(cols)},
                     "shape": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "minimum": 1}},
                     "datatype": {"type": "string", "enum": [t for t in types if t in accepted]},
                     "parameters": {"type": "object"},
                     "data": {"type": "array", "minItems": 1, "items": item}}}
                     for types, item in groups if any(t in accepted for t in types)]}
    tensor_out = {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {"type": "string", "enum": list(V2_TYPES)},
        "parameters": {"type": "object"},
        "data": {"type": "array"}}}
    tensor_meta = {"type": "object", "required": ["name", "datatype", "shape"], "properties": {
        "name": {"type": "string"}, "datatype": {"type": "string", "enum": list(V2_TYPES)},
        "shape": {"type": "array", "items": {"type": "integer"}}}}
    schemas = {
        "Record": record,
        "Row": row,
        "Columns": columns,
        "Data": data,
        "Prediction": prediction,
        "Result": result,
        "ScoreRequest": {"description": "Azure ML style: {\"data\": ...} or a bare list of records or rows.",
                         "anyOf": [{"type": "object", "properties": {"data": ref("Data")}, "required": ["data"], "additionalProperties": False},
                                   {"type": "array", "items": ref("Record"), "minItems": 1},
                                   {"type": "array", "items": ref("Row"), "minItems": 1}]},
        "ScoreResponse": {"type": "object", "properties": {"result": ref("Result")}, "required": ["result"]},
        "MlflowRecord": lenient["record"],
        "MlflowRow": lenient["row"],
        "MlflowColumns": lenient["columns"],
        "MlflowData": mlflow_data,
        "MlflowParams": {"type": "object", "description": "Inference parameters (MLflow 2.6+): passed to run(data, params) when the scoring script takes them, else ignored."},
        "MlflowRequest": {"description": "MLflow scoring protocol: exactly one of the four input fields, and optional params.", "oneOf": [
            {"type": "object", "required": ["dataframe_split"], "additionalProperties": False, "properties": {
                "params": ref("MlflowParams"),
                "dataframe_split": {"type": "object", "required": ["data"], "additionalProperties": False, "properties": {
                    "columns": {"type": "array", "items": {"type": "string", "enum": names}, "uniqueItems": True,
                                "minItems": len(names), "maxItems": len(names),
                                "description": "Every column, in the order of the values in each row."},
                    "index": {"type": "array"},
                    "data": {"type": "array", "minItems": 1, "items": ref("MlflowRow")}}}}},
            {"type": "object", "required": ["dataframe_records"], "additionalProperties": False, "properties": {
                "params": ref("MlflowParams"),
                "dataframe_records": {"type": "array", "minItems": 1, "items": ref("MlflowRecord")}}},
            {"type": "object", "required": ["instances"], "additionalProperties": False, "properties": {"params": ref("MlflowParams"), "instances": ref("MlflowData")}},
            {"type": "object", "required": ["inputs"], "additionalProperties": False, "properties": {"params": ref("MlflowParams"), "inputs": ref("MlflowData")}}]},
        "MlflowResponse": {"type": "object", "properties": {"predictions": ref("Result")}, "required": ["predictions"]},
        "InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean", "description": "All outputs as binary tensor data."}}},
            "inputs": {"type": "array", "minItems": 1, "maxItems": len(cols), "items": ref("RequestInput"),
                       "description": "One [N, %d] tensor (columns in schema order), or one [N] or [N, 1] tensor per column, named after it; the data holds N values per column." % len(cols)},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {
                "name": out_name, "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}}}}}}},
        "RequestInput": tensor_in,
        "InferenceResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {
            "model_name": {"type": "string"}, "model_version": {"type": "string"}, "id": {"type": "string"},
            "parameters": {"type": "object"}, "outputs": {"type": "array", "items": ref("ResponseOutput")}}},
        "ResponseOutput": tensor_out,
        "TensorMetadata": tensor_meta,
        "ModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"], "properties": {
            "name": {"type": "string"}, "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": ref("TensorMetadata")},
            "outputs": {"type": "array", "items": ref("TensorMetadata")}}},
        "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"], "properties": {
            "name": {"type": "string"}, "version": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}}}},
        "Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
        "Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
        "ModelReady": {"type": "object", "required": ["name", "ready"], "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}}},
        "Index": {"type": "object", "required": ["name", "version", "model", "model_version", "ready", "routes"], "properties": {
            "name": {"type": "string"}, "version": {"type": "string"}, "model": {"type": "string"},
            "model_version": {"type": "string"}, "flavor": {"type": "string"}, "ready": {"type": "boolean"},
            "state": {"type": "string", "enum": ["loading", "ready", "failed"]},
            "error": {"type": "string", "description": "Why the model failed to load (state failed)."},
            "routes": {"type": "array", "items": {"type": "string"}}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message"], "additionalProperties": False, "properties": {
                "code": {"type": "string", "description": "Stable error code, e.g. WRONG_TYPE, MISSING_COLUMN, BAD_JSON."},
                "message": {"type": "string"}}}}},
        "V2Error": {"type": "object", "required": ["error"], "description": "Open Inference Protocol error: a message string, plus gitml's stable code.",
                    "properties": {"error": {"type": "string"}, "code": {"type": "string"}}},
    }

    def resp(desc: str, schema_name: str | None, ctype: str = "application/json") -> dict:
        r: dict = {"description": desc}
        if schema_name:
            r["content"] = {ctype: {"schema": ref(schema_name)}}
        return r

    def errors(err: str, *codes: str) -> dict:
        texts = {"400": "Invalid input (malformed JSON, wrong shape, missing or unknown column, wrong type).",
                 "404": "Unknown model or version.",
                 "413": "Request body larger than the server's limit.",
                 "415": "A content type (or a charset other than UTF-8) this route does not take.",
                 "500": "The model or scoring script raised an error.",
                 "503": "The model is not loaded (still loading, or init() failed)."}
        return {c: resp(texts[c], err) for c in codes}

    example_records = bundle.sample[:2] if bundle.sample else None
    score_body = {"required": True, "content": {"application/json": {"schema": ref("ScoreRequest")}}}
    if example_records:
        score_body["content"]["application/json"]["example"] = {"data": example_records}
    paths: dict = {
        "/": {"get": {"operationId": "index", "summary": "Server and model summary with the list of routes.",
                      "responses": {"200": resp("Summary.", "Index")}}},
        "/score": {"post": {"operationId": "score", "summary": "Score records (Azure ML style).",
                            "requestBody": score_body,
                            "responses": dict({"200": resp("Predictions.", "ScoreResponse")}, **errors("Error", "400", "413", "415", "500", "503"))}},
        "/invocations": {"post": {"operationId": "invocations", "summary": "Score with MLflow's scoring protocol.",
                                  "requestBody": {"required": True, "content": {
                                      "application/json": {"schema": ref("MlflowRequest")},
                                      "text/csv": {"schema": {"type": "string", "pattern": csv_pattern(cols),
                                                              "description": "A header row of column names (after the unnamed index column pandas writes, or not), then one row per record; an empty double cell is a missing value."}}}},
                                  "responses": dict({"200": resp("Predictions.", "MlflowResponse")}, **errors("Error", "400", "413", "415", "500", "503"))}},
        "/ping": {"get": {"operationId": "ping", "summary": "MLflow-style health check: 200 when the model is ready.",
                          "responses": {"200": resp("Ready.", "Ready"), "503": resp("Not ready.", "Ready")}}},
        "/health": {"get": {"operationId": "health", "summary": "Same as /ping (MLflow serves both).",
                            "responses": {"200": resp("Ready.", "Ready"), "503": resp("Not ready.", "Ready")}}},
        "/version": {"get": {"operationId": "version", "summary": "The server runtime version, as plain text (MLflow clients call it).",
                             "responses": {"200": {"description": "Version.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/v2": {"get": {"operationId": "serverMetadata", "summary": "Open Inference Protocol server metadata.",
                        "responses": {"200": resp("Server metadata.", "ServerMetadata")}}},
        "/v2/health/live": {"get": {"operationId": "serverLive", "summary": "Liveness: 200 while the process serves HTTP.",
                                    "responses": {"200": resp("Live.", "Live")}}},
        "/v2/health/ready": {"get": {"operationId": "serverReady", "summary": "Readiness: 200 once the model is loaded.",
                                     "responses": {"200": resp("Ready.", "Ready"), "503": resp("Not ready.", "Ready")}}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics (text format 0.0.4).",
                             "responses": {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document.",
                                  "responses": {"200": {"description": "OpenAPI 3.0 document.", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    }
    model_param = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string", "enum": [bundle.model]}}
    version_param = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string", "enum": [bundle.version]}}
    for prefix, params, suffix in (("/v2/models/{model_name}", [model_param], ""),
                                   ("/v2/models/{model_name}/versions/{model_version}", [model_param, version_param], "Version")):
        infer_body: dict = {"required": True, "content": {"application/json": {"schema": ref("InferenceRequest")}}}
        paths[prefix] = {"get": {"operationId": "modelMetadata" + suffix, "summary": "Model metadata: inputs and outputs as tensors.",
                                 "parameters": params,
                                 "responses": dict({"200": resp("Metadata.", "ModelMetadata")}, **errors("V2Error", "404"))}}
        paths[prefix + "/ready"] = {"get": {"operationId": "modelReady" + suffix, "summary": "Model readiness.",
                                            "parameters": params,
                                            "responses": dict({"200": resp("Ready.", "ModelReady"), "503": resp("Not ready.", "ModelReady")}, **errors("V2Error", "404"))}}
        paths[prefix + "/infer"] = {"post": {"operationId": "modelInfer" + suffix, "summary": "Inference with tensors (Open Inference Protocol v2).",
                                             "parameters": params, "requestBody": infer_body,
                                             "responses": dict({"200": {"description": "Output tensors: JSON, or with binary outputs the JSON header (Inference-Header-Content-Length bytes) and the raw tensors.",
                                                                                "content": {"application/json": {"schema": ref("InferenceResponse")},
                                                                                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}},
                                                                  **errors("V2Error", "400", "404", "413", "500", "503"))}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "%s scoring API" % bundle.model, "version": bundle.version,
                 "description": "Model %s %s (%s) served by %s %s. Inputs: %s." % (
                     bundle.model, bundle.version, bundle.flavor, RUNTIME_NAME, RUNTIME_VERSION,
                     ", ".join("%s (%s)" % (c.name, c.type) for c in cols))},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas},
    }


# --------------------------------------------------------------------------------------
# The application: routes over the model

def _scoring_failed(bundle: Bundle, route: str, e: BaseException) -> RequestError:
    what = "run()" if bundle.scoring else "%s()" % bundle.method
    log("error: %s raised on %s\n%s" % (what, route, traceback.format_exc().rstrip()))
    return RequestError(500, "SCORING_FAILED", "%s raised %s: %s" % (what, type(e).__name__, e))


def _content_type(req, supported: tuple) -> str:
    """The request's media type if the route supports it (no Content-Type reads as the first),
    else 415 listing the supported ones; a charset other than UTF-8 is refused with 415 too, as
    MLflow's scoring server refuses it."""
    raw = req.headers.get("Content-Type")
    if raw is None or not raw.strip():
        return supported[0]
    parts = raw.split(";")
    mtype = parts[0].strip().lower()
    if mtype not in supported:
        raise RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "content type %r is not supported here; send one of %s" % (_printable(mtype, 80), ", ".join(supported)))
    for prm in parts[1:]:
        k, _, v = prm.partition("=")
        if k.strip().lower() == "charset" and v.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise RequestError(415, "UNSUPPORTED_CHARSET", "charset %r is not supported; send UTF-8" % _printable(v.strip(), 40))
    return mtype


class _Job:
    """One request's scoring call: its checked rows and params, and once scored its raw result
    or the exception the model raised; `owner` is the connection waiting for it."""
    __slots__ = ("rows", "params", "result", "error", "owner")

    def __init__(self, rows, params):
        self.rows = rows
        self.params = params
        self.result = None
        self.error = None
        self.owner = None


class Scorer:
    """Runs the model's calls on --workers threads, so that the event loop keeps reading,
    answering and timing out connections while a call runs. The requests read in one turn of
    the loop go to the workers together, and a worker that finds several waiting scores them
    in one call of the estimator when the model scores rows independently (Model.batch;
    scikit-learn's checks cost about 0.1 ms a call, whatever the rows), as Triton's and Ray
    Serve's batching do, without waiting for a batch to fill. Each request gets its own rows'
    answers; if a batch fails (one request's values refused, say), each of its requests is
    scored alone, so errors stay those of the request. Answers go back to the loop in one
    wake-up per call.

    A short call of the built-in loader (expected under INLINE_SECONDS from the calls so far:
    their mean time, scaled by rows) is made on the loop itself when no worker is scoring:
    handing it to a thread and back costs more than the call (two wake-ups, and the
    interpreter lock passed back and forth), and the loop would wait for the model anyway. A
    longer one, the first ones (nothing is known of the model's speed yet) and every call of a
    scoring script go to the workers, so that the loop keeps answering health probes and
    timing out slow clients while they run."""

    INLINE_SECONDS = 0.002

    def __init__(self, model: "Model", metrics: "Metrics", workers: int, loop, done) -> None:
        self.model = model
        self.metrics = metrics
        self.loop = loop
        self.done = done  # called on the loop with each scored list of jobs
        self.cond = threading.Condition(threading.Lock())
        self.queue: list = []  # jobs for the workers
        self.turn: list = []  # jobs submitted in this turn of the loop
        self.deferred = False
        self.handed = 0  # jobs given to the workers and not back yet (on the loop)
        self.call_seconds = math.inf  # a call's time and rows, smoothed (inf: none made yet)
        self.call_rows = 1.0
        self.inline = workers == 1  # with more, the calls run on the threads, as asked
        self.threads = [threading.Thread(target=self._work, name="scorer-%d" % i, daemon=True) for i in range(workers)]
        for t in self.threads:
            t.start()

    def submit(self, job: _Job) -> None:
        """On the loop: queue a job; the jobs of this turn and the next reach the model
        together, at the end of the next turn."""
        if not self.turn:
            self.loop.call_soon(self._hand_over)
        self.turn.append(job)

    def _hand_over(self) -> None:
        if not self.deferred:
            # One more turn of the loop first: the requests that arrived while this turn was
            # read join the call (a look at the sockets without waiting costs a few
            # microseconds; a call saved costs about 0.1 ms).
            self.deferred = True
            self.loop.call_soon(self._hand_over)
            return
        self.deferred = False
        jobs, self.turn = self.turn, []
        if self.inline and not self.handed and self.model.batch is not None:
            rows = sum(len(j.rows) for j in jobs)
            if self.call_seconds * max(1.0, rows / self.call_rows) < self.INLINE_SECONDS:
                self._score(jobs, rows)
                self.done(jobs)
                return
        self.handed += len(jobs)
        with self.cond:
            self.queue.extend(jobs)
            self.cond.notify(len(jobs))

    def returned(self, batch: list) -> None:
        """On the loop: a worker's call is done."""
        self.handed -= len(batch)
        self.done(batch)

    def _score(self, batch: list, rows: int) -> None:
        t0 = time.perf_counter()
        try:
            self._answer(batch)
        except BaseException as e:  # noqa: BLE001 - no request may wait for ever
            for j in batch:
                if j.result is None and j.error is None:
                    j.error = e
        if rows:
            seconds = time.perf_counter() - t0
            if self.call_seconds == math.inf:
                self.call_seconds, self.call_rows = seconds, float(rows)
            else:
                self.call_seconds = 0.8 * self.call_seconds + 0.2 * seconds
                self.call_rows = 0.8 * self.call_rows + 0.2 * rows

    def _work(self) -> None:
        while True:
            with self.cond:
                while not self.queue:
                    self.cond.wait()
                if self.model.batch is not None:
                    batch, self.queue = self.queue, []
                else:  # one call at a time per worker: --workers calls of run() at once
                    batch = [self.queue.pop(0)]
            self._score(batch, sum(len(j.rows) for j in batch) if self.model.batch is not None else 0)
            try:
                self.loop.call_soon_threadsafe(self.returned, batch)
            except RuntimeError:  # the loop has ended (a call that outlived the shutdown's grace)
                return

    def _answer(self, batch: list) -> None:
        together = [j for j in batch if j.params is None and type(j.rows) is Rows] if self.model.batch is not None else []
        out = None
        if len(together) > 1:
            self.metrics.add_calls(1)
            first = together[0].rows
            try:
                out = self.model.batch(Rows(first.names, list(_chain(j.rows.matrix for j in together))))
                if len(out) != sum(len(j.rows) for j in together):
                    out = None
            except Exception:  # noqa: BLE001 - each request alone says whose fault it is
                out = None
        if out is not None:
            at = 0
            for j in together:
                n = len(j.rows)
                j.result = out[at:at + n]
                at += n
        for j in batch:
            if j.result is None:
                self.metrics.add_calls(1)
                try:
                    j.result = self.model.predict(j.rows, j.params)
                except Exception as e:  # noqa: BLE001 - answered on the request's connection
                    j.error = e
                except BaseException as e:  # noqa: BLE001 - sys.exit() in run() ends the call, not the server
                    j.error = RuntimeError("%s%s" % (type(e).__name__, ": %s" % e if str(e) else ""))
                    j.error.__cause__ = e  # the log's traceback shows where run() raised it


class Route:
    __slots__ = ("label", "methods", "params")

    def __init__(self, label: str, methods: dict, params: dict | None = None):
        self.label = label
        self.methods = methods
        self.params = params or {}


class App:
    def __init__(self, bundle: Bundle, workers: int, max_body_bytes: int, timeout: float,
                 sampler: Sampler | None, model: Model | None = None):
        self.bundle = bundle
        self.model = model or Model(bundle)
        self.metrics = Metrics()
        self.workers = workers  # threads of the Scorer: model calls that may run at once
        self.max_body_bytes = max_body_bytes
        self.timeout = timeout
        self.sampler = sampler
        self.stopping = False
        self.started = time.time()
        self._openapi: bytes | None = None
        self.v2_inputs_meta = [{"name": c.name, "datatype": V2_FOR_TYPE[c.type], "shape": [-1]} for c in bundle.inputs]
        self.v2_outputs_meta = [{"name": c.name, "datatype": V2_FOR_TYPE[c.type], "shape": [-1]} for c in bundle.outputs]
        # The fixed routes, made once: route() runs for every request.
        self._fixed = {
            "/": Route("/", {"GET": self.h_index}),
            "/score": Route("/score", {"POST": self.h_score}),
            "/invocations": Route("/invocations", {"POST": self.h_invocations}),
            "/ping": Route("/ping", {"GET": self.h_ping}),
            "/health": Route("/ping", {"GET": self.h_ping}),
            "/version": Route("/version", {"GET": self.h_version}),
            "/v2": Route("/v2", {"GET": self.h_v2}),
            "/v2/health/live": Route("/v2/health/live", {"GET": self.h_live}),
            "/v2/health/ready": Route("/v2/health/ready", {"GET": self.h_ready}),
            "/metrics": Route("/metrics", {"GET": self.h_metrics}),
            "/openapi.json": Route("/openapi.json", {"GET": self.h_openapi}),
        }

    # ---- routing
    def route(self, path: str) -> Route | None:
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        fixed = self._fixed.get(path)
        if fixed:
            return fixed
        if not path.startswith("/v2/models/"):
            return None
        # {model}[/versions/{version}][/ready|/infer]; anything else (…/config, …/stats) is no
        # route of this server, whichever model it names.
        seg = path[len("/v2/models/"):].split("/")
        action = ""
        if len(seg) in (2, 4) and seg[-1] in ("infer", "ready"):
            action = "/" + seg.pop()
        version = None
        if len(seg) == 3 and seg[1] == "versions":
            version = seg[2]
            seg = seg[:1]
        if len(seg) != 1 or not seg[0] or version == "":
            return None
        rest = seg[0]
        params = {"model": urllib.parse.unquote(rest), "version": urllib.parse.unquote(version) if version is not None else None}
        label = "/v2/models/{model}" + ("/versions/{version}" if version is not None else "") + action
        if action == "/infer":
            return Route(label, {"POST": self.h_infer}, params)
        if action == "/ready":
            return Route(label, {"GET": self.h_model_ready}, params)
        return Route(label, {"GET": self.h_model_meta}, params)

    def routes_list(self) -> list:
        m = self.bundle.model
        return ["GET /", "POST /score", "POST /invocations", "GET /ping", "GET /v2", "GET /v2/health/live",
                "GET /v2/health/ready", "GET /v2/models/%s" % m, "GET /v2/models/%s/ready" % m,
                "POST /v2/models/%s/infer" % m, "GET /health", "GET /version", "GET /metrics", "GET /openapi.json"]

    # ---- helpers
    def _check_model(self, params: dict) -> None:
        if params["model"] != self.bundle.model:
            raise RequestError(404, "MODEL_NOT_FOUND", "unknown model %r; this server serves %r" % (params["model"], self.bundle.model))
        v = params.get("version")
        if v is not None and v != self.bundle.version and "v" + v != self.bundle.version:
            raise RequestError(404, "MODEL_NOT_FOUND", "unknown version %r of model %r; this server serves %s" % (v, self.bundle.model, self.bundle.version))

    def _require_ready(self) -> None:
        st = self.model.state
        if st == "loading":
            raise RequestError(503, "MODEL_NOT_READY", "the model is still loading; retry shortly", {"Retry-After": "1"})
        if st != "ready":
            raise RequestError(503, "MODEL_NOT_READY", "the model failed to load: %s" % self.model.error)

    def score(self, route: str, records, params: dict | None = None):
        """A generator, used with `yield from` in a handler: yields the request's _Job to the
        server, which hands it to the Scorer and sends back the model's raw result (or throws
        the model's exception in); returns the result as plain JSON values."""
        self._require_ready()
        t0 = time.perf_counter()
        try:
            raw = yield _Job(records, params)
        except ValueError as e:
            if self.bundle.scoring:
                raise _scoring_failed(self.bundle, route, e)
            # scikit-learn's input checks raise ValueError (NaN or infinity for an estimator
            # that takes none, an unseen category): the request's fault, 400 as MLflow answers.
            raise RequestError(400, "MODEL_REJECTED_INPUT", "the model refuses this input: %s" % e)
        except Exception as e:  # noqa: BLE001 - the user's code; report it, stay up
            raise _scoring_failed(self.bundle, route, e)
        try:
            result = plain(raw)
        except (TypeError, RecursionError) as e:
            raise RequestError(500, "BAD_RESULT", "the model's result cannot be sent as JSON: %s" % e)
        self.metrics.add_rows(len(records))
        if self.sampler:
            self.sampler.offer(self.bundle, route, records, result, (time.perf_counter() - t0) * 1000)
        return result

    # ---- handlers: (request, params) -> (status, body object or bytes, content type)
    def h_index(self, req, p):
        b = self.bundle
        return 200, {"name": RUNTIME_NAME, "version": RUNTIME_VERSION, "model": b.model, "model_version": b.version,
                     "flavor": b.flavor, "ready": self.model.state == "ready", "state": self.model.state,
                     **({"error": self.model.error} if self.model.state == "failed" else {}),
                     "routes": self.routes_list()}

    def h_score(self, req, p):
        body = req.read_body()
        _content_type(req, ("application/json",))
        self._require_ready()  # before validation: a model that is down is the news
        records = score_inputs(parse_json(body), self.bundle.inputs)
        return 200, {"result": (yield from self.score("/score", records))}

    def h_invocations(self, req, p):
        body = req.read_body()
        ctype = _content_type(req, ("application/json", "text/csv"))
        self._require_ready()
        params = None
        if ctype == "text/csv":
            records = parse_csv(body, self.bundle.inputs)
        else:
            obj = parse_json(body, constants=True)
            records = mlflow_inputs(obj, self.bundle.inputs)
            params = mlflow_params(obj)
        return 200, {"predictions": (yield from self.score("/invocations", records, params))}

    def h_version(self, req, p):
        # MLflow's scoring server answers its version as plain text; so does this one.
        return 200, RUNTIME_VERSION.encode("ascii"), "text/plain; charset=utf-8"

    def h_ping(self, req, p):
        ready = self.model.state == "ready"
        return (200 if ready else 503), {"ready": ready}

    def h_v2(self, req, p):
        return 200, {"name": RUNTIME_NAME, "version": RUNTIME_VERSION, "extensions": [BINARY_EXTENSION]}

    def h_live(self, req, p):
        return 200, {"live": True}

    def h_ready(self, req, p):
        ready = self.model.state == "ready"
        return (200 if ready else 503), {"ready": ready}

    def h_model_meta(self, req, p):
        self._check_model(p)
        b = self.bundle
        return 200, {"name": b.model, "versions": [b.version], "platform": b.flavor,
                     "inputs": self.v2_inputs_meta, "outputs": self.v2_outputs_meta}

    def h_model_ready(self, req, p):
        self._check_model(p)
        ready = self.model.state == "ready"
        return (200 if ready else 503), {"name": self.bundle.model, "ready": ready}

    def h_infer(self, req, p):
        self._check_model(p)
        raw = req.read_body()
        head, binary = split_binary(raw, req.headers.get("Inference-Header-Content-Length"))
        self._require_ready()
        body = parse_json(head)
        attach_binary(body, binary)
        records = v2_inputs(body, self.bundle.inputs)
        wanted = None
        if isinstance(body, dict) and body.get("outputs") is not None:
            outs = body["outputs"]
            if not isinstance(outs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str) for o in outs):
                raise RequestError(400, "BAD_REQUEST", "outputs: expected a list of {\"name\": ...}")
            wanted = [o["name"] for o in outs]
        result = yield from self.score("/v2/models/{model}/infer", records)
        tensors = v2_outputs(result, len(records), self.bundle.outputs)
        if wanted is not None:
            have = {t["name"]: t for t in tensors}
            missing = [n for n in wanted if n not in have]
            if missing:
                raise RequestError(400, "UNKNOWN_OUTPUT", "unknown output %r; the model returns %s" % (missing[0], ", ".join(have)))
            tensors = [dict(have[n]) for n in wanted]  # one output asked for twice is two tensors
        resp = {"model_name": self.bundle.model, "model_version": self.bundle.version, "outputs": tensors}
        if isinstance(body.get("id"), str):
            resp["id"] = body["id"]
        # Binary outputs: those requested with binary_data, else all when binary_data_output.
        by_request = {o["name"]: _flag(o, "binary_data") for o in body.get("outputs") or []}
        everything = _flag(body, "binary_data_output") is True
        chunks = []
        for t in tensors:
            flag = by_request.get(t["name"])
            if flag is True or (flag is None and everything):
                chunks.append(encode_binary(t))
        if not chunks:
            return 200, resp
        head = json.dumps(resp, separators=(",", ":")).encode("utf-8")
        return 200, head + b"".join(chunks), "application/octet-stream", {"Inference-Header-Content-Length": str(len(head))}

    def h_metrics(self, req, p):
        return 200, self.metrics.render(self).encode("utf-8"), "text/plain; version=0.0.4; charset=utf-8"

    def h_openapi(self, req, p):
        if self._openapi is None:
            self._openapi = json.dumps(openapi(self.bundle), indent=1).encode("utf-8")
        return 200, self._openapi, "application/json"


# --------------------------------------------------------------------------------------
# HTTP

_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
            411: "Length Required", 413: "Payload Too Large", 415: "Unsupported Media Type", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable", 505: "HTTP Version Not Supported"}
_STATUS_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 408: "REQUEST_TIMEOUT",
                 413: "PAYLOAD_TOO_LARGE", 414: "URI_TOO_LONG", 431: "HEADERS_TOO_LARGE", 501: "NOT_IMPLEMENTED",
                 505: "HTTP_VERSION_NOT_SUPPORTED"}


_DIGITS = re.compile(r"[0-9]{1,19}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")

# Label values of /metrics come from this closed set, never from what a client sent: 2,000
# made-up methods must not make 2,000 series.
_KNOWN_METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"))


def _method_label(method) -> str:
    if not method or method == "-":
        return "-"
    return method if method in _KNOWN_METHODS else "other"


def _is_v2(raw_path: str) -> bool:
    path = urllib.parse.urlsplit(raw_path).path if raw_path else ""
    return path == "/v2" or path.startswith("/v2/")


class Headers:
    """The header fields of a request by lower-case name (parse_fields), as the handlers read
    them: the first value of a field, or all of its values."""
    __slots__ = ("_fields",)

    def __init__(self, fields: dict):
        self._fields = fields

    def get(self, name: str, default=None):
        v = self._fields.get(name.lower())
        return v[0] if v else default

    def get_all(self, name: str, default=None):
        v = self._fields.get(name.lower())
        return list(v) if v else default


# Lines of field-name ":" OWS field-value OWS (RFC 9112 section 5): a name is a token, and a
# value holds no CR or LF (a bare CR is refused, and so is obs-fold: a line that is no field).
_FIELD_LINES = re.compile(rb"(?:[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r?\n)*")
_HEAD_END = re.compile(rb"\n\r?\n")
_MAX_LINE = 65536
_MAX_HEADERS = 100
_MAX_CHUNK_LINE = 1026
# While a request is handled, what the client sends next (pipelined requests) waits in the
# connection's buffer; past this much the connection stops reading until it is its turn.
_MAX_BUFFERED = 1024 * 1024
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HeaderError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def parse_fields(block: bytes) -> Headers:
    """The header fields of a header block (its lines, each with its "\\n", without the empty
    line that ends it). 431 for a line over 64 KiB or more than 100 fields (as http.server);
    400 for a line that is no field, obs-fold included (RFC 9112 5.2: a server rejects it)."""
    fields: dict = {}
    if not block:
        return Headers(fields)
    lines = block.split(b"\n")
    lines.pop()  # after the last "\n"
    if len(lines) > _MAX_HEADERS:
        raise HeaderError(431, "Too many headers")
    if max(map(len, lines)) > _MAX_LINE:
        raise HeaderError(431, "Line too long")
    if _FIELD_LINES.fullmatch(block) is None:
        raise HeaderError(400, "Bad header line")
    for line in lines:
        name, _, value = line.partition(b":")
        name = name.lower().decode("ascii")
        value = value.strip(b" \t\r").decode("iso-8859-1")
        have = fields.get(name)
        if have is None:
            fields[name] = [value]
        else:
            have.append(value)
    return Headers(fields)


def parse_request_line(line: bytes) -> tuple:
    """(method, target, version, keep_alive) of a request line, as http.server reads it;
    HeaderError for what it refuses. An empty line gives None (the connection just closes)."""
    words = line.decode("iso-8859-1").rstrip("\r").split()
    if not words:
        return None
    version = "HTTP/0.9"
    keep_alive = False
    if len(words) >= 3:
        version = words[-1]
        try:
            if not version.startswith("HTTP/"):
                raise ValueError
            number = version.split("/", 1)[1].split(".")
            if len(number) != 2 or not all(x.isascii() and x.isdigit() and len(x) <= 10 for x in number):
                raise ValueError
            major, minor = int(number[0]), int(number[1])
        except (ValueError, IndexError):
            raise HeaderError(400, "Bad request version (%r)" % version)
        if major >= 2:
            raise HeaderError(505, "Invalid HTTP version (%s)" % version.split("/", 1)[1])
        keep_alive = (major, minor) >= (1, 1)
    if not 2 <= len(words) <= 3:
        raise HeaderError(400, "Bad request syntax (%r)" % " ".join(words))
    method, target = words[0], words[1]
    if len(words) == 2 and method != "GET":
        raise HeaderError(400, "Bad HTTP/0.9 request type (%r)" % method)
    if target.startswith("//"):
        target = "/" + target.lstrip("/")
    return method, target, version, keep_alive


def _target_path(target: str) -> str:
    """The path of a request target (origin form "/p?q" by hand: it is nearly every request)."""
    if target.startswith("/") and "#" not in target:
        return target.partition("?")[0]
    return urllib.parse.urlsplit(target).path or "/"


class Request:
    """What a handler reads of a request: method, path, headers and the whole body."""
    __slots__ = ("command", "path", "version", "headers", "body")

    def __init__(self, command: str, path: str, version: str, headers: Headers):
        self.command = command
        self.path = path
        self.version = version
        self.headers = headers
        self.body = b""

    def read_body(self) -> bytes:
        return self.body


_QUIET_ROUTES = frozenset(("/ping", "/v2/health/live", "/v2/health/ready"))
_SERVER_HEADER = "Server: %s/%s\r\n" % (RUNTIME_NAME, RUNTIME_VERSION)
_date_cache = [-1, ""]
_STATUS_LINES: dict = {}  # status -> its status line and the Server field


def _date_header() -> str:
    # The Date header, formatted once a second (it is sent with every answer).
    sec = int(time.time())
    if _date_cache[0] != sec:
        import email.utils

        _date_cache[1] = "Date: %s\r\n" % email.utils.formatdate(sec, usegmt=True)
        _date_cache[0] = sec
    return _date_cache[1]


class Connection(asyncio.Protocol):
    """One client connection: HTTP/1.1 read from the event loop's buffer, requests answered
    in order. phase is "wait" (no complete request head yet: idle keep-alive, or headers
    arriving), "body" (reading a body), "busy" (handled: scoring or answering) or "linger"
    (a refused body is read and thrown away); only "wait" and "body" connections may be
    closed as slow (Server.service)."""

    def __init__(self, server: "Server") -> None:
        self.server = server
        self.app = server.app
        self.transport = None
        self.buf = bytearray()
        self.scan = 0  # where the search for the end of the head goes on
        self.lines = 0  # line ends before scan
        self.phase = "wait"
        self.since = time.monotonic()
        self.counted = False  # in Server.conns (not refused at the connection limit)
        self.paused = False  # reading paused: pipelined requests wait for their turn
        self.blocked = False  # the client does not read its answers fast enough (pause_writing)
        self.evicted = False
        self.served = 0
        self.linger_bytes = 0  # thrown away after a refused body
        self.req: Request | None = None
        self._reset_request()

    def _reset_request(self) -> None:
        self.req = None
        self.t0 = 0.0
        self.close_after = False
        self.route_label = "unmatched"
        self.path = None
        self.handler = None
        self.params = None
        self.need = -1  # body bytes still to come with a Content-Length; -2 chunked
        self.chunks: list = []
        self.chunk_total = 0
        self.chunk_state = "size"
        self.chunk_left = 0
        self.trailers = 0
        self.gen = None
        self.inflight = False

    def _set_phase(self, phase: str) -> None:
        self.phase = phase
        self.since = time.monotonic()

    # ---- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.server.open += 1
        if not self.server.admit(self):
            return
        self.counted = True

    def _uncount(self) -> None:
        # Out of Server.conns as soon as it is closing: the connection limit counts the
        # connections that can still be served, and a victim closed in this turn is none.
        if self.counted:
            self.counted = False
            self.server.conns.pop(self, None)

    def _close(self) -> None:
        self.phase = "closed"
        self._uncount()
        self.transport.close()

    def connection_lost(self, exc) -> None:
        self.phase = "closed"
        self.server.open -= 1
        if self.inflight and self.gen is None:  # lost while its head or body arrived
            self.inflight = False
            self.app.metrics.inflight -= 1
        self._uncount()

    def pause_writing(self) -> None:
        # The answers not yet taken by the client passed the transport's high-water mark: read
        # no more requests until they drain (a client pipelining requests without reading the
        # answers would otherwise fill the server's memory).
        self.blocked = True
        if not self.paused and self.phase != "closed":
            self.paused = True
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.blocked = False
        if self.phase == "wait":
            if self.paused:
                self.paused = False
                self.transport.resume_reading()
            if self.buf:
                self._next()

    def data_received(self, data: bytes) -> None:
        phase = self.phase
        if phase == "linger":
            self.linger_bytes += len(data)
            if self.linger_bytes > 128 * 1024 * 1024:
                self._close()
            return
        if phase == "closed" or self.evicted:
            return
        self.buf += data
        if phase == "busy" or self.blocked:
            if len(self.buf) > _MAX_BUFFERED and not self.paused:
                self.paused = True
                self.transport.pause_reading()
            return
        try:
            self._advance_input()
        except Exception:  # noqa: BLE001 - never let one connection take the server down
            log("error: unexpected failure reading a request\n%s" % traceback.format_exc().rstrip())
            self._respond(RequestError(500, "INTERNAL", "internal server error"), close=True)

    def eof_received(self):
        if self.phase == "body":
            self._respond(RequestError(400, "BAD_REQUEST", "the connection closed before the whole body arrived"), close=True)
        elif self.phase == "busy":
            self.close_after = True
        else:
            self._close()
        return True  # a busy connection still gets its answer (half-close), then closes

    # ---- reading
    def _advance_input(self) -> None:
        """Go on with what the buffer holds: heads, bodies, requests, until it needs more (or
        until the client reads the answers it has)."""
        while self.phase in ("wait", "body") and not self.evicted and not self.blocked:
            if self.phase == "wait":
                if not self._read_head():
                    return
            elif not self._read_body():
                return

    def _read_head(self) -> bool:
        buf = self.buf
        if not buf:
            return False
        nl = buf.find(b"\n", 0, _MAX_LINE + 2)
        if nl < 0:
            if len(buf) > _MAX_LINE:
                self._refuse(414, "Request-URI Too Long")
            return False
        m = _HEAD_END.search(buf, max(nl, self.scan - 2))
        if m is None:
            # Bound what a client may send before its head ends (lines, line length), as the
            # checks of the whole head would, without searching the buffer again from the start.
            self.lines += buf.count(b"\n", self.scan)
            self.scan = len(buf)
            if len(buf) - buf.rfind(b"\n") - 1 > _MAX_LINE:
                self._refuse(431, "Line too long")
            elif self.lines > _MAX_HEADERS + 1:
                self._refuse(431, "Too many headers")
            return False
        head = bytes(buf[:m.start() + 1])
        del buf[:m.end()]
        self.scan = 0
        self.lines = 0
        self.t0 = time.perf_counter()
        self.close_after = True
        if nl > _MAX_LINE:
            self._refuse(414, "Request-URI Too Long")
            return False
        try:
            first = parse_request_line(head[:nl])
            if first is None:  # an empty request line: nothing to answer
                self._close()
                return False
            method, target, version, keep_alive = first
            headers = parse_fields(head[nl + 1:])
        except HeaderError as e:
            self._refuse(e.status, str(e))
            return False
        self.req = req = Request(method, target, version, headers)
        conn = (headers.get("Connection") or "").lower()
        self.close_after = not keep_alive
        if conn == "close":
            self.close_after = True
        elif conn == "keep-alive":
            self.close_after = False
        return self._dispatch(req)

    def _dispatch(self, req: Request) -> bool:
        """Route the request; read its body if its handler takes one, else handle it now."""
        app = self.app
        app.metrics.inflight += 1  # on the loop only, as every Metrics count but calls
        self.inflight = True
        path = self.path = _target_path(req.path)
        route = app.route(path)
        has_body = bool(req.headers.get("Transfer-Encoding")) or (req.headers.get("Content-Length") not in (None, "0"))
        # A body left unread would be taken for the next request: close after answering.
        if route is None:
            self._respond(RequestError(404, "NOT_FOUND", "no route %s; see GET / for the list of routes" % path), close=has_body)
            return True
        self.route_label = route.label
        method = "GET" if req.command == "HEAD" else req.command
        handler = route.methods.get(method)
        if handler is None:
            allow = ", ".join(sorted(route.methods) + (["HEAD"] if "GET" in route.methods else []))
            self._respond(RequestError(405, "METHOD_NOT_ALLOWED", "%s is not allowed on %s; use %s" % (req.command, path, allow), {"Allow": allow}), close=has_body)
            return True
        self.handler = handler
        self.params = route.params
        if method != "POST":
            self._set_phase("busy")
            self._handle(close=has_body)
            return True
        try:
            self._framing(req)
        except RequestError as e:
            self._respond(e, close=True)
            return True
        except _Answered:
            return True
        self._set_phase("body")
        waiting = len(self.buf) < self.need if self.need >= 0 else not self.buf  # chunked: -2
        if waiting and self.need != 0 and (req.headers.get("Expect") or "").lower() == "100-continue" and req.version >= "HTTP/1.1":
            self.transport.write(_CONTINUE)
        return True

    def _framing(self, req: Request) -> None:
        """How the body is framed: self.need bytes of Content-Length, or chunked (-2)."""
        cap = self.app.max_body_bytes
        tes = req.headers.get_all("Transfer-Encoding") or []
        lengths = req.headers.get_all("Content-Length") or []
        if tes:
            if lengths:
                raise RequestError(400, "BAD_REQUEST", "both Transfer-Encoding and Content-Length are set")
            # One reading of the framing only: a proxy in front may take another header, or the last.
            if len(tes) > 1 or tes[0].strip().lower() != "chunked":
                raise RequestError(400, "BAD_REQUEST", "unsupported Transfer-Encoding %r" % tes[0])
            self.need = -2
            return
        if not lengths:
            self.need = 0
            return
        # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
        if len(set(v.strip() for v in lengths)) != 1 or not _DIGITS.fullmatch(lengths[0].strip()):
            raise RequestError(400, "BAD_REQUEST", "invalid Content-Length")
        n = int(lengths[0].strip())
        if n > cap:
            # Refused from its length, before it is read (also in place of 100 Continue).
            self._respond(RequestError(413, "PAYLOAD_TOO_LARGE", "the body is %d bytes; this server accepts at most %d" % (n, cap)), linger=True)
            raise _Answered()
        self.need = n

    def _read_body(self) -> bool:
        if self.need == -2:
            try:
                body = self._read_chunked()
            except RequestError as e:
                self._respond(e, close=True, linger=e.status == 413)
                return False
            if body is None:
                return False
        else:
            n = self.need
            if len(self.buf) < n:
                return False
            body = bytes(self.buf[:n])
            del self.buf[:n]
        self.req.body = body
        self._set_phase("busy")
        self._handle()
        return True

    def _read_chunked(self):
        """The whole body once its last chunk and trailers are in the buffer, else None (what
        was read so far is kept); RequestError for a malformed or oversized one."""
        buf = self.buf
        at = 0
        try:
            while True:
                if self.chunk_state == "data":
                    if at >= len(buf):
                        return None
                    piece = buf[at:at + self.chunk_left]
                    self.chunks.append(bytes(piece))
                    at += len(piece)
                    self.chunk_left -= len(piece)
                    if self.chunk_left == 0:
                        self.chunk_state = "crlf"
                    continue
                nl = buf.find(b"\n", at, at + _MAX_CHUNK_LINE)
                if nl < 0:
                    if len(buf) - at >= _MAX_CHUNK_LINE:
                        raise RequestError(400, "BAD_REQUEST", "malformed chunked body")
                    return None
                line = bytes(buf[at:nl + 1])
                at = nl + 1
                if self.chunk_state == "crlf":
                    if line not in (b"\r\n", b"\n"):
                        raise RequestError(400, "BAD_REQUEST", "malformed chunked body")
                    self.chunk_state = "size"
                elif self.chunk_state == "trailer":
                    if line in (b"\r\n", b"\n"):
                        return b"".join(self.chunks)
                    self.trailers += 1
                    if self.trailers >= 100:
                        raise RequestError(400, "BAD_REQUEST", "too many trailer lines")
                else:
                    # Hex digits and nothing else (RFC 9112 chunk-size): int(x, 16) also takes
                    # "0x12", "1_2", "+12" and "-0", which a proxy in front reads otherwise.
                    field = line.split(b";", 1)[0].rstrip(b"\r\n").rstrip(b" \t")
                    if not _HEX.fullmatch(field):
                        raise RequestError(400, "BAD_REQUEST", "malformed chunk size in a chunked body")
                    size = int(field, 16)
                    if size == 0:
                        self.chunk_state = "trailer"
                        continue
                    self.chunk_total += size
                    if self.chunk_total > self.app.max_body_bytes:
                        raise RequestError(413, "PAYLOAD_TOO_LARGE", "the chunked body exceeds this server's limit of %d bytes" % self.app.max_body_bytes)
                    self.chunk_left = size
                    self.chunk_state = "data"
        finally:
            del buf[:at]

    # ---- handling
    def _handle(self, close: bool = False) -> None:
        if close:
            self.close_after = True
        try:
            r = self.handler(self.req, self.params)
        except RequestError as e:
            self._respond(e)
            return
        except Exception as e:  # noqa: BLE001 - never let a request take the server down
            self._failed(e)
            return
        if type(r) is types.GeneratorType:
            self.gen = r
            self.resume(None, None)
        else:
            self._respond(r)

    def resume(self, value, error) -> None:
        """Go on with a handler that waits for the model: send it the result, or throw the
        model's exception in; it yields its next _Job or returns its answer."""
        gen = self.gen
        try:
            job = gen.send(value) if error is None else gen.throw(error)
        except StopIteration as s:
            self.gen = None
            self._respond(s.value)
            return
        except RequestError as e:
            self.gen = None
            self._respond(e)
            return
        except Exception as e:  # noqa: BLE001
            self.gen = None
            self._failed(e)
            return
        job.owner = self
        self.server.scorer.submit(job)

    def _failed(self, e: BaseException) -> None:
        req = self.req
        log("error: unexpected failure on %s %s\n%s" % (_printable(req.command), _printable(req.path), traceback.format_exc().rstrip()))
        self._respond(RequestError(500, "INTERNAL", "internal server error: %s" % type(e).__name__))

    def _refuse(self, status: int, message: str) -> None:
        """An error the request's head itself causes (bad request line or headers): answered,
        then the connection closes."""
        self.t0 = self.t0 or time.perf_counter()
        self._respond(RequestError(status, _STATUS_CODES.get(status, "BAD_REQUEST"), message or _REASONS.get(status, "error")), close=True)

    def _respond(self, r, close: bool = False, linger: bool = False) -> None:
        app = self.app
        req = self.req
        error_code = None
        headers: dict = {}
        if isinstance(r, RequestError):
            status, error_code, headers = r.status, r.code, r.headers
            if self.route_label.startswith("/v2") or (req is not None and _is_v2(req.path)):
                payload: object = {"error": r.message, "code": r.code}
            else:
                payload = {"error": {"code": r.code, "message": r.message}}
            body = json.dumps(payload).encode("utf-8")
            ctype = "application/json"
        else:
            status, obj = r[0], r[1]
            ctype = r[2] if len(r) > 2 else "application/json"
            headers = r[3] if len(r) > 3 else {}
            body = obj if isinstance(obj, bytes) else _COMPACT_JSON.encode(obj).encode("utf-8")
        if close or linger or app.stopping:
            self.close_after = True
        first = _STATUS_LINES.get(status)
        if first is None:
            first = _STATUS_LINES[status] = "HTTP/1.1 %d %s\r\n%s" % (status, _REASONS.get(status, ""), _SERVER_HEADER)
        head = [first, _date_header(), "Content-Type: %s\r\nContent-Length: %d\r\n" % (ctype, len(body))]
        for k, v in headers.items():
            head.append("%s: %s\r\n" % (k, v))
        if self.close_after:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        out = "".join(head).encode("latin-1")
        transport = self.transport
        if not transport.is_closing():
            # One write: headers and body in the same segment (no Nagle/delayed-ACK stall).
            transport.write(out if req is not None and req.command == "HEAD" else out + body)
        seconds = time.perf_counter() - self.t0
        command = req.command if req is not None else "-"
        app.metrics.observe(self.route_label, _method_label(command), status, seconds, error_code)
        path = self.path
        if path is None:
            path = urllib.parse.urlsplit(req.path).path if req is not None else "-"
        # Health probes (the image's HEALTHCHECK every 10 s, Kubernetes, gitml serve) would bury
        # the requests that matter: only their failures are logged. /metrics counts them all.
        if not (status == 200 and self.route_label in _QUIET_ROUTES):
            access_log("%s %s %d %.2fms" % (_printable(command), _printable(path), status, seconds * 1000))
        if self.inflight:
            app.metrics.inflight -= 1
        self.served += 1
        close_after = self.close_after
        self._reset_request()
        if transport.is_closing():  # the client left while its request was scored
            self.phase = "closed"
            self._uncount()
            return
        if linger:
            self._linger()
        elif close_after:
            self._close()
        else:
            self._set_phase("wait")
            if self.paused and not self.blocked:
                self.paused = False
                transport.resume_reading()
            if self.buf and self.server.loop is not None:
                # Pipelined requests: the next one is read on the next turn of the loop.
                self.server.loop.call_soon(self._next)

    def _next(self) -> None:
        if self.phase == "wait" and not self.evicted:
            self._advance_input()

    def _linger(self) -> None:
        """After refusing an oversized body, stop writing and read and throw away what the
        client still sends for a moment, so that it reads the answer instead of a reset."""
        self.phase = "linger"
        self._uncount()
        self.linger_bytes = 0
        self.buf.clear()
        transport = self.transport
        if transport.is_closing():
            return
        if self.paused:
            self.paused = False
            transport.resume_reading()
        try:
            transport.write_eof()
        except (OSError, RuntimeError):
            self._close()
            return
        self.server.loop.call_later(1.0, self._close)

    def evict(self) -> None:
        """Close this connection as slow: one waiting for its body is answered 408 first."""
        self.evicted = True
        if self.phase == "body":
            self._respond(RequestError(408, "REQUEST_TIMEOUT", "the request body was too slow; the connection was closed"), close=True)
        else:
            self._close()


class _Answered(Exception):
    """The request was answered while reading its framing (413): nothing more to do."""


class Server:
    """The connections of one listening socket, and what watches over them."""

    def __init__(self, app: App, max_connections: int) -> None:
        self.app = app
        self.max_connections = max_connections
        self.conns: dict = {}  # Connection -> None: admitted connections not closing
        self.open = 0  # transports not yet lost, closing ones included
        self.loop = None
        self.scorer: Scorer | None = None
        self.stopped = False
        self._tick = None  # the TimerHandle of the next service()
        self._idle = False
        self._evict_note = 0.0
        self._evict_unlogged = 0

    def admit(self, c: Connection) -> bool:
        """Whether a new connection may stay: at the limit, it takes the place of the one that
        has waited longest for its request (slow clients cannot lock everyone else out), and
        is refused with 503 only when none can go."""
        active = len(self.conns)
        victim = None
        full = active >= self.max_connections
        if full and active < 2 * self.max_connections:
            victim = self._slowest()
            full = victim is None
        if full:
            body = json.dumps({"error": {"code": "TOO_MANY_CONNECTIONS", "message": "the server is at its connection limit; retry"}}).encode()
            c.transport.write(("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                               "Retry-After: 1\r\nConnection: close\r\n\r\n" % len(body)).encode() + body)
            c._close()
            return False
        self.conns[c] = None
        if self._idle:  # back to the busy pace: slow clients are timed out to the 50 ms
            self._tick.cancel()
            self.tick_later(SERVICE_INTERVAL)
        if victim is not None:
            self._evict(victim, "the server is at --max-connections")
        return True

    def _slowest(self):
        best = None
        for c in self.conns:
            if c.phase in ("wait", "body") and not c.evicted and (best is None or c.since < best.since):
                best = c
        return best

    def _evict(self, c: Connection, why: str) -> None:
        c.evict()
        self._evict_unlogged += 1
        now = time.monotonic()
        if now - self._evict_note >= 1.0:  # one line a second at most, whatever the flood
            log("note: closed %d slow connection%s (%s)" % (self._evict_unlogged, "" if self._evict_unlogged == 1 else "s", why))
            self._evict_note = now
            self._evict_unlogged = 0

    def tick_later(self, delay: float) -> None:
        self._idle = delay >= IDLE_INTERVAL
        self._tick = self.loop.call_later(delay, self._run_tick)

    def _run_tick(self) -> None:
        try:
            self.service()
        except Exception:  # noqa: BLE001 - the watch must go on
            log("error: %s" % traceback.format_exc().rstrip())
        if not self.stopped:
            self.tick_later(SERVICE_INTERVAL if self.conns or _access_pending else IDLE_INTERVAL)

    def service(self) -> None:
        """Every SERVICE_INTERVAL on the loop: close connections that have spent longer than
        --timeout without sending a complete request or body, even if they trickle bytes
        (idle keep-alive ones quietly); write the coalesced access lines."""
        flush_log()
        now = time.monotonic()
        if self._evict_unlogged and now - self._evict_note >= 1.0:
            log("note: closed %d more slow connection%s" % (self._evict_unlogged, "" if self._evict_unlogged == 1 else "s"))
            self._evict_note = now
            self._evict_unlogged = 0
        limit = now - self.app.timeout
        late = [c for c in self.conns if c.phase in ("wait", "body") and not c.evicted and c.since < limit]
        for c in late:
            if c.phase == "wait" and not c.buf and c.served:
                c.evicted = True
                c._close()  # an idle keep-alive connection
            else:
                self._evict(c, "no complete request within --timeout")

    def scored(self, batch: list) -> None:
        for job in batch:
            try:
                job.owner.resume(job.result, job.error)
            except Exception:  # noqa: BLE001 - one answer that fails must not strand the others
                log("error: unexpected failure answering a request\n%s" % traceback.format_exc().rstrip())
                job.owner._close()

    def busy(self) -> bool:
        return any(c.phase == "busy" for c in self.conns)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (SO_REUSEADDR, IPv6 when the host is); OSError when it cannot."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


async def serve(app: App, sock: socket.socket, max_connections: int, grace: float) -> None:
    """Serve on `sock` until SIGTERM or SIGINT, then let in-flight requests finish (up to
    `grace` seconds), answering them with Connection: close, and stop."""
    loop = asyncio.get_running_loop()
    server = Server(app, max_connections)
    server.loop = loop
    server.scorer = Scorer(app.model, app.metrics, app.workers, loop, server.scored)
    listener = await loop.create_server(lambda: Connection(server), sock=sock, backlog=128)
    stop = asyncio.Event()

    def on_signal(sig) -> None:
        if stop.is_set():
            return
        app.stopping = True
        log("received %s: finishing in-flight requests, then stopping" % signal.Signals(sig).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)

    server.tick_later(SERVICE_INTERVAL)
    await stop.wait()
    server.stopped = True
    listener.close()
    end = time.monotonic() + grace
    for c in list(server.conns):
        if c.phase == "wait" and not c.buf:
            c._close()
    while server.busy() and time.monotonic() < end:
        await asyncio.sleep(0.02)
    for c in list(server.conns):
        c._close()
    # Let the last answers leave before the loop ends: a closing transport writes what it
    # holds, then reports the connection lost.
    end = time.monotonic() + 1.0
    while server.open and time.monotonic() < end:
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------------------
# Entry point

def _env_number(env: dict, name: str, kind, default):
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit("gitml-server: %s=%r is not a valid %s" % (name, raw, kind.__name__))


def parse_args(argv: list, env: dict):
    p = argparse.ArgumentParser(
        prog="gitml_server.py",
        description="Serve one gitml model bundle over HTTP (Azure /score, MLflow /invocations, Open Inference Protocol v2, /metrics, /openapi.json).")
    p.add_argument("--model-dir", default=env.get("GITML_MODEL_DIR"), help="the serving bundle folder (env GITML_MODEL_DIR)")
    p.add_argument("--host", default=env.get("GITML_HOST") or DEFAULTS["host"], help="address to listen on (env GITML_HOST; default 127.0.0.1; 0.0.0.0 in containers)")
    p.add_argument("--port", type=int, default=_env_number(env, "GITML_PORT", int, DEFAULTS["port"]), help="port; 0 picks a free one (env GITML_PORT; default 8080)")
    p.add_argument("--workers", type=int, default=_env_number(env, "GITML_WORKERS", int, DEFAULTS["workers"]), help="scoring calls that may run at once (env GITML_WORKERS; default 1, so run() is never called concurrently)")
    p.add_argument("--max-body-bytes", type=int, default=_env_number(env, "GITML_MAX_BODY_BYTES", int, DEFAULTS["max_body_bytes"]), help="largest request body accepted (env GITML_MAX_BODY_BYTES; default 10 MiB)")
    p.add_argument("--timeout", type=float, default=_env_number(env, "GITML_TIMEOUT", float, DEFAULTS["timeout"]), help="seconds a client may take to send a request, and idle keep-alive time (env GITML_TIMEOUT; default 30)")
    p.add_argument("--max-connections", type=int, default=_env_number(env, "GITML_MAX_CONNECTIONS", int, DEFAULTS["max_connections"]), help="open connections at most; beyond it a new client takes the place of the one that has waited longest for its request, and 503 only when none can go (env GITML_MAX_CONNECTIONS; default 256)")
    p.add_argument("--sample-log", default=env.get("GITML_SAMPLE_LOG") or None, help="append sampled scoring requests (inputs and outputs) to this JSON-lines file, or with '-' to standard output, each line prefixed 'gitml-sample ' (env GITML_SAMPLE_LOG)")
    p.add_argument("--sample-rate", type=float, default=_env_number(env, "GITML_SAMPLE_RATE", float, DEFAULTS["sample_rate"]), help="fraction of scoring requests to sample, 0..1 (env GITML_SAMPLE_RATE; default 1)")
    p.add_argument("--grace", type=float, default=_env_number(env, "GITML_GRACE", float, DEFAULTS["grace"]), help="seconds to let in-flight requests finish on SIGTERM (env GITML_GRACE; default 10)")
    p.add_argument("--check", action="store_true", help="load the bundle and the model, score sample.json, print the result and exit (0 ok, 1 failed)")
    p.add_argument("--version", action="version", version="%s %s" % (RUNTIME_NAME, RUNTIME_VERSION))
    a = p.parse_args(argv)
    if a.workers < 1:
        p.error("--workers must be at least 1")
    if a.max_body_bytes < 1:
        p.error("--max-body-bytes must be positive")
    if not 0.0 <= a.sample_rate <= 1.0:
        p.error("--sample-rate must be between 0 and 1")
    if a.timeout <= 0:
        p.error("--timeout must be positive")
    if a.max_connections < 1:
        p.error("--max-connections must be at least 1")
    if not 0 <= a.port <= 65535:
        p.error("--port must be between 0 and 65535")
    return a


def check(bundle: Bundle) -> int:
    model = Model(bundle)
    model.load()
    if model.state != "ready":
        return 1
    if not bundle.sample:
        log("check: model loaded; no sample.json to score")
        return 0
    try:
        result = plain(model.predict(bundle.sample))
    except Exception:  # noqa: BLE001
        log("check: scoring sample.json failed\n%s" % traceback.format_exc().rstrip())
        return 1
    sys.stdout.write(json.dumps({"result": result}) + "\n")
    return 0


def main(argv: list | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv, dict(os.environ))
    try:
        bundle = load_bundle(args.model_dir)
    except BundleError as e:
        log("gitml-server: cannot serve: %s" % e)
        return 2
    if bundle.runtime and bundle.runtime.split(".")[0] != RUNTIME_VERSION.split(".")[0]:
        log("warning: the bundle was made for server runtime %s; this is %s" % (bundle.runtime, RUNTIME_VERSION))
    if args.check:
        return check(bundle)
    sampler = None
    if args.sample_log:
        try:
            sampler = Sampler(args.sample_log, args.sample_rate)
        except OSError as e:
            log("gitml-server: cannot open the sample log %s: %s" % (args.sample_log, e))
            return 2
    app = App(bundle, args.workers, args.max_body_bytes, args.timeout, sampler)
    try:
        sock = listen(args.host, args.port)
    except OSError as e:
        log("gitml-server: cannot listen on %s:%d: %s" % (args.host, args.port, e))
        return 3
    host, port = sock.getsockname()[:2]
    shown = "[%s]" % host if ":" in host else host
    log("%s %s: listening on http://%s:%d (model %s %s, flavor %s, %d worker%s, body limit %d bytes)" % (
        RUNTIME_NAME, RUNTIME_VERSION, shown, port, bundle.model, bundle.version, bundle.flavor,
        args.workers, "" if args.workers == 1 else "s", args.max_body_bytes))
    threading.Thread(target=app.model.load, name="model-loader", daemon=True).start()
    try:
        asyncio.run(serve(app, sock, args.max_connections, args.grace))
    finally:
        sock.close()
        flush_log()
        if sampler:
            sampler.close()
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
