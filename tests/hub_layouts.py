"""Random tiny checkpoints in the exact layouts the hub's RoBERTa, DistilBERT and ELECTRA releases have.

Every array is random (no weights of these families can be had offline); the
names, shapes, dtype, config.json keys and [out, in] linear layout are those
of the Hugging Face classes the releases are saved from.
"""

import json
import os

import numpy as np
from safetensors.numpy import save_file

# Sizes small, odd and distinct (see STYLE.md).
ROBERTA = dict(vocab_size=61, hidden_size=12, num_hidden_layers=2, num_attention_heads=3,
               intermediate_size=37, max_position_embeddings=13, type_vocab_size=1,
               layer_norm_eps=1e-5, pad_token_id=1, hidden_act="gelu")
DISTILBERT = dict(vocab_size=59, dim=12, n_layers=2, n_heads=3, hidden_dim=37,
                  max_position_embeddings=11, activation="gelu", pad_token_id=0)
# Factorized: tables 9 wide, projected to 12 (electra-small has 128 and 256).
ELECTRA = dict(vocab_size=67, embedding_size=9, hidden_size=12, num_hidden_layers=2,
               num_attention_heads=3, intermediate_size=37, max_position_embeddings=13,
               type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0, hidden_act="gelu")


def _linear(arrays, rng, name, n_in, n_out, scale):
    arrays[f"{name}.weight"] = rng.standard_normal((n_out, n_in)) * scale
    arrays[f"{name}.bias"] = rng.standard_normal(n_out) * scale


def _layer_norm(arrays, rng, name, width):
    arrays[f"{name}.weight"] = 1.0 + rng.standard_normal(width) * 0.1
    arrays[f"{name}.bias"] = rng.standard_normal(width) * 0.1


def _save(directory, arrays, config):
    os.makedirs(directory, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, np.float32) if v.dtype.kind == "f" else v
               for k, v in arrays.items()}, os.path.join(directory, "model.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return str(directory)


def roberta_arrays(rng, prefix="", pooler=True, scale=0.2, zero_token_type=False, **sizes):
    """{Hugging Face name: array} of a RobertaModel ("" prefix) or a task model ("roberta.")."""
    c = dict(ROBERTA, **sizes)
    h, inter = c["hidden_size"], c["intermediate_size"]
    a = {}
    e = f"{prefix}embeddings."
    a[e + "word_embeddings.weight"] = rng.standard_normal((c["vocab_size"], h)) * scale
    a[e + "position_embeddings.weight"] = rng.standard_normal(
        (c["max_position_embeddings"], h)) * scale
    a[e + "token_type_embeddings.weight"] = rng.standard_normal(
        (c["type_vocab_size"], h)) * scale * (0.0 if zero_token_type else 1.0)
    _layer_norm(a, rng, e + "LayerNorm", h)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}encoder.layer.{i}."
        for part in ("query", "key", "value"):
            _linear(a, rng, p + f"attention.self.{part}", h, h, scale)
        _linear(a, rng, p + "attention.output.dense", h, h, scale)
        _layer_norm(a, rng, p + "attention.output.LayerNorm", h)
        _linear(a, rng, p + "intermediate.dense", h, inter, scale)
        _linear(a, rng, p + "output.dense", inter, h, scale)
        _layer_norm(a, rng, p + "output.LayerNorm", h)
    if pooler:
        _linear(a, rng, f"{prefix}pooler.dense", h, h, scale)
    return a


def roberta_config(architecture="RobertaModel", **sizes):
    c = dict(ROBERTA, **sizes)
    return {"architectures": [architecture], "model_type": "roberta", "bos_token_id": 0,
            "eos_token_id": 2, "attention_probs_dropout_prob": 0.1,
            "hidden_dropout_prob": 0.1, "initializer_range": 0.02,
            "position_embedding_type": "absolute", "torch_dtype": "float32",
            "transformers_version": "4.46.0", "use_cache": True, "classifier_dropout": None,
            **c}


