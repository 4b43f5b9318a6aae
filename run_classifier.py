"""Fine-tunes BERT for text or text-pair classification (or regression): GLUE tasks, XNLI, your own data.

    .venv/bin/python run_classifier.py --task_name=MRPC --data_dir=glue/MRPC \
        --init_checkpoint=uncased_L-12_H-768_A-12 --do_train --do_eval --do_predict \
        --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
        --num_train_epochs=3 --output_dir=runs/mrpc

--vocab_file and --bert_config_file default to the ones in the --init_checkpoint
directory (Google or Hugging Face format).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from tasks import flags as common_flags  # noqa: E402
from tasks import scripts  # noqa: E402
from tasks.classification import run as classifier_run  # noqa: E402
from tasks.classification.data import DATASET_NAMES  # noqa: E402

FLAGS = flags.FLAGS
D = classifier_run.ClassifierSettings()
flags.DEFINE_string("task_name", None,
                    f"One of {', '.join(DATASET_NAMES)} (case-insensitive).")
flags.DEFINE_string("data_dir", None, "The task's data directory (GLUE layout, or "
                    "train/dev/test.{csv,tsv,jsonl} for --task_name=custom).")
common_flags.define_finetuning_flags(
    D, export_help="Also export a SavedModel for TF Serving to <export_dir>/<global step> "
                   "(see export_model.py).",
    predict_help="Predict the test set; writes test_results.tsv.",
    eval_help="Evaluate on dev; writes eval_results.txt.")
flags.DEFINE_string("text_a_column", D.text_a_column, "custom: the column of the text.")
flags.DEFINE_string("text_b_column", D.text_b_column, "custom: the column of the second text "
                    "(makes it a pair task).")
flags.DEFINE_string("label_column", D.label_column, "custom: the column of the label.")
flags.DEFINE_bool("regression", D.regression, "custom: the label is a number (mean squared "
                  "error; Pearson and Spearman correlations).")
flags.DEFINE_string("xnli_language", D.xnli_language, "xnli: the language to train and test.")


def main(argv):
    del argv
    scripts.run_or_exit("run_classifier.py", lambda: classifier_run.run(classifier_run.ClassifierSettings.from_flags(FLAGS)))


if __name__ == "__main__":
    scripts.start(main, ["task_name", "data_dir", "output_dir"])
