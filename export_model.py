"""Exports a trained BERT checkpoint as a SavedModel for TF Serving: raw text in, predictions out.

    .venv/bin/python export_model.py --checkpoint=runs/mrpc --task=classifier --text_pair \
        --export_dir=serving/mrpc
    .venv/bin/python export_model.py --checkpoint=runs/squad --task=question_answering \
        --export_dir=serving/squad
    .venv/bin/python export_model.py --checkpoint=runs/mrpc --keras_hub_preset_dir=presets/mrpc

The checkpoint is a bert_tf run's output_dir, or a Google, Hugging Face or
keras-hub directory. The export is export_dir/<version>/ (TF Serving's
layout); --keras_hub_preset_dir saves the checkpoint's encoder and tokenizer
as a keras-hub preset.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from tasks import export as export_run  # noqa: E402
from tasks import scripts  # noqa: E402

FLAGS = flags.FLAGS
D = export_run.ExportSettings()
flags.DEFINE_string("checkpoint", None, "A bert_tf run's output_dir, or a Google, Hugging "
                    "Face or keras-hub checkpoint directory.")
flags.DEFINE_enum("task", D.task, sorted(export_run.EXPORTERS), "What the model is: "
                  "classifier, regression, encoder (embeddings), pretrainer (masked-token "
                  "prediction), tagger (named entities), or another task family's model.")
flags.DEFINE_string("export_dir", None, "TF Serving's model directory; the export goes in "
                    "<export_dir>/<version>.")
flags.DEFINE_string("keras_hub_preset_dir", None, "Also (or instead of --export_dir) save the "
                    "checkpoint's encoder and tokenizer as a keras-hub preset here (BertBackbone, "
                    "RobertaBackbone or DistilBertBackbone; needs keras-hub).")
flags.DEFINE_integer("export_version", None, "Version number (default: the checkpoint's "
                     "training step, else the time); an existing version is never replaced.")
flags.DEFINE_bool("text_pair", D.text_pair, "classifier/regression: take text_pair too.")
flags.DEFINE_string("labels", None, "classifier, tagger: comma-separated labels (default: the "
                    "run's label_list.txt).")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the checkpoint's).")
flags.DEFINE_bool("do_lower_case", None, "Lower-case input (default: what the checkpoint "
                  "says, else what its vocab implies).")
flags.DEFINE_integer("max_seq_length", None, "Longest input in tokens (default: 128, or the "
                     "model's max_position_embeddings if smaller); longer text is truncated in "
                     "the graph and flagged in the `truncated` output.")
flags.DEFINE_enum("tokenizer_ops", D.tokenizer_ops, ["core", "text"], "core: only core "
                  "TensorFlow ops (loads in any TF Serving); text: tensorflow-text's fast "
                  "WordPiece, or its SentencePiece op, which ALBERT and XLM-RoBERTa need "
                  "(needs its ops in the server).")
flags.DEFINE_enum("serving_precision", D.serving_precision, list(export_run.PRECISIONS),
                  "What the export computes in: float32, or Keras mixed precision in bfloat16 "
                  "(fast on CPUs with AVX512-BF16/AMX and on TPUs) or float16 (GPUs); "
                  "inputs, outputs and tokenizer are the same.")
flags.DEFINE_bool("serving_xla", D.serving_xla, "Run the model XLA-compiled (jit_compile) in "
                  "the SavedModel, sequence lengths padded to multiples of 32 (at most "
                  "--max_seq_length): for GPUs; the tokenizer stays outside, inputs and "
                  "outputs are the same.")
flags.DEFINE_bool("version_2_with_negative", None, "question_answering: a SQuAD 2.0 model "
                  "(adds has_answer; default: the run's run.json, else false).")
flags.DEFINE_integer("doc_stride", None, "question_answering: pieces between windows over a "
                     "long context (default: the run's, else 128).")
flags.DEFINE_integer("max_query_length", None, "question_answering: question pieces kept "
                     "(default: the run's, else 64).")
flags.DEFINE_integer("n_best_size", None, "question_answering: start and end tokens tried per "
                     "window (default 20).")
flags.DEFINE_integer("max_answer_length", None, "question_answering: longest answer in pieces "
                     "(default 30).")
flags.DEFINE_float("null_score_diff_threshold", None, "question_answering, 2.0: answer \"\" "
                   "when the null score beats the best span's by more than this (default 0).")
flags.DEFINE_bool("allow_untrained_head", D.allow_untrained_head, "Export a checkpoint that "
                  "does not hold this task's head, with a newly initialized one (its outputs "
                  "are then random).")


def main(argv):
    del argv
    scripts.run_or_exit("export_model.py", lambda: export_run.run(export_run.ExportSettings.from_flags(FLAGS)))


if __name__ == "__main__":
    scripts.start(main, ["checkpoint"])