def write_roberta(directory, seed=0, lm_head=False, **kwargs):
    """A RobertaModel directory, or with `lm_head` a RobertaForMaskedLM one (no pooler)."""
    rng = np.random.default_rng(seed)
    sizes = {k: kwargs.pop(k) for k in list(kwargs) if k in ROBERTA}
    if lm_head:
        a = roberta_arrays(rng, prefix="roberta.", pooler=False, **sizes, **kwargs)
        h = dict(ROBERTA, **sizes)["hidden_size"]
        _linear(a, rng, "lm_head.dense", h, h, 0.2)
        _layer_norm(a, rng, "lm_head.layer_norm", h)
        a["lm_head.bias"] = rng.standard_normal(dict(ROBERTA, **sizes)["vocab_size"]) * 0.2
        return _save(directory, a, roberta_config("RobertaForMaskedLM", **sizes))
    return _save(directory, roberta_arrays(rng, **sizes, **kwargs),
                 roberta_config("RobertaModel", **sizes))


def distilbert_arrays(rng, prefix="", scale=0.2, **sizes):
    """{Hugging Face name: array} of a DistilBertModel ("" prefix) or a task model ("distilbert.")."""
    c = dict(DISTILBERT, **sizes)
    h, inter = c["dim"], c["hidden_dim"]
    a = {}
    e = f"{prefix}embeddings."
    a[e + "word_embeddings.weight"] = rng.standard_normal((c["vocab_size"], h)) * scale
    a[e + "position_embeddings.weight"] = rng.standard_normal(
        (c["max_position_embeddings"], h)) * scale
    _layer_norm(a, rng, e + "LayerNorm", h)
    for i in range(c["n_layers"]):
        p = f"{prefix}transformer.layer.{i}."
        for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
            _linear(a, rng, p + f"attention.{part}", h, h, scale)
        _layer_norm(a, rng, p + "sa_layer_norm", h)
        _linear(a, rng, p + "ffn.lin1", h, inter, scale)
        _linear(a, rng, p + "ffn.lin2", inter, h, scale)
        _layer_norm(a, rng, p + "output_layer_norm", h)
    return a


def distilbert_config(architecture="DistilBertModel", **sizes):
    c = dict(DISTILBERT, **sizes)
    return {"architectures": [architecture], "model_type": "distilbert", "dropout": 0.1,
            "attention_dropout": 0.1, "initializer_range": 0.02, "qa_dropout": 0.1,
            "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False, "tie_weights_": True,
            "torch_dtype": "float32", "transformers_version": "4.46.0", **c}


def write_distilbert(directory, seed=0, lm_head=False, **sizes):
    """A DistilBertModel directory, or with `lm_head` a DistilBertForMaskedLM one."""
    rng = np.random.default_rng(seed)
    if lm_head:
        a = distilbert_arrays(rng, prefix="distilbert.", **sizes)
        c = dict(DISTILBERT, **sizes)
        _linear(a, rng, "vocab_transform", c["dim"], c["dim"], 0.2)
        _layer_norm(a, rng, "vocab_layer_norm", c["dim"])
        a["vocab_projector.bias"] = rng.standard_normal(c["vocab_size"]) * 0.2
        return _save(directory, a, distilbert_config("DistilBertForMaskedLM", **sizes))
    return _save(directory, distilbert_arrays(rng, **sizes), distilbert_config(**sizes))


def electra_arrays(rng, prefix="", scale=0.2, **sizes):
    """{Hugging Face name: array} of an ElectraModel ("" prefix) or a task model ("electra.")."""
    c = dict(ELECTRA, **sizes)
    e_size, h, inter = c["embedding_size"], c["hidden_size"], c["intermediate_size"]
    a = {}
    e = f"{prefix}embeddings."
    a[e + "word_embeddings.weight"] = rng.standard_normal((c["vocab_size"], e_size)) * scale
    a[e + "position_embeddings.weight"] = rng.standard_normal(
        (c["max_position_embeddings"], e_size)) * scale
    a[e + "token_type_embeddings.weight"] = rng.standard_normal(
        (c["type_vocab_size"], e_size)) * scale
    _layer_norm(a, rng, e + "LayerNorm", e_size)
    if e_size != h:
        _linear(a, rng, f"{prefix}embeddings_project", e_size, h, scale)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}encoder.layer.{i}."
        for part in ("query", "key", "value"):
            _linear(a, rng, p + f"attention.self.{part}", h, h, scale)
        _linear(a, rng, p + "attention.output.dense", h, h, scale)
        _layer_norm(a, rng, p + "attention.output.LayerNorm", h)
        _linear(a, rng, p + "intermediate.dense", h, inter, scale)
        _linear(a, rng, p + "output.dense", inter, h, scale)
        _layer_norm(a, rng, p + "output.LayerNorm", h)
    return a


