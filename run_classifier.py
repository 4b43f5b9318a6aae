"""Fine-tunes BERT for text or text-pair classification (or regression): GLUE tasks, XNLI, your own data.

    .venv/bin/python run_classifier.py --task_name=MRPC --data_dir=glue/MRPC \
        --init_checkpoint=uncased_L-12_H-768_A-12 --do_train --do_eval --do_predict \
        --max_seq_length=128 --train_batch_size=32 --learning_rate=2e-5 \
        --num_train_epochs=3 --output_dir=runs/mrpc

--vocab_file and --bert_config_file default to the ones in the --init_checkpoint
directory (Google or Hugging Face format).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from bert_tf import run_settings  # noqa: E402
from tasks import classifier_run  # noqa: E402
from tasks.glue import TASK_NAMES  # noqa: E402

FLAGS = flags.FLAGS
D = classifier_run.ClassifierSettings()
# google-research/bert's flags.
flags.DEFINE_string("task_name", None, f"One of {', '.join(TASK_NAMES)} (case-insensitive).")
flags.DEFINE_string("data_dir", None, "The task's data directory (GLUE layout, or "
                    "train/dev/test.{csv,tsv,jsonl} for --task_name=custom).")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the init checkpoint's).")
flags.DEFINE_string("bert_config_file", None, "bert_config.json (default: the init checkpoint's).")
flags.DEFINE_string("init_checkpoint", None, "A Google or Hugging Face release directory, a "
                    "checkpoint prefix, or a bert_tf run's output_dir.")
flags.DEFINE_bool("do_lower_case", None, "Lower-case the input (default: what the checkpoint "
                  "says, else what its vocab implies).")
flags.DEFINE_integer("max_seq_length", D.max_seq_length, "Tokens per example after "
                     "WordPiece, [CLS] and [SEP]s included; longer inputs are truncated.")
flags.DEFINE_bool("do_train", False, "Fine-tune on train.")
flags.DEFINE_bool("do_eval", False, "Evaluate on dev; writes eval_results.txt.")
flags.DEFINE_bool("do_predict", False, "Predict test; writes test_results.tsv.")
flags.DEFINE_integer("train_batch_size", D.train_batch_size, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", D.eval_batch_size, "Evaluation batch size.")
flags.DEFINE_integer("predict_batch_size", D.predict_batch_size, "Prediction batch size.")
flags.DEFINE_float("learning_rate", D.learning_rate, "Peak learning rate.")
flags.DEFINE_float("num_train_epochs", D.num_train_epochs, "Epochs of fine-tuning.")
flags.DEFINE_float("warmup_proportion", D.warmup_proportion, "Fraction of steps to warm up.")
flags.DEFINE_string("output_dir", None, "Checkpoints and results go here.")
# Ours.
# The training loop's: --save_checkpoints_steps, --iterations_per_loop (as the original),
# strategies, precision, optimizer, checkpoints kept, seed, --tokenizer_ops of the export.
run_settings.define_training_flags()
flags.DEFINE_string("text_a_column", D.text_a_column, "custom: the column of the text.")
flags.DEFINE_string("text_b_column", D.text_b_column, "custom: the column of the second text "
                    "(makes it a pair task).")
flags.DEFINE_string("label_column", D.label_column, "custom: the column of the label.")
flags.DEFINE_bool("regression", D.regression, "custom: the label is a number (mean squared "
                  "error; Pearson and Spearman correlations).")
flags.DEFINE_string("xnli_language", D.xnli_language, "xnli: the language to train and test.")
flags.DEFINE_string("export_dir", None, "Also export a SavedModel for TF Serving to "
                    "<export_dir>/<global step> (see export_model.py).")


def main(argv):
    del argv
    try:
        classifier_run.run(classifier_run.ClassifierSettings.from_flags(FLAGS))
    except classifier_run.user_errors() as e:
        sys.exit(f"run_classifier.py: error: {e}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["task_name", "data_dir", "output_dir"])
    logging.set_verbosity(logging.WARNING)
    app.run(main)
