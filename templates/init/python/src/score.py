"""Scoring script for the iris model: gitml's server calls init() once, then run(data)
with a list of records ({"sepal_length": ..., ...}) already checked against the schema."""
import json
import math
import os

model = None


def init():
    global model
    with open(os.environ["GITML_MODEL_PATH"], encoding="utf-8") as f:
        model = json.load(f)


def _predict(x):
    xs = [(v - mu) / sd for v, mu, sd in zip(x, model["mean"], model["std"])]
    z = [b + sum(w * v for w, v in zip(ws, xs)) for ws, b in zip(model["weights"], model["bias"])]
    return model["classes"][max(range(len(z)), key=z.__getitem__)]


def run(data):
    return [_predict([float(r[k]) for k in model["features"]]) for r in data]