def electra_config(architecture="ElectraModel", **sizes):
    c = dict(ELECTRA, **sizes)
    return {"architectures": [architecture], "model_type": "electra",
            "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.1,
            "initializer_range": 0.02, "position_embedding_type": "absolute",
            "summary_activation": "gelu", "summary_last_dropout": 0.1, "summary_type": "first",
            "summary_use_proj": True, "classifier_dropout": None, "torch_dtype": "float32",
            "transformers_version": "4.46.0", "use_cache": True, **c}


def write_electra(directory, seed=0, head=None, **sizes):
    """An ElectraModel directory; with `head` "discriminator" an ElectraForPreTraining one
    (google/electra-small-discriminator's layout), with "generator" an ElectraForMaskedLM one
    (-generator's: the decoder tied to the word embeddings, only its bias saved)."""
    rng = np.random.default_rng(seed)
    c = dict(ELECTRA, **sizes)
    if head is None:
        return _save(directory, electra_arrays(rng, **sizes), electra_config(**sizes))
    a = electra_arrays(rng, prefix="electra.", **sizes)
    h, e_size = c["hidden_size"], c["embedding_size"]
    if head == "discriminator":
        _linear(a, rng, "discriminator_predictions.dense", h, h, 0.2)
        _linear(a, rng, "discriminator_predictions.dense_prediction", h, 1, 0.2)
        return _save(directory, a, electra_config("ElectraForPreTraining", **sizes))
    _linear(a, rng, "generator_predictions.dense", h, e_size, 0.2)
    _layer_norm(a, rng, "generator_predictions.LayerNorm", e_size)
    a["generator_lm_head.bias"] = rng.standard_normal(c["vocab_size"]) * 0.2
    return _save(directory, a, electra_config("ElectraForMaskedLM", **sizes))


def _google_block(a, rng, scope, layers, h, inter, scale):
    for i in range(layers):
        p = f"{scope}/encoder/layer_{i}/"
        for part in ("query", "key", "value"):
            _dense(a, rng, p + f"attention/self/{part}", h, h, scale)
        _dense(a, rng, p + "attention/output/dense", h, h, scale)
        _google_layer_norm(a, rng, p + "attention/output/LayerNorm", h)
        _dense(a, rng, p + "intermediate/dense", h, inter, scale)
        _dense(a, rng, p + "output/dense", inter, h, scale)
        _google_layer_norm(a, rng, p + "output/LayerNorm", h)


def _dense(arrays, rng, name, n_in, n_out, scale):
    arrays[f"{name}/kernel"] = rng.standard_normal((n_in, n_out)) * scale
    arrays[f"{name}/bias"] = rng.standard_normal(n_out) * scale


def _google_layer_norm(arrays, rng, name, width):
    arrays[f"{name}/gamma"] = 1.0 + rng.standard_normal(width) * 0.1
    arrays[f"{name}/beta"] = rng.standard_normal(width) * 0.1


