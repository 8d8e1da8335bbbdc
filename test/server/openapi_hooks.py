"""Schemathesis hooks for fuzzing the scoring server from its own /openapi.json.

JSON Schema cannot say that the arrays of a column-oriented body have one length, nor that a
tensor's data holds product(shape) values; the document says both in its descriptions. These
hooks bring each generated body in line with those two rules (and only those), so that
schemathesis' positive_data_acceptance check means what it says: a body the document calls
valid must be accepted. The column names come from the document itself (the Record schema).
"""
import schemathesis


def _columns(context):
    schema = context.operation.schema.raw_schema
    return list(schema["components"]["schemas"]["Record"]["required"])


def _same_length(columns: dict) -> dict:
    if columns and all(isinstance(v, list) and v for v in columns.values()):
        n = min(len(v) for v in columns.values())
        return {k: v[:n] for k, v in columns.items()}
    return columns


def _fill(data: list, n: int) -> list:
    return (data * (n // len(data) + 1))[:n]


def _tensors(inputs: list, names: list) -> list:
    if len(inputs) != len(names) or len(names) == 1:
        # one [N, C] tensor, columns in schema order
        t = dict(inputs[0])
        rows = max(1, len(t["data"]) // len(names))
        t["shape"] = [rows, len(names)]
        t["data"] = _fill(t["data"], rows * len(names))
        if len(names) == 1 and t["name"] == names[0]:
            t["shape"] = [rows]
        return [t]
    # one tensor per column, named after it, all of N values
    n = min(len(t["data"]) for t in inputs)
    return [dict(t, name=name, shape=[n], data=t["data"][:n]) for t, name in zip(inputs, names)]


@schemathesis.hook
def map_body(context, body):
    path = context.operation.path
    names = _columns(context)
    if not isinstance(body, dict):
        return body
    if path.endswith("/infer") and isinstance(body.get("inputs"), list) and body["inputs"]:
        return dict(body, inputs=_tensors(body["inputs"], names))
    for key in ("data", "instances", "inputs"):
        if isinstance(body.get(key), dict):
            return dict(body, **{key: _same_length(body[key])})
    return body
