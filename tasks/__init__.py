"""Task families, one folder each: data, model (head), objective, serving, run.

The words the code uses, one meaning each:

- task family: a folder of tasks/ (pretraining, classification,
  question_answering, tagging): everything one kind of training needs.
  "task" alone means nothing more in the code; run_classifier.py's
  --task_name and export_model.py's --task keep their names as flags
  (below), and TF_CONFIG's "task" (a cluster member:
  bert_tf.training.distribution.task_info) is TensorFlow's.
- objective: what a model is trained to do, its losses and metrics defined
  once as sums over a batch (`ClassificationObjective`, `SpanObjective`,
  ... in tasks/<family>/objective.py; the BERT pretrainer's
  `PretrainingObjective` beside it in bert_tf/models/bert/, since the
  library's pretrainer uses it). The Trainer trains an objective (a run's
  `build_objective()`), a model's `compile()` takes its Keras loss and
  metrics from it (`objective()`, bert_tf.training.objective), and
  evaluation computes its loss with it.
- export kind: the signatures of one kind of SavedModel (`ExportKind`:
  encoder, classifier, pair_classifier, ..., tagger; bert_tf.serving.export),
  defined in each family's serving module.
- exporter: what export_model.py --task names: it loads a checkpoint as
  the right model and picks the export kind (tasks/export.py's EXPORTERS).
- run type: what a run is ("pretraining", "classification:mrpc",
  "question_answering", "tagging"): `Run.run_type`, written to run.json
  under its "task" key.
- dataset: what run_classifier.py --task_name names (a GLUE task, xnli,
  custom): its processor (tasks/classification/data.py, DATASET_NAMES).
  The settings field keeps the flag's name, `ClassifierSettings.task_name`.
"""