def electra_google_arrays(rng, generator_hidden=3, scale=0.2, **sizes):
    """{name: array} of a google-research/electra pretraining checkpoint: the discriminator
    (electra/...), the generator (generator/..., hidden `generator_hidden`, one head, a 4x
    feed-forward, sharing electra/embeddings/), both prediction heads, optimizer slots and the
    global step (TF1's layout: dense kernels [in, out])."""
    c = dict(ELECTRA, **sizes)
    e_size, h, v = c["embedding_size"], c["hidden_size"], c["vocab_size"]
    a = {}
    a["electra/embeddings/word_embeddings"] = rng.standard_normal((v, e_size)) * scale
    a["electra/embeddings/position_embeddings"] = rng.standard_normal(
        (c["max_position_embeddings"], e_size)) * scale
    a["electra/embeddings/token_type_embeddings"] = rng.standard_normal(
        (c["type_vocab_size"], e_size)) * scale
    _google_layer_norm(a, rng, "electra/embeddings/LayerNorm", e_size)
    _dense(a, rng, "electra/embeddings_project", e_size, h, scale)
    _google_block(a, rng, "electra", c["num_hidden_layers"], h, c["intermediate_size"], scale)
    g = generator_hidden
    _dense(a, rng, "generator/embeddings_project", e_size, g, scale)
    _google_block(a, rng, "generator", c["num_hidden_layers"], g, 4 * g, scale)
    _dense(a, rng, "generator_predictions/dense", g, e_size, scale)
    _google_layer_norm(a, rng, "generator_predictions/LayerNorm", e_size)
    a["generator_predictions/output_bias"] = rng.standard_normal(v) * scale
    _dense(a, rng, "discriminator_predictions/dense", h, h, scale)
    _dense(a, rng, "discriminator_predictions/dense_1", h, 1, scale)
    for name in list(a):
        a[name + "/adam_m"] = np.zeros_like(a[name])
        a[name + "/adam_v"] = np.zeros_like(a[name])
    a["global_step"] = np.array(7, np.int64)
    return a


