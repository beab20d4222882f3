"""
======================================================================
ESMM on an Ali-CCP-like click -> conversion log with tag lists and IDs
======================================================================

Each impression has a user ID (hashed: no vocabulary), an item category, the
user's interest tags and the item's tags (two multi-valued columns of lists
of varying length) and a price. A click is likely when the item carries
popular tags or shares a tag with the user's interests; a conversion (after
a click) when the item is cheap and tagged "sale". Mostly the tag lists
carry that signal, so the model
is fitted with and without them; the script prints the per-task test ROC AUC
(CTR and CTCVR on every row, CVR on the clicked rows) of both::

    python examples/multi_valued_tags.py [--threads N]

``--train-rows`` and ``--max-epochs`` make the run smaller (the documentation
runs it so).
"""

import argparse
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from sklearn_mtl import ESMMClassifier  # noqa: E402
from sklearn_mtl.metrics import esmm_scorers  # noqa: E402

TAGS = [f"tag{i}" for i in range(40)]
HOT = {"tag0", "tag1", "tag2", "tag3", "tag4"}


def impressions(n, seed):
    rng = np.random.RandomState(seed)

    def tag_lists(low, high):
        sizes = rng.randint(low, high, n)
        return [list(rng.choice(TAGS, size=size, replace=False)) for size in sizes]

    interests, item_tags = tag_lists(0, 6), tag_lists(1, 4)
    for tags in item_tags:
        if rng.random_sample() < 0.3:
            tags.append("sale")
    hot = np.array([len(HOT.intersection(t)) for t in item_tags])
    match = np.array([bool(set(a) & set(b)) for a, b in zip(interests, item_tags)])
    price = rng.lognormal(size=n)
    sale = np.array(["sale" in t for t in item_tags])
    click = rng.random_sample(n) < 0.03 + 0.2 * np.minimum(hot, 2) + 0.2 * match
    buy = click & (rng.random_sample(n) < 0.05 + 0.5 * (sale & (price < 1.5)))
    X = pd.DataFrame(
        {
            "user_id": rng.randint(0, 10**7, n),
            "item_category": pd.Categorical(rng.choice([f"c{i}" for i in range(20)], n)),
            "price": price,
            "user_interests": interests,
            "item_tags": item_tags,
        }
    )
    return X, pd.DataFrame({"click": click, "conversion": buy}).astype(int)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--train-rows", type=int, default=60_000, help="test rows: a third")
    parser.add_argument("--max-epochs", type=int, default=6)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    X_train, Y_train = impressions(args.train_rows, seed=0)
    X_test, Y_test = impressions(args.train_rows // 3, seed=1)
    scorers = esmm_scorers()
    params = dict(
        hash_buckets={"user_id": 2**14},
        max_epochs=args.max_epochs,
        batch_size=512,
        early_stopping=False,
        random_state=0,
    )
    categorical = ["user_id", "item_category", "user_interests", "item_tags"]
    without = ["user_id", "item_category", "price"]
    print(f"{len(X_train):,} training rows, {args.max_epochs} epochs")
    for name, columns in [("with tag lists", list(X_train.columns)), ("without", without)]:
        declared = [c for c in categorical if c in columns]
        model = ESMMClassifier(categorical_features=declared, **params)
        model.fit(X_train[columns], Y_train)
        scores = {key: scorer(model, X_test[columns], Y_test) for key, scorer in scorers.items()}
        print(f"{name:15s} " + "  ".join(f"{key} {value:.4f}" for key, value in scores.items()))


if __name__ == "__main__":
    main()
