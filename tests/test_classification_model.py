"""The classification family's model and objectives: losses against a hand computation, Keras-native use."""

import os

import keras
import numpy as np
import tensorflow as tf

from bert_tf.tokenization import BertTokenizer
from tasks.classification.model import BertClassifier
from tasks.classification.objective import ClassificationObjective, RegressionObjective
from testing import minilm_dir, tiny_config


def test_classification_sums_are_cross_entropy_and_hits():
    logits = np.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [1.0, 1.0, -2.0]], np.float32)
    labels = np.array([0, 1, 1], np.int32)
    sums = ClassificationObjective().sums({"label_ids": labels}, {"logits": logits})
    by_hand = 0.0
    for row, label in zip(logits.astype(np.float64), labels):
        by_hand += np.log(np.exp(row).sum()) - row[label]
    assert abs(float(sums["loss_sum"]) - by_hand) < 1e-5
    # argmax: row 0 -> 0 (right), row 1 -> 2 (wrong), row 2 -> 0 on a tie (wrong).
    assert float(sums["correct"]) == 1.0 and float(sums["examples"]) == 3.0


def test_regression_sums_are_squared_errors():
    scores = np.array([0.5, 2.0, -1.0], np.float32)
    targets = np.array([1.0, 2.0, 1.5], np.float32)
    sums = RegressionObjective().sums({"label_ids": targets}, {"score": scores})
    assert abs(float(sums["squared_error_sum"]) - (0.25 + 0.0 + 6.25)) < 1e-6
    assert float(RegressionObjective().counts({"label_ids": targets})["examples"]) == 3.0


def test_keras_fit_evaluate_predict_on_raw_strings(tmp_path):
    """The Keras way: from_pretrained on a release directory, compile with the task's
    defaults, fit on raw strings through the tokenizer layer; the loss goes down."""
    keras.utils.set_random_seed(2)
    config = tiny_config(vocab_size=30522, max_position_embeddings=24, hidden_dropout_prob=0.0,
                         attention_probs_dropout_prob=0.0, initializer_range=0.2)
    from bert_tf.models.bert import BertEncoder

    BertEncoder(config).save_pretrained(str(tmp_path / "release"),
                                        vocab_file=os.path.join(minilm_dir(), "vocab.txt"))
    model = BertClassifier.from_pretrained(str(tmp_path / "release"), num_labels=2)
    tokenizer = BertTokenizer.from_pretrained(str(tmp_path / "release"), max_seq_length=16)
    good, bad = ["great", "lovely", "superb"], ["awful", "dreadful", "poor"]
    texts = [f"the film was {w}" for w in good + bad] * 6
    labels = ([1] * 3 + [0] * 3) * 6
    # The tokenizer runs in the pipeline once, on evaluate's first pass; fit, the second
    # evaluate and predict read its cached features in that shuffled order (each new
    # iterator over the tokenizer's map cost seconds, the steps milliseconds).
    data = (tf.data.Dataset.from_tensor_slices((texts, labels)).shuffle(36, seed=1).batch(12)
            .map(lambda text, label: (tokenizer(text), label)).cache())
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = model.evaluate(data, return_dict=True, verbose=0)
    # One iterator over the repeated set: a new one per epoch costs more than the steps.
    history = model.fit(data.repeat(), epochs=2, steps_per_epoch=15, verbose=0)
    after = model.evaluate(data, return_dict=True, verbose=0)
    # Measured: loss 0.69 -> 0.02 (0.05 reshuffled each pass), accuracy 0.5 -> 1.0 (AMX machine).
    assert after["loss"] < 0.5 * before["loss"] and after["accuracy"] >= 0.9
    assert history.history["loss"][-1] < history.history["loss"][0]
    predicted = model.predict(data, verbose=0)["logits"]
    assert predicted.shape == (36, 2)
