import numpy as np
import tensorflow as tf

from pipelines.models.conftest import ROWS, TINY, serialized
from pipelines.models.model import SERVING_OUTPUT, build_model, model_inputs, serving_signatures


def test_model_trains_and_serves_raw_examples_without_label(tiny_transform, tmp_path):
    rows, tft_output = tiny_transform
    model = build_model(TINY, hidden_units=[4], learning_rate=0.05)
    features = {k: tf.constant([r[k] for r in rows]) for k in ("fare_xf", "b_xf", "c_xf", "h_xf")}
    labels = tf.constant([[r["big"]] for r in rows], tf.float32)
    before = model.evaluate(model_inputs(model, features), labels, verbose=0)[0]
    model.fit(model_inputs(model, features), labels, epochs=20, verbose=0)
    after = model.evaluate(model_inputs(model, features), labels, verbose=0)[0]
    assert after < before  # it learns

    export = str(tmp_path / "model")
    tf.saved_model.save(model, export, signatures=serving_signatures(model, tft_output, TINY))
    loaded = tf.saved_model.load(export)
    serve = loaded.signatures["serving_default"]
    # requests carry the features only: no label column, no timestamp
    requests = tf.constant([serialized(r, drop=("tips", "t")) for r in ROWS])
    probabilities = serve(examples=requests)[SERVING_OUTPUT].numpy()
    assert probabilities.shape == (4, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    # the transform_features signature (used by the Evaluator) still derives the label
    transformed = loaded.signatures["transform_features"](examples=tf.constant([serialized(r) for r in ROWS]))
    assert transformed["big"].numpy().ravel().tolist() == [1, 0, 1, 0]
