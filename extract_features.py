"""Per-token features of BERT's layers as JSON lines, like google-research/bert's extract_features.py.

    .venv/bin/python extract_features.py --input_file=sentences.txt --output_file=features.jsonl \
        --init_checkpoint=uncased_L-12_H-768_A-12 --layers=-1,-2,-3,-4 --max_seq_length=128

Each input line is a text, or "text_a ||| text_b".
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from tasks import scripts  # noqa: E402

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
    from bert_tf.data import files as file_checks
    from bert_tf.errors import UserError
    from bert_tf.models.transformer import TransformerEncoder
    from bert_tf.models.bert.release import resolve_model_files
    from bert_tf.serving import feature_extraction

    def work():
        file_checks.check_output_file(FLAGS.output_file, "output_file")
        files = resolve_model_files(FLAGS.init_checkpoint, FLAGS.vocab_file, None,
                                    FLAGS.do_lower_case)
        if not 3 <= FLAGS.max_seq_length <= files.config.max_length:
            raise UserError(f"--max_seq_length={FLAGS.max_seq_length} must be between 3 and "
                            "the model's max_position_embeddings "
                            f"{files.config.max_length}")
        if FLAGS.batch_size < 1:
            raise UserError(f"--batch_size must be positive, got {FLAGS.batch_size}")
        tokenizer = files.tokenizer(FLAGS.max_seq_length)
        encoder = TransformerEncoder.from_pretrained(files.release)
        try:
            layers = [int(x) for x in FLAGS.layers.split(",") if x]
        except ValueError:
            raise UserError(f"--layers={FLAGS.layers!r} is not a comma-separated list of "
                            "integers") from None
        count = feature_extraction.extract(encoder, tokenizer, FLAGS.input_file,
                                           FLAGS.output_file, layers, FLAGS.max_seq_length,
                                           FLAGS.batch_size)
        print(f"wrote features of {count} example(s) to {FLAGS.output_file}")

    scripts.run_or_exit("extract_features.py", work)


if __name__ == "__main__":
    scripts.start(main, ["input_file", "output_file", "init_checkpoint"])
