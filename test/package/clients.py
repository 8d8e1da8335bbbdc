"""The real MLflow and Triton clients against a running gitml scoring server.

    python clients.py PORT  ->  one JSON object on stdout: what each client call returned

Called by clients.test.ts, which compares the answers with the model's own predictions. Every
call is made with the client library's own helpers (MLflow's ScoringServerClient and
dump_input_data, tritonclient.http's InferInput / InferRequestedOutput), so the bodies and
headers are exactly what those clients send.
"""
import json
import sys

import numpy as np
import pandas as pd
import requests
import tritonclient.http as httpclient
from mlflow.pyfunc.scoring_server.client import ScoringServerClient
from tritonclient.utils import InferenceServerException

port = int(sys.argv[1])
url = "http://127.0.0.1:%d" % port
COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
rows = json.loads(sys.argv[2])
df = pd.DataFrame(rows, columns=COLUMNS)
out = {}


def preds(resp):
    return [int(x) for x in resp["predictions"]]


# ---- MLflow (mlflow.pyfunc.scoring_server.client, as `mlflow deployments` / models serve use it)
m = ScoringServerClient("127.0.0.1", port)
m.ping()
out["mlflow_version"] = m.get_version()
out["mlflow_dataframe"] = preds(m.invoke(df))
out["mlflow_dataframe_params"] = preds(m.invoke(df, params={"threshold": 0.5, "top_k": 2}))
with_nan = df.copy()
with_nan.iloc[0, 1] = np.nan
out["mlflow_dataframe_nan"] = preds(m.invoke(with_nan))
out["mlflow_ndarray"] = preds(m.invoke(df.to_numpy()))
out["mlflow_records"] = preds(m.invoke(df.to_dict(orient="records")))


def post(body, ctype):
    r = requests.post(url + "/invocations", data=body, headers={"Content-Type": ctype})
    return r.status_code, r.json() if r.headers.get("Content-Type", "").startswith("application/json") else r.text


# The other pandas orients of MLflow's scoring protocol, written the way pandas writes them.
out["mlflow_split_json"] = post(json.dumps({"dataframe_split": json.loads(df.to_json(orient="split"))}), "application/json")
out["mlflow_records_json"] = post(json.dumps({"dataframe_records": json.loads(with_nan.to_json(orient="records"))}), "application/json")
out["mlflow_instances"] = post(json.dumps({"instances": df.to_dict(orient="records")}), "application/json")
out["mlflow_inputs_columns"] = post(json.dumps({"inputs": df.to_dict(orient="list")}), "application/json")
out["mlflow_csv"] = post(df.to_csv(), "text/csv")  # pandas' default: an unnamed index column first
out["mlflow_csv_nan"] = post(with_nan.to_csv(), "text/csv")
out["mlflow_csv_no_index"] = post(df.to_csv(index=False), "text/csv; charset=utf-8")
out["mlflow_parquet"] = post(b"PAR1", "application/vnd.apache.parquet")[0]
out["mlflow_latin1"] = post(df.to_csv(), "text/csv; charset=latin-1")[0]

# ---- Open Inference Protocol v2 (tritonclient.http)
t = httpclient.InferenceServerClient(url="127.0.0.1:%d" % port)
out["triton_live"] = t.is_server_live()
out["triton_ready"] = t.is_server_ready()
out["triton_model_ready"] = t.is_model_ready("iris")
out["triton_server_metadata"] = t.get_server_metadata()
out["triton_model_metadata"] = t.get_model_metadata("iris")
x = df.to_numpy(dtype=np.float64)


def infer(inputs, outputs=None):
    r = t.infer("iris", inputs, outputs=outputs)
    return {"pred": r.as_numpy("prediction").tolist(), "response": r.get_response()}


# one [N, 4] FP64 tensor, binary both ways (set_data_from_numpy's default, no outputs named)
i2d = httpclient.InferInput("input-0", list(x.shape), "FP64")
i2d.set_data_from_numpy(x)
out["triton_binary_2d"] = infer([i2d])
# one FP32 tensor per column, binary in, binary out by name
cols = []
for j, name in enumerate(COLUMNS):
    i = httpclient.InferInput(name, [x.shape[0]], "FP32")
    i.set_data_from_numpy(x[:, j].astype(np.float32))
    cols.append(i)
out["triton_binary_columns"] = infer(cols, [httpclient.InferRequestedOutput("prediction", binary_data=True)])
# JSON tensors both ways
ij = httpclient.InferInput("input-0", list(x.shape), "FP64")
ij.set_data_from_numpy(x, binary_data=False)
out["triton_json"] = infer([ij], [httpclient.InferRequestedOutput("prediction", binary_data=False)])
# JSON in, binary out
out["triton_json_in_binary_out"] = infer([ij], [httpclient.InferRequestedOutput("prediction", binary_data=True)])


def error(fn):
    try:
        fn()
    except InferenceServerException as e:
        return {"status": e.status(), "message": e.message()}
    return None


out["triton_unknown_model"] = error(lambda: t.get_model_metadata("nope"))
out["triton_config_route"] = error(lambda: t.get_model_config("iris"))
out["triton_statistics_route"] = error(lambda: t.get_inference_statistics("iris"))
bad = httpclient.InferInput("input-0", [x.shape[0], 3], "FP64")
bad.set_data_from_numpy(x[:, :3].copy())
out["triton_wrong_shape"] = error(lambda: t.infer("iris", [bad]))
t.close()

json.dump(out, sys.stdout, default=str)
