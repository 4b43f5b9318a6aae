"""Creates pretraining TFRecords from text: BERT's masked-LM / next-sentence pairs, ALBERT's sentence-order pairs, or RoBERTa's full sentences.

Input: text files with one sentence per line and a blank line between
documents. Output: TFRecords with google-research/bert's features.

    .venv/bin/python create_pretraining_data.py --input_file='corpus/*.txt' \
        --output_file=out/train-0.tfrecord,out/train-1.tfrecord --vocab_file=vocab.txt \
        --do_lower_case --max_seq_length=128 --max_predictions_per_seq=20 --dupe_factor=10

With a byte-level BPE (RoBERTa's vocab.json, or its release directory) the
examples are full sentences packed across documents, unmasked, without
next-sentence labels (--full_sentences, --dynamic_masking). With a SentencePiece
model (ALBERT's spiece.model, or its release directory) the pairs carry ALBERT's
sentence-order labels (--sentence_order_prediction): two consecutive segments,
swapped for half of them.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags  # noqa: E402

from tasks import scripts  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("input_file", None, "Comma-separated input files or globs.")
flags.DEFINE_string("output_file", None, "Comma-separated output TFRecord files (examples are "
                    "written round-robin).")
flags.DEFINE_string("vocab_file", None, "The vocab.txt of the model to pretrain; or a "
                    "byte-level BPE's vocab.json (merges.txt beside it) or tokenizer.json, or "
                    "a SentencePiece spiece.model, or a directory holding one (a RoBERTa or "
                    "ALBERT release).")
flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased models; not for a "
                  "byte-level BPE, which reads text as it is; for a SentencePiece model, "
                  "default: as the tokenizer_config.json beside it says, else true).")
flags.DEFINE_bool("do_whole_word_mask", False, "Mask all wordpieces of a word together.")
flags.DEFINE_integer("max_seq_length", 128, "Tokens per example, [CLS] and [SEP]s included.")
flags.DEFINE_integer("max_predictions_per_seq", 20, "Most masked positions per example.")
flags.DEFINE_integer("random_seed", 12345, "Seed; the same seed gives identical output.")
flags.DEFINE_integer("dupe_factor", 10, "Times each document is used, with different masks "
                     "(full sentences for dynamic masking are written once).")
flags.DEFINE_float("masked_lm_prob", 0.15, "Fraction of tokens to mask.")
flags.DEFINE_float("short_seq_prob", 0.1, "Probability of a shorter target length (sentence "
                   "pairs).")
flags.DEFINE_bool("dynamic_masking", None, "Write unmasked examples (input_ids, input_mask, "
                  "segment_ids, next_sentence_labels) for masking on the fly in training "
                  "(default: on with --full_sentences, off otherwise).")
flags.DEFINE_bool("full_sentences", None, "RoBERTa's FULL-SENTENCES examples, for a masked-LM "
                  "objective without next-sentence prediction: <s>, consecutive whole sentences "
                  "packed up to --max_seq_length across documents (a </s> between two), </s>; "
                  "no next_sentence_labels. Default: on for a byte-level BPE vocab (RoBERTa's), "
                  "off for a vocab.txt (BERT's sentence pairs).")
flags.DEFINE_bool("sentence_order_prediction", None, "ALBERT's sentence-order labels in "
                  "next_sentence_labels: a pair is two consecutive segments of one document, "
                  "swapped (label 1) half the time, instead of a next sentence or a random "
                  "one (a one-sentence group still takes a random one, as ALBERT's does). "
                  "Default: on for a SentencePiece model (ALBERT's), off otherwise.")
flags.DEFINE_integer("num_workers", None, "Worker processes building examples while the main "
                     "one reads and tokenizes; 0 = none (default: cores - 1, or 0 with 2 cores "
                     "or fewer).")
flags.DEFINE_integer("chunk_tokens", 1_000_000, "Tokens per unit of work; next-sentence "
                     "negatives and shuffling stay within a unit.")
flags.mark_flags_as_required(["input_file", "output_file", "vocab_file"])


def main(argv):
    del argv
    import os

    from bert_tf import checkpoints
    from bert_tf.data import files
    from bert_tf.data.files import list_input_files
    from bert_tf.errors import UserError
    from bert_tf.models.bert.release import vocab_kind
    from bert_tf.tokenization import BertTokenizer, BpeTokenizer, SentencePieceTokenizer
    from tasks.pretraining import records

    def work():
        input_files = list_input_files(FLAGS.input_file)
        output_files = [f for f in FLAGS.output_file.split(",") if f]
        if not output_files:
            raise UserError("--output_file names no file")
        if len(set(output_files)) != len(output_files):
            raise UserError("--output_file names a file twice")
        for path in output_files:
            files.check_output_file(path, "output_file", directory_made=True)
        if FLAGS.num_workers is not None and FLAGS.num_workers < 0:
            raise UserError(f"--num_workers must be 0 or more, got {FLAGS.num_workers}")
        if FLAGS.chunk_tokens < 1:
            raise UserError(f"--chunk_tokens must be positive, got {FLAGS.chunk_tokens}")
        vocab_file = FLAGS.vocab_file
        if os.path.isdir(vocab_file):
            vocab_file = checkpoints.find_vocab(vocab_file)
            if vocab_file is None:
                raise UserError(f"--vocab_file={FLAGS.vocab_file} holds no vocab.txt, "
                                "vocab.json, tokenizer.json or spiece.model")
        bpe = vocab_kind(vocab_file) == "bpe"
        spiece = vocab_kind(vocab_file) == "sentencepiece"
        sentence_order = (spiece if FLAGS.sentence_order_prediction is None
                          else FLAGS.sentence_order_prediction)
        full_sentences = bpe if FLAGS.full_sentences is None else FLAGS.full_sentences
        dynamic = (full_sentences if FLAGS.dynamic_masking is None
                   else FLAGS.dynamic_masking)
        if bpe and FLAGS["do_lower_case"].present and FLAGS.do_lower_case:
            raise UserError(f"--do_lower_case does not apply to the byte-level BPE {vocab_file}: "
                            "it reads text as it is (leave the flag out)")
        if (bpe or spiece) and FLAGS.do_whole_word_mask:
            raise UserError("--do_whole_word_mask needs a WordPiece vocab.txt, whose '##' "
                            f"pieces mark words; {vocab_file} is a "
                            + ("byte-level BPE" if bpe else "SentencePiece model"))
        if full_sentences and sentence_order:
            raise UserError("--sentence_order_prediction labels sentence pairs; "
                            "--full_sentences writes no pairs (pass --nofull_sentences, or "
                            "--nosentence_order_prediction)")
        if full_sentences and FLAGS["short_seq_prob"].present:
            raise UserError("--short_seq_prob applies to sentence pairs; --full_sentences fill "
                            "each example with whole sentences")
        if full_sentences and dynamic and FLAGS["dupe_factor"].present and FLAGS.dupe_factor != 1:
            raise UserError("--dupe_factor applies to masks drawn here: full sentences for "
                            "--dynamic_masking are written once (training draws new masks "
                            "every time it reads one)")
        if bpe:
            tokenizer = BpeTokenizer.from_vocab_file(vocab_file)
        elif spiece:
            lower = FLAGS.do_lower_case if FLAGS["do_lower_case"].present else None
            tokenizer = SentencePieceTokenizer.from_model_file(vocab_file, do_lower_case=lower)
        else:
            tokenizer = BertTokenizer(vocab_file, do_lower_case=FLAGS.do_lower_case)
        options = records.options_for(
            tokenizer, max_seq_length=FLAGS.max_seq_length,
            max_predictions_per_seq=FLAGS.max_predictions_per_seq,
            masked_lm_prob=FLAGS.masked_lm_prob, short_seq_prob=FLAGS.short_seq_prob,
            dupe_factor=FLAGS.dupe_factor, do_whole_word_mask=FLAGS.do_whole_word_mask,
            mask=not dynamic, full_sentences=full_sentences, sentence_order=sentence_order)
        stats = records.create_pretraining_records(
            input_files, output_files, tokenizer, options, random_seed=FLAGS.random_seed,
            num_workers=FLAGS.num_workers, chunk_tokens=FLAGS.chunk_tokens)
        print(f"wrote {', '.join(output_files)}: {stats.summary()}")

    scripts.run_or_exit("create_pretraining_data.py", work)


if __name__ == "__main__":
    scripts.start(main)
