"""Pretrains BERT (masked LM + next sentence), RoBERTa (masked LM) or ELECTRA (replaced-token detection) on TFRecords, under any tf.distribute strategy.

    .venv/bin/python run_pretraining.py --input_file='data/train-*.tfrecord' \
        --output_dir=runs/pretrain --bert_config_file=bert_config.json --do_train --do_eval \
        --train_batch_size=32 --max_seq_length=128 --max_predictions_per_seq=20 \
        --num_train_steps=100000 --num_warmup_steps=10000 --learning_rate=1e-4

A RoBERTa starts from --init_checkpoint (a Hugging Face RoBERTa directory) or
from --model_config_file (its config.json), with --dynamic_masking and its
byte-level BPE as --vocab_file (default: the checkpoint's). An ELECTRA starts from
--model_config_file (its discriminator's config.json) or --init_checkpoint, on
the masked records BERT's use, with google-research/electra's generator and
loss flags. Running the same command again after a crash resumes from the last
checkpoint. --teacher distills a pretrained model into the student as DistilBERT
was trained (soft and hard masked LM, hidden-state cosine; see
docs/pretraining.md).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from tasks import flags as common_flags  # noqa: E402
from tasks import scripts  # noqa: E402
from tasks.pretraining import run as pretraining_run  # noqa: E402

FLAGS = flags.FLAGS
DEFAULT = pretraining_run.PretrainingSettings()
# google-research/bert's flags.
flags.DEFINE_string("input_file", None, "Comma-separated TFRecord files or globs.")
flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model (default: the "
                    "one of --init_checkpoint).")
flags.DEFINE_string("init_checkpoint", None, "Start from: a Google or Hugging Face release "
                    "directory (BERT, or RoBERTa: RobertaForMaskedLM, or RobertaModel with a "
                    "fresh head), a checkpoint prefix, or a bert_tf run's output_dir.")
flags.DEFINE_bool("do_train", False, "Train.")
flags.DEFINE_bool("do_eval", False, "Evaluate on --eval_input_file (default --input_file).")
flags.DEFINE_integer("train_batch_size", DEFAULT.train_batch_size, "Global training batch size.")
flags.DEFINE_integer("eval_batch_size", DEFAULT.eval_batch_size, "Global evaluation batch size.")
flags.DEFINE_integer("max_seq_length", DEFAULT.max_seq_length, "Must match the records.")
flags.DEFINE_integer("max_predictions_per_seq", DEFAULT.max_predictions_per_seq,
                     "Must match the records.")
flags.DEFINE_integer("num_train_steps", DEFAULT.num_train_steps, "Optimizer steps.")
flags.DEFINE_integer("num_warmup_steps", DEFAULT.num_warmup_steps, "Linear warmup steps.")
flags.DEFINE_float("learning_rate", DEFAULT.learning_rate, "Peak learning rate.")
flags.DEFINE_integer("max_eval_steps", DEFAULT.max_eval_steps, "Most evaluation batches.")
# Ours, and the training loop's (--save_checkpoints_steps and --iterations_per_loop as the
# original; strategies, precision, optimizer, checkpoints kept, seed, export tokenizer ops).
common_flags.define_training_flags(
    DEFAULT, export_help="Also export a SavedModel predicting [MASK]ed tokens of raw text to "
                         "<export_dir>/<global step> (needs --vocab_file).")
flags.DEFINE_string("eval_input_file", None, "Evaluation records (default: --input_file).")
flags.DEFINE_bool("dynamic_masking", False, "Draw new masked positions every time a sequence "
                  "is read (needs --vocab_file).")
flags.DEFINE_bool("do_whole_word_mask", False, "With --dynamic_masking, mask whole words.")
flags.DEFINE_string("vocab_file", None, "The model's vocab.txt (a RoBERTa's vocab.json with "
                    "merges.txt beside it, or tokenizer.json; default for RoBERTa: "
                    "--init_checkpoint's): needed for dynamic masking, and copied next to the "
                    "exported checkpoint.")
# google-research/electra's (ELECTRA only).
flags.DEFINE_float("generator_hidden_size", DEFAULT.generator_hidden_size, "ELECTRA: the "
                   "generator's hidden size as a fraction of the discriminator's.")
flags.DEFINE_float("generator_layers", DEFAULT.generator_layers, "ELECTRA: the generator's "
                   "layers as a fraction of the discriminator's.")
flags.DEFINE_float("temperature", DEFAULT.temperature, "ELECTRA: temperature of the "
                   "generator's softmax the replaced tokens are sampled from.")
flags.DEFINE_float("disc_weight", DEFAULT.disc_weight, "ELECTRA: weight of the "
                   "discriminator's loss.")
flags.DEFINE_float("gen_weight", DEFAULT.gen_weight, "ELECTRA: weight of the generator's "
                   "masked-LM loss.")
# Distillation (DistilBERT's recipe; the fine-tuning scripts' flag names).
common_flags.define_distillation_flags(
    DEFAULT, teacher="a pretrained model with its masked-LM head (a run_pretraining.py "
    "output_dir or its pretrained/ release, or a BERT, RoBERTa or ALBERT pretraining release; "
    "the student's vocab) whose masked-LM distributions and hidden states the student learns",
    distributions="the masked-LM distributions",
    own_losses="the student's own losses (masked LM, next sentence)",
    student_config="--bert_config_file or --model_config_file")
flags.DEFINE_float("distill_cosine_weight", DEFAULT.distill_cosine_weight, "Distill: the "
                   "weight of 1 - cosine between the student's and the teacher's last hidden "
                   "states at real tokens (through a learned projection where the hidden sizes "
                   "differ; 0: off).")
flags.DEFINE_string("model_config_file", None, "Instead of --bert_config_file: a config.json "
                    "of any family (Hugging Face's, its model_type naming the family, e.g. a "
                    "RoBERTa's) to pretrain from scratch.")


def main(argv):
    del argv
    scripts.run_or_exit("run_pretraining.py", lambda: pretraining_run.run(pretraining_run.PretrainingSettings.from_flags(FLAGS)))


if __name__ == "__main__":
    scripts.start(main, ["input_file", "output_dir"])
