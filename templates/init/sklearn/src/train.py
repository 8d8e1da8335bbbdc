"""Train a logistic-regression iris classifier and report its metrics to gitml.

gitml's run contract: metrics go to the JSON-lines file $GITML_METRICS, files written
under $GITML_OUTPUTS are kept as artifacts (the command line names them through
${{outputs.x}}), and every parameter arrives as a separate command-line argument.
"""
import argparse
import json
import os
import pickle
import time

import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import cross_val_score, train_test_split

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def log_metric(name, value, step=0):
    path = os.environ.get("GITML_METRICS")
    line = json.dumps({"name": name, "value": float(value), "step": step, "timestamp": int(time.time() * 1000)})
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    print(f"{name}={value:.4f} (step {step})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--test-size", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--model", required=True)
    ap.add_argument("--sample", required=True)
    ap.add_argument("--reference", help="training rows and predictions (JSON lines), the drift reference of gitml monitor")
    args = ap.parse_args()

    df = pd.read_csv(args.data)
    X, y = df[FEATURES], df["species"]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, random_state=args.seed, stratify=y
    )
    clf = LogisticRegression(C=args.C, max_iter=args.max_iter)
    for fold, score in enumerate(cross_val_score(clf, X_train, y_train, cv=5)):
        log_metric("cv_accuracy", score, step=fold)
    clf.fit(X_train, y_train)
    pred = clf.predict(X_test)
    log_metric("accuracy", accuracy_score(y_test, pred))
    log_metric("f1_macro", f1_score(y_test, pred, average="macro"))

    os.makedirs(os.path.dirname(os.path.abspath(args.model)), exist_ok=True)
    with open(args.model, "wb") as f:
        pickle.dump(clf, f)
    # Sample input for the model's schema and for the scoring server's examples.
    with open(args.sample, "w", encoding="utf-8") as f:
        json.dump(X_test.head(5).to_dict(orient="records"), f, indent=2)
    # The drift reference: the training rows with the model's predictions, one JSON line each.
    if args.reference:
        ref = X_train.assign(prediction=clf.predict(X_train))
        with open(args.reference, "w", encoding="utf-8") as f:
            for row in ref.to_dict(orient="records"):
                f.write(json.dumps(row) + "\n")
    print(f"wrote {args.model} and {args.sample}")


if __name__ == "__main__":
    main()
