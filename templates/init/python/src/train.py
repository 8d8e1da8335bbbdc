"""Train a softmax-regression iris classifier with the Python standard library only.

gitml's run contract: metrics go to the JSON-lines file $GITML_METRICS, files written
under $GITML_OUTPUTS are kept as artifacts (the command line names them through
${{outputs.x}}), and every parameter arrives as a separate command-line argument.
"""
import argparse
import csv
import json
import math
import os
import random
import time

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def log_metric(name, value, step=0):
    path = os.environ.get("GITML_METRICS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": name, "value": float(value), "step": step, "timestamp": int(time.time() * 1000)}) + "\n")


def softmax(z):
    m = max(z)
    e = [math.exp(v - m) for v in z]
    s = sum(e)
    return [v / s for v in e]


def predict_proba(model, x):
    xs = [(v - mu) / sd for v, mu, sd in zip(x, model["mean"], model["std"])]
    return softmax([b + sum(w * v for w, v in zip(ws, xs)) for ws, b in zip(model["weights"], model["bias"])])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--test-size", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--model", required=True)
    ap.add_argument("--sample", required=True)
    args = ap.parse_args()

    with open(args.data, newline="", encoding="utf-8") as f:
        rows = [([float(r[k]) for k in FEATURES], int(r["species"])) for r in csv.DictReader(f)]
    random.Random(args.seed).shuffle(rows)
    n_test = max(1, int(len(rows) * args.test_size))
    test, train = rows[:n_test], rows[n_test:]
    classes = sorted({y for _, y in rows})

    cols = list(zip(*[x for x, _ in train]))
    mean = [sum(c) / len(c) for c in cols]
    std = [math.sqrt(sum((v - m) ** 2 for v in c) / len(c)) or 1.0 for c, m in zip(cols, mean)]
    model = {"features": FEATURES, "classes": classes, "mean": mean, "std": std,
             "weights": [[0.0] * len(FEATURES) for _ in classes], "bias": [0.0] * len(classes)}

    for epoch in range(args.epochs):
        loss = 0.0
        gw = [[0.0] * len(FEATURES) for _ in classes]
        gb = [0.0] * len(classes)
        for x, y in train:
            p = predict_proba(model, x)
            xs = [(v - mu) / sd for v, mu, sd in zip(x, mean, std)]
            loss -= math.log(max(p[classes.index(y)], 1e-12))
            for k in range(len(classes)):
                d = p[k] - (1.0 if classes[k] == y else 0.0)
                gb[k] += d
                for j in range(len(FEATURES)):
                    gw[k][j] += d * xs[j]
        for k in range(len(classes)):
            model["bias"][k] -= args.lr * gb[k] / len(train)
            for j in range(len(FEATURES)):
                model["weights"][k][j] -= args.lr * gw[k][j] / len(train)
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            log_metric("loss", loss / len(train), step=epoch)

    correct = sum(1 for x, y in test if classes[max(range(len(classes)), key=lambda k: predict_proba(model, x)[k])] == y)
    accuracy = correct / len(test)
    log_metric("accuracy", accuracy, step=args.epochs)
    print(f"accuracy={accuracy:.4f} on {len(test)} held-out rows")

    os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
    with open(args.model, "w", encoding="utf-8") as f:
        json.dump(model, f)
    with open(args.sample, "w", encoding="utf-8") as f:
        json.dump([dict(zip(FEATURES, x)) for x, _ in test[:5]], f, indent=2)
    print(f"wrote {args.model} and {args.sample}")


if __name__ == "__main__":
    main()