def write_electra_google(directory, seed=0, **sizes):
    """A google-research/electra checkpoint directory (model.ckpt-7.*, its `checkpoint` file,
    vocab-less) with the Hugging Face config.json of its discriminator beside it, as
    transformers' converter takes one (the TF1 release carries no config). Returns
    (directory, {name: array})."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    arrays = electra_google_arrays(rng, **sizes)
    os.makedirs(directory, exist_ok=True)
    names = sorted(arrays)
    tf.raw_ops.SaveV2(prefix=os.path.join(str(directory), "model.ckpt-7"),
                      tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[np.asarray(arrays[n], np.int64 if n == "global_step"
                                          else np.float32) for n in names])
    with open(os.path.join(directory, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt-7"\n'
                'all_model_checkpoint_paths: "model.ckpt-7"\n')
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(electra_config("ElectraForPreTraining", **sizes), f, indent=2)
    return str(directory), arrays


# The task heads of the hub's fine-tuned releases: {task: {family: [(name, in, out)]}}, with
# "H" the hidden size and "L" the label count.
TASK_HEADS = {
    "sequence": {"roberta": [("classifier.dense", "H", "H"), ("classifier.out_proj", "H", "L")],
                 "distilbert": [("pre_classifier", "H", "H"), ("classifier", "H", "L")],
                 "electra": [("classifier.dense", "H", "H"), ("classifier.out_proj", "H", "L")],
                 "albert": [("classifier", "H", "L")]},
    "span": {"roberta": [("qa_outputs", "H", 2)], "distilbert": [("qa_outputs", "H", 2)],
             "electra": [("qa_outputs", "H", 2)], "albert": [("qa_outputs", "H", 2)]},
    "token": {"roberta": [("classifier", "H", "L")], "distilbert": [("classifier", "H", "L")],
              "electra": [("classifier", "H", "L")], "albert": [("classifier", "H", "L")]},
}
ARCHITECTURES = {"sequence": "ForSequenceClassification", "span": "ForQuestionAnswering",
                 "token": "ForTokenClassification"}


def write_task_model(directory, family, task, num_labels=3, seed=0):
    """A fine-tuned release of `family` ("roberta", "distilbert", "electra") for `task`: "sequence"
    (...ForSequenceClassification), "span" (...ForQuestionAnswering) or "token"
    (...ForTokenClassification). Returns the directory."""
    rng = np.random.default_rng(seed)
    if family == "roberta":
        arrays, hidden = roberta_arrays(rng, prefix="roberta.", pooler=False), ROBERTA["hidden_size"]
        config = roberta_config("Roberta" + ARCHITECTURES[task])
    elif family == "electra":
        arrays, hidden = electra_arrays(rng, prefix="electra."), ELECTRA["hidden_size"]
        config = electra_config("Electra" + ARCHITECTURES[task])
    elif family == "albert":  # only AlbertForSequenceClassification reads the pooler
        arrays = albert_arrays(rng, prefix="albert.", pooler=task == "sequence")
        hidden, config = ALBERT["hidden_size"], albert_config("Albert" + ARCHITECTURES[task])
    else:
        arrays, hidden = distilbert_arrays(rng, prefix="distilbert."), DISTILBERT["dim"]
        config = distilbert_config("DistilBert" + ARCHITECTURES[task])
    sizes = {"H": hidden, "L": num_labels}
    for name, n_in, n_out in TASK_HEADS[task][family]:
        _linear(arrays, rng, name, sizes.get(n_in, n_in), sizes.get(n_out, n_out), 0.2)
    if task != "span":
        config["id2label"] = {str(i): f"LABEL_{i}" for i in range(num_labels)}
        config["label2id"] = {f"LABEL_{i}": i for i in range(num_labels)}
    return _save(directory, arrays, config)


def write_wordpiece_vocab(directory, words, lower=True):
    """vocab.txt (BERT's special tokens, characters, the words) and a tokenizer_config.json
    saying the casing, as the hub's WordPiece releases (DistilBERT's) carry; returns its size."""
    chars = sorted({c for word in words for c in word} | set("abcdefghijklmnopqrstuvwxyz"))
    tokens = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + list(".,!?'") + chars
              + [f"##{c}" for c in chars] + sorted(set(words) - set(chars)))
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": lower, "model_max_length": 512}, f)
    return len(tokens)


def write_bpe_vocab(directory, texts, vocab_size=300):
    """vocab.json and merges.txt of a byte-level BPE learned from `texts` with Hugging Face
    `tokenizers`, RoBERTa's special tokens at its ids (<s> 0, <pad> 1, </s> 2, <unk> 3,
    <mask> last), as the hub's RoBERTa releases carry; returns the vocabulary size."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    hf = Tokenizer(models.BPE(unk_token="<unk>"))
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - 1, show_progress=False,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    hf.train_from_iterator(list(texts), trainer)
    hf.add_special_tokens(["<mask>"])
    os.makedirs(directory, exist_ok=True)
    hf.model.save(str(directory))  # merges.txt with its #version line, and a vocab.json
    vocab = hf.get_vocab(with_added_tokens=True)
    with open(os.path.join(directory, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"add_prefix_space": False, "model_max_length": 512,
                   "tokenizer_class": "RobertaTokenizer"}, f)
    return len(vocab)


