"""Fine-tunes BERT for extractive question answering (SQuAD 1.1 and 2.0) and predicts answers.

    .venv/bin/python run_squad.py --init_checkpoint=uncased_L-12_H-768_A-12 \
        --do_train --train_file=squad/train-v1.1.json \
        --do_predict --predict_file=squad/dev-v1.1.json \
        --train_batch_size=12 --learning_rate=3e-5 --num_train_epochs=2.0 \
        --max_seq_length=384 --doc_stride=128 --output_dir=runs/squad

Add --version_2_with_negative for SQuAD 2.0. --do_predict writes
predictions.json, nbest_predictions.json (and null_odds.json for 2.0), and
when --predict_file has answers, the official scores in eval_results.txt.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402

from tasks import flags as common_flags  # noqa: E402
from tasks import scripts  # noqa: E402
from tasks.question_answering import run as squad_run  # noqa: E402

FLAGS = flags.FLAGS
D = squad_run.SquadSettings()
flags.DEFINE_string("train_file", None, "SQuAD JSON for training, e.g. train-v1.1.json.")
flags.DEFINE_string("predict_file", None, "SQuAD JSON to predict, e.g. dev-v1.1.json; with "
                    "answers it is evaluated too.")
common_flags.define_finetuning_flags(
    D, export_help="Also export a SavedModel for TF Serving that answers raw questions about "
                   "raw contexts, to <export_dir>/<global step> (see export_model.py).",
    predict_help="Predict --predict_file: predictions.json, nbest_predictions.json "
                 "(null_odds.json for 2.0), and eval_results.txt when it has answers.",
    eval_help="Same as --do_predict (predicting --predict_file also evaluates it).")
flags.DEFINE_bool("version_2_with_negative", D.version_2_with_negative, "SQuAD 2.0: some "
                  "questions have no answer in their context.")
flags.DEFINE_integer("doc_stride", D.doc_stride, "Context pieces between the starts of "
                     "consecutive windows over a long context.")
flags.DEFINE_integer("max_query_length", D.max_query_length, "Question pieces kept; longer "
                     "questions are truncated (with a warning).")
flags.DEFINE_integer("n_best_size", D.n_best_size, "Answers per question in "
                     "nbest_predictions.json (and start/end tokens tried per window).")
flags.DEFINE_integer("max_answer_length", D.max_answer_length, "Longest answer, in pieces.")
flags.DEFINE_float("null_score_diff_threshold", D.null_score_diff_threshold, "2.0: answer "
                   "\"\" when the null score beats the best span's by more than this.")
flags.DEFINE_bool("verbose_logging", D.verbose_logging, "Log every answer that does not "
                  "match its context, and the first training windows.")


def main(argv):
    del argv
    if FLAGS.verbose_logging:
        logging.set_verbosity(logging.INFO)
    scripts.run_or_exit("run_squad.py",
                        lambda: squad_run.run(squad_run.SquadSettings.from_flags(FLAGS)))


if __name__ == "__main__":
    scripts.start(main, ["output_dir"])
