"""How classifiers and regressors are served: raw text (or text pairs) in, labels or scores out."""

# B=batch, L=labels

import tensorflow as tf

from bert_tf.serving import export


def _classifier(module, features):
    logits = module.model(features, training=False)["logits"]  # [B, L]
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "label": tf.gather(module.labels, tf.argmax(logits, axis=-1, output_type=tf.int32))}


def _regression(module, features):
    return {"score": module.model(features, training=False)["score"]}  # [B]


PAIR = ("text", "text_pair")
CLASSIFIER = export.register(export.ServingTask("classifier", _classifier, needs_labels=True))
PAIR_CLASSIFIER = export.register(export.ServingTask("pair_classifier", _classifier,
                                                     text_inputs=PAIR, needs_labels=True))
REGRESSION = export.register(export.ServingTask("regression", _regression))
PAIR_REGRESSION = export.register(export.ServingTask("pair_regression", _regression,
                                                     text_inputs=PAIR))


def serving_task(regression, pair):
    return {(False, False): CLASSIFIER, (False, True): PAIR_CLASSIFIER,
            (True, False): REGRESSION, (True, True): PAIR_REGRESSION}[(bool(regression),
                                                                      bool(pair))]


def _export(regression):
    def exporter(settings, files):
        from tasks.classification.model import BertClassifier
        from tasks.export import labels_of

        labels = None if regression else labels_of(settings, files, "classifier")
        model = BertClassifier.from_pretrained(files.release, 1 if regression else len(labels),
                                               regression=regression)
        pair = settings.text_pair or bool(files.run_info.get("text_pair"))
        return model, serving_task(regression, pair), {"labels": labels}
    return exporter


EXPORTS = {"classifier": _export(False), "regression": _export(True)}