def write_spiece_model(directory, texts, vocab_size=400, lower=True):
    """spiece.model: a unigram SentencePiece model learned from `texts` with the `sentencepiece`
    package's own trainer, with ALBERT's settings (<pad> 0, <unk> 1, control symbols [CLS] 2,
    [SEP] 3, [MASK] 4, no <s> or </s>), and the tokenizer_config.json albert-base-v2 carries;
    returns the model's path."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], character_coverage=0.9995,
        minloglevel=2, num_threads=1)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "spiece.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": lower, "keep_accents": False, "remove_space": True,
                   "model_max_length": 512, "tokenizer_class": "AlbertTokenizer"}, f)
    return path


ALBERT = dict(vocab_size=67, embedding_size=10, hidden_size=12, num_hidden_layers=4,
              num_hidden_groups=2, inner_group_num=2, num_attention_heads=3, intermediate_size=37,
              max_position_embeddings=13, type_vocab_size=2, hidden_act="gelu_new")


def albert_arrays(rng, prefix="", pooler=True, scale=0.2, **sizes):
    """{Hugging Face name: array} of an AlbertModel ("" prefix) or a task model ("albert.")."""
    c = dict(ALBERT, **sizes)
    e_size, h, inter = c["embedding_size"], c["hidden_size"], c["intermediate_size"]
    a = {}
    e = f"{prefix}embeddings."
    a[e + "word_embeddings.weight"] = rng.standard_normal((c["vocab_size"], e_size)) * scale
    a[e + "position_embeddings.weight"] = rng.standard_normal(
        (c["max_position_embeddings"], e_size)) * scale
    a[e + "token_type_embeddings.weight"] = rng.standard_normal(
        (c["type_vocab_size"], e_size)) * scale
    _layer_norm(a, rng, e + "LayerNorm", e_size)
    _linear(a, rng, f"{prefix}encoder.embedding_hidden_mapping_in", e_size, h, scale)
    for g in range(c["num_hidden_groups"]):
        for j in range(c["inner_group_num"]):
            p = f"{prefix}encoder.albert_layer_groups.{g}.albert_layers.{j}."
            for part in ("query", "key", "value", "dense"):
                _linear(a, rng, p + f"attention.{part}", h, h, scale)
            _layer_norm(a, rng, p + "attention.LayerNorm", h)
            _linear(a, rng, p + "ffn", h, inter, scale)
            _linear(a, rng, p + "ffn_output", inter, h, scale)
            _layer_norm(a, rng, p + "full_layer_layer_norm", h)
    if pooler:
        _linear(a, rng, f"{prefix}pooler", h, h, scale)
    return a


def albert_config(architecture="AlbertModel", **sizes):
    c = dict(ALBERT, **sizes)
    return {"architectures": [architecture], "model_type": "albert", "bos_token_id": 2,
            "eos_token_id": 3, "pad_token_id": 0, "attention_probs_dropout_prob": 0,
            "hidden_dropout_prob": 0, "classifier_dropout_prob": 0.1, "initializer_range": 0.02,
            "layer_norm_eps": 1e-12, "position_embedding_type": "absolute",
            "torch_dtype": "float32", "transformers_version": "4.46.0", **c}


def albert_pretraining_head(a, rng, **sizes):
    """AlbertForPreTraining's heads beside `a`: predictions.* (H -> E, tied decoder) and
    sop_classifier.classifier."""
    c = dict(ALBERT, **sizes)
    _linear(a, rng, "predictions.dense", c["hidden_size"], c["embedding_size"], 0.2)
    _layer_norm(a, rng, "predictions.LayerNorm", c["embedding_size"])
    a["predictions.bias"] = rng.standard_normal(c["vocab_size"]) * 0.2
    _linear(a, rng, "sop_classifier.classifier", c["hidden_size"], 2, 0.2)
    return a


def write_albert(directory, seed=0, lm_head=False, pretraining=False, **sizes):
    """An AlbertModel directory; with `lm_head` an AlbertForMaskedLM one (albert-base-v2's
    layout: no pooler, predictions.*), with `pretraining` an AlbertForPreTraining one."""
    rng = np.random.default_rng(seed)
    if lm_head or pretraining:
        a = albert_arrays(rng, prefix="albert.", pooler=pretraining, **sizes)
        albert_pretraining_head(a, rng, **sizes)
        if lm_head:
            del a["sop_classifier.classifier.weight"], a["sop_classifier.classifier.bias"]
        name = "AlbertForMaskedLM" if lm_head else "AlbertForPreTraining"
        return _save(directory, a, albert_config(name, **sizes))
    return _save(directory, albert_arrays(rng, **sizes), albert_config(**sizes))


def write_albert_google(directory, seed=0, **sizes):
    """A google-research/albert release: albert_config.json (Google's keys, "gelu" its tanh
    GELU), model.ckpt-best (bert/... and cls/... names, [in, out] kernels, optimizer slots)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    c = dict(ALBERT, **sizes)
    e_size, h, inter = c["embedding_size"], c["hidden_size"], c["intermediate_size"]
    a = {}

    def dense(name, n_in, n_out):
        a[f"{name}/kernel"] = rng.standard_normal((n_in, n_out)) * 0.2
        a[f"{name}/bias"] = rng.standard_normal(n_out) * 0.2

    def norm(name, width):
        a[f"{name}/gamma"] = 1.0 + rng.standard_normal(width) * 0.1
        a[f"{name}/beta"] = rng.standard_normal(width) * 0.1

    a["bert/embeddings/word_embeddings"] = rng.standard_normal((c["vocab_size"], e_size)) * 0.2
    a["bert/embeddings/position_embeddings"] = rng.standard_normal(
        (c["max_position_embeddings"], e_size)) * 0.2
    a["bert/embeddings/token_type_embeddings"] = rng.standard_normal(
        (c["type_vocab_size"], e_size)) * 0.2
    norm("bert/embeddings/LayerNorm", e_size)
    dense("bert/encoder/embedding_hidden_mapping_in", e_size, h)
    for g in range(c["num_hidden_groups"]):
        for j in range(c["inner_group_num"]):
            p = f"bert/encoder/transformer/group_{g}/inner_group_{j}/"
            for part in ("query", "key", "value"):
                dense(p + f"attention_1/self/{part}", h, h)
            dense(p + "attention_1/output/dense", h, h)
            norm(p + "LayerNorm", h)
            dense(p + "ffn_1/intermediate/dense", h, inter)
            dense(p + "ffn_1/intermediate/output/dense", inter, h)
            norm(p + "LayerNorm_1", h)
    dense("bert/pooler/dense", h, h)
    dense("cls/predictions/transform/dense", h, e_size)
    norm("cls/predictions/transform/LayerNorm", e_size)
    a["cls/predictions/output_bias"] = rng.standard_normal(c["vocab_size"]) * 0.2
    a["cls/seq_relationship/output_weights"] = rng.standard_normal((2, h)) * 0.2
    a["cls/seq_relationship/output_bias"] = rng.standard_normal(2) * 0.2
    a["bert/pooler/dense/kernel/lamb_m"] = np.zeros((h, h))
    a["global_step"] = np.array(1000, np.int64)
    os.makedirs(directory, exist_ok=True)
    names = sorted(a)
    tf.raw_ops.SaveV2(prefix=tf.constant(os.path.join(str(directory), "model.ckpt-best")),
                      tensor_names=tf.constant(names),
                      shape_and_slices=tf.constant([""] * len(names)),
                      tensors=[tf.constant(a[n] if a[n].dtype.kind == "i" else
                                           np.asarray(a[n], np.float32)) for n in names])
    config = {k: c[k] for k in ("vocab_size", "embedding_size", "hidden_size",
                                "num_hidden_layers", "num_hidden_groups", "inner_group_num",
                                "num_attention_heads", "intermediate_size",
                                "max_position_embeddings", "type_vocab_size")}
    config.update(hidden_act="gelu", attention_probs_dropout_prob=0, hidden_dropout_prob=0,
                  initializer_range=0.02, net_structure_type=0, gap_size=0,
                  num_memory_blocks=0, down_scale_factor=1)
    with open(os.path.join(str(directory), "albert_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    return str(directory), {k: np.asarray(v, np.float32) for k, v in a.items()
                            if v.dtype.kind == "f"}


def write_xlm_roberta(directory, seed=0, lm_head=False, **sizes):
    """An XLMRobertaModel directory (RoBERTa's names and config keys, model_type
    "xlm-roberta"), or with `lm_head` an XLMRobertaForMaskedLM one (xlm-roberta-base's layout)."""
    write_roberta(directory, seed=seed, lm_head=lm_head, **sizes)
    path = os.path.join(str(directory), "config.json")
    with open(path) as f:
        config = json.load(f)
    config.update(model_type="xlm-roberta", architectures=[
        "XLMRobertaForMaskedLM" if lm_head else "XLMRobertaModel"])
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    return str(directory)


def write_xlm_roberta_spm(directory, texts, vocab_size=300):
    """sentencepiece.bpe.model: a unigram model learned from `texts` by sentencepiece's own
    trainer with XLM-RoBERTa's piece layout (<unk> 0, <s> 1, </s> 2, no <pad>); returns its
    path."""
    import io

    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(list(texts)), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=0.9995, minloglevel=2, num_threads=1)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(str(directory), "sentencepiece.bpe.model")
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path
