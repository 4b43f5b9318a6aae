"""How classifiers and regressors are served: raw text (or text pairs) in, labels or scores out."""

# B=batch, L=labels

import tensorflow as tf

from bert_tf.serving import export


def _classifier(module, features):
    logits = module.call_model(features)["logits"]  # [B, L]
    return {"probabilities": tf.nn.softmax(logits, axis=-1),
            "label": tf.gather(module.labels, tf.argmax(logits, axis=-1, output_type=tf.int32))}


def _regression(module, features):
    return {"score": module.call_model(features)["score"]}  # [B]


PAIR = ("text", "text_pair")
CLASSIFIER = export.ExportKind("classifier", _classifier, needs_labels=True)
PAIR_CLASSIFIER = export.ExportKind("pair_classifier", _classifier, text_inputs=PAIR,
                                    needs_labels=True)
REGRESSION = export.ExportKind("regression", _regression)
PAIR_REGRESSION = export.ExportKind("pair_regression", _regression, text_inputs=PAIR)


def export_kind(regression, pair):
    return {(False, False): CLASSIFIER, (False, True): PAIR_CLASSIFIER,
            (True, False): REGRESSION, (True, True): PAIR_REGRESSION}[(bool(regression),
                                                                      bool(pair))]


def _load(settings, files, regression):
    from tasks.classification.model import BertClassifier

    trained = files.run_info.get("regression")
    if trained is not None and bool(trained) != regression:
        right, wrong = ("regression", "classifier") if trained else ("classifier", "regression")
        raise export.ExportError(f"{settings.checkpoint} is a {right} run (its run.json): "
                                 f"export it with --task={right}, not --task={wrong}")
    labels = None if regression else settings.label_list(files, "classifier")
    model = BertClassifier.from_pretrained(files.release, 1 if regression else len(labels),
                                           regression=regression,
                                           require_head=not settings.allow_untrained_head)
    pair = settings.text_pair or bool(files.run_info.get("text_pair"))
    return model, export_kind(regression, pair), {"labels": labels}


def classifier_exporter(settings, files):
    """export_model.py --task=classifier (--text_pair, or a run of pairs: pair_classifier)."""
    return _load(settings, files, regression=False)


def regression_exporter(settings, files):
    """export_model.py --task=regression (--text_pair, or a run of pairs: pair_regression)."""
    return _load(settings, files, regression=True)
