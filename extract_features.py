"""Per-token features of BERT's layers as JSON lines, like google-research/bert's extract_features.py.

    .venv/bin/python extract_features.py --input_file=sentences.txt --output_file=features.jsonl \
        --init_checkpoint=uncased_L-12_H-768_A-12 --layers=-1,-2,-3,-4 --max_seq_length=128

Each input line is a text, or "text_a ||| text_b".
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Text lines (\"a ||| b\" for pairs).")
flags.DEFINE_string("output_file", None, "Where the JSON lines go.")
flags.DEFINE_string("layers", "-1,-2,-3,-4", "Comma-separated layer indexes (-1 = last).")
flags.DEFINE_string("init_checkpoint", None, "A Google, Hugging Face or bert_tf checkpoint "
                    "directory (or Google checkpoint prefix).")
flags.DEFINE_string("bert_config_file", None, "Unused when --init_checkpoint has a config; "
                    "accepted for google-research/bert command lines.")
flags.DEFINE_string("vocab_file", None, "vocab.txt (default: the checkpoint's).")
flags.DEFINE_bool("do_lower_case", None, "Lower-case (default: what the checkpoint says).")
flags.DEFINE_integer("max_seq_length", 128, "Longer inputs are truncated.")
flags.DEFINE_integer("batch_size", 32, "Texts per batch.")


def main(argv):
    del argv
    from bert_tf import checkpoints, feature_extraction
    from bert_tf.encoder import BertEncoder
    from bert_tf.tokenization import BertTokenizer, resolve_casing
    from tasks.classifier_run import user_errors

    try:
        release = checkpoints.resolve(FLAGS.init_checkpoint)
        vocab_file = FLAGS.vocab_file or release.vocab_file
        if not vocab_file:
            raise FileNotFoundError(f"no vocab.txt in {FLAGS.init_checkpoint}: pass --vocab_file")
        directory = (FLAGS.init_checkpoint if os.path.isdir(FLAGS.init_checkpoint)
                     else os.path.dirname(FLAGS.init_checkpoint))
        tokenizer = BertTokenizer(vocab_file, do_lower_case=resolve_casing(
            directory, vocab_file, FLAGS.do_lower_case))
        encoder = BertEncoder.from_pretrained(FLAGS.init_checkpoint)
        layers = [int(x) for x in FLAGS.layers.split(",") if x]
        count = feature_extraction.extract(encoder, tokenizer, FLAGS.input_file,
                                           FLAGS.output_file, layers, FLAGS.max_seq_length,
                                           FLAGS.batch_size)
    except user_errors() + (ValueError,) as e:
        sys.exit(f"extract_features.py: error: {e}")
    print(f"wrote features of {count} example(s) to {FLAGS.output_file}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["input_file", "output_file", "init_checkpoint"])
    logging.set_verbosity(logging.WARNING)
    app.run(main)
