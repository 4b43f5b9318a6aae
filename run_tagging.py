"""Fine-tunes BERT for token tagging (named entities): CoNLL-2003 or your own CoNLL / JSON-lines files.

    .venv/bin/python run_tagging.py --init_checkpoint=cased_L-12_H-768_A-12 \
        --train_file=conll2003/eng.train --eval_file=conll2003/eng.testa \
        --predict_file=conll2003/eng.testb --tag_scheme=iob1 \
        --do_train --do_eval --do_predict --max_seq_length=128 --train_batch_size=32 \
        --learning_rate=5e-5 --num_train_epochs=3 --output_dir=runs/conll2003

--vocab_file and --bert_config_file default to the ones in the --init_checkpoint
directory (Google or Hugging Face format).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from tasks import flags as common_flags  # noqa: E402
from tasks import scripts  # noqa: E402
from tasks.tagging import run as tagging_run  # noqa: E402

FLAGS = flags.FLAGS
D = tagging_run.TaggerSettings()
flags.DEFINE_string("train_file", None, "Training data: CoNLL columns (word first, one word "
                    "per line, blank lines between sentences) or .jsonl with \"tokens\" and "
                    "\"tags\" lists.")
flags.DEFINE_string("eval_file", None, "Evaluation data, as --train_file.")
flags.DEFINE_string("predict_file", None, "Data to tag, as --train_file; tags are not needed "
                    "(CoNLL: the words' column is enough).")
flags.DEFINE_integer("label_column", D.label_column, "CoNLL: the tags' column (0 = the word; "
                     "negative counts from the end, -1 is the last).")
flags.DEFINE_string("tag_scheme", D.tag_scheme, "The files' tag scheme: iob1 (the original "
                    "CoNLL-2003 files), iob2 (bio) or iobes. Tags are learned as IOB2; "
                    "predictions are written back in this scheme.")
flags.DEFINE_integer("window_stride", D.window_stride, "A sentence longer than "
                     "--max_seq_length is covered by overlapping windows of whole words whose "
                     "starts are this many wordpieces apart (default: half a window); every "
                     "word is predicted by the window where it has the most context.")
common_flags.define_finetuning_flags(
    D, export_help="Also export a SavedModel for TF Serving that tags raw text to "
                   "<export_dir>/<global step> (see export_model.py --task=tagger).",
    predict_help="Tag --predict_file; writes test_predictions.txt (or .jsonl): the input "
                 "with a predicted-tag column (or \"predicted_tags\") added.",
    eval_help="Evaluate on --eval_file; writes eval_results.txt (entity-level precision, "
              "recall and F1 as conlleval counts them, overall and per type).")


def main(argv):
    del argv
    scripts.run_or_exit("run_tagging.py", lambda: tagging_run.run(tagging_run.TaggerSettings.from_flags(FLAGS)))


if __name__ == "__main__":
    scripts.start(main, ["output_dir"])
