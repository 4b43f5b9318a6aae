"""Learns a BERT WordPiece vocab.txt from text files (one sentence or paragraph per line).

    .venv/bin/python build_vocab.py --input_file='corpus/*.txt' --vocab_size=30522 \
        --do_lower_case --output_file=vocab.txt
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags, logging  # noqa: E402

from tasks import scripts  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Comma-separated globs of UTF-8 text files.")
flags.DEFINE_string("output_file", None, "Where to write vocab.txt.")
flags.DEFINE_integer("vocab_size", 30522, "Largest vocabulary size, special tokens included.")
flags.DEFINE_bool("do_lower_case", True, "Lower-case and strip accents (an uncased vocab).")
flags.DEFINE_integer("num_unused", 0, "[unusedN] placeholder tokens to reserve after the "
                     "special ones (Google's vocabs reserve a few hundred).")
flags.DEFINE_integer("max_unique_chars", 1000, "Keep the most frequent characters only; words "
                     "with rarer characters are not counted.")
flags.mark_flags_as_required(["input_file", "output_file"])


def main(argv):
    del argv
    from bert_tf.data import files
    from bert_tf.errors import UserError
    from bert_tf.tokenization import vocab_learning

    def work():
        if FLAGS.num_unused < 0:
            raise UserError(f"--num_unused must be 0 or more, got {FLAGS.num_unused}")
        if FLAGS.max_unique_chars < 1:
            raise UserError(f"--max_unique_chars must be positive, got {FLAGS.max_unique_chars}")
        files.check_output_file(FLAGS.output_file, "output_file")
        inputs = files.list_input_files(FLAGS.input_file)
        logging.info("counting words in %d file(s)", len(inputs))
        counts = vocab_learning.count_words(inputs, FLAGS.do_lower_case)
        vocab = vocab_learning.learn_vocab(counts, FLAGS.vocab_size, num_unused=FLAGS.num_unused,
                                           max_unique_chars=FLAGS.max_unique_chars)
        files.write_text(FLAGS.output_file, "".join(token + "\n" for token in vocab))
        print(f"wrote {len(vocab)} tokens to {FLAGS.output_file} "
              f"({sum(counts.values()):,} words, {len(counts):,} distinct)")

    scripts.run_or_exit("build_vocab.py", work)


if __name__ == "__main__":
    scripts.start(main)
