"""Pretraining objectives at equal FLOPs: MLM + NSP, MLM only, ELECTRA, ALBERT (sharing + SOP), each fine-tuned on the demo's library task, tagging and QA.

On the demo's docstring corpus (quickstart.py's builders), one encoder shape
(--objectives_preset, the demo's tiny BERT by default) is pretrained with

- `bert`: BERT's masked LM + next-sentence prediction (BertPretrainer);
- `mlm`: the same model and records with the masked-LM loss alone (the
  next-sentence head gets no gradient: RoBERTa's objective, without its
  byte-level BPE and full-sentence packing, so that only the NSP loss differs);
- `electra`: replaced-token detection, a discriminator of that shape and a
  generator of 1/4 its width (--generator_hidden_size=0.25), embeddings shared;
- `albert`: ALBERT's one shared layer group applied num_hidden_layers times,
  masked LM + sentence-order prediction, on a SentencePiece unigram model
  learned from the same corpus with the same vocabulary size (ALBERT's
  tokenizer); its embedding_size is --objectives_albert_embedding_size.

Every objective gets the same pretraining budget in FLOPs: --objectives_pretrain_steps
of `bert` set it, and each other objective gets the steps whose FLOPs (3x the
forward matmuls of the encoders and heads it runs, ELECTRA's generator
included) come closest to it. run_pretraining.py's in-process run trains
each; run_classifier.py's fine-tunes each release on the library task and
run_tagging.py's on bench/text_data.py's rule-tagged docstring sentences and
run_squad.py's on its generated SQuAD questions (--objectives_tasks; QA is
not in the default), over --objectives_seeds; the table gives held-out
accuracy and F1 per seed, mean and spread. Every run is float32.
"""

import os
import shutil
import statistics
import tempfile
import time

from absl import flags, logging

from bench import harness

FLAGS = flags.FLAGS
# Not part of `all`: it measures what the models learn, not speed, for about 12 minutes.
IN_ALL = False
OBJECTIVES = ("bert", "mlm", "electra", "albert")
flags.DEFINE_list("objectives", list(OBJECTIVES), "Which objectives to compare: "
                  + ", ".join(OBJECTIVES) + ".")
flags.register_validator(
    "objectives", lambda names: bool(names) and all(name in OBJECTIVES for name in names),
    f"--objectives takes one or more of {', '.join(OBJECTIVES)}")
flags.DEFINE_string("objectives_preset", "tiny", "BertConfig preset of the encoder every "
                    "objective trains (tiny: 2 layers, hidden 128, the demo's).")
flags.DEFINE_list("objectives_seeds", ["1", "2", "3"], "Seeds (initialization, masking order, "
                  "dropout, shuffling); the data are the same for every seed.")
flags.register_validator(
    "objectives_seeds", lambda seeds: bool(seeds) and all(s.isdigit() for s in seeds),
    "--objectives_seeds takes non-negative integers, e.g. 1,2,3")
flags.DEFINE_integer("objectives_pretrain_steps", 800, "Pretraining steps of MLM + NSP; they "
                     "set the FLOP budget every objective gets.")
flags.DEFINE_integer("objectives_batch_size", 32, "Pretraining batch size.")
flags.DEFINE_integer("objectives_seq_length", 32, "Pretraining and fine-tuning sequence length.")
flags.DEFINE_integer("objectives_predictions", 5, "Masked positions per pretraining sequence.")
flags.DEFINE_float("objectives_learning_rate", 1e-3, "Pretraining peak learning rate (all "
                   "objectives).")
flags.DEFINE_float("objectives_corpus_mb", 1.5, "Size of the docstring corpus.")
flags.DEFINE_integer("objectives_vocab_size", 4096, "WordPiece vocab size; the SentencePiece "
                     "model gets the same.")
flags.DEFINE_integer("objectives_albert_embedding_size", 0, "ALBERT's embedding_size (0: the "
                     "hidden size, no factorization).")
flags.DEFINE_integer("objectives_sentences_per_library", 300, "Fine-tuning sentences per "
                     "library (a quarter as many held out).")
TASKS = ("library", "tagging", "qa")
flags.DEFINE_list("objectives_tasks", ["library", "tagging"], "Fine-tuning tasks: library (the "
                  "demo's which-library classifier, accuracy), tagging (bench/text_data.py's "
                  "rule-tagged docstring sentences in CoNLL columns, entity F1), qa "
                  "(bench/text_data.py's SQuAD v1.1 questions on docstring paragraphs, F1).")
flags.register_validator(
    "objectives_tasks", lambda names: bool(names) and set(names) <= set(TASKS),
    f"--objectives_tasks takes one or more of {', '.join(TASKS)}")
flags.DEFINE_integer("objectives_qa_paragraphs", 120, "QA training paragraphs (up to 3 "
                     "questions each; a quarter as many held out).")
flags.DEFINE_integer("objectives_qa_seq_length", 64, "QA window length (question and context; "
                     "positions past --objectives_seq_length were not pretrained).")
flags.DEFINE_integer("objectives_tagging_sentences", 600, "Tagging training sentences (a quarter "
                     "as many held out).")
flags.DEFINE_float("objectives_finetune_epochs", 3.0, "Fine-tuning epochs.")
flags.DEFINE_float("objectives_finetune_learning_rate", 1e-3, "Fine-tuning peak learning rate.")
flags.DEFINE_string("objectives_dir", None, "Where corpora, records and runs go (default: a "
                    "temporary directory, removed at the end).")

METRICS = {"library": "acc.", "tagging": "F1", "qa": "F1"}
DESCRIPTIONS = {"bert": "MLM + NSP (BERT)", "mlm": "MLM only", "electra": "ELECTRA (RTD)",
                "albert": "ALBERT (shared layers + SOP)"}


# ------------------------------------------------------------------- FLOPs


def _no_pooler(config, b, t):
    return harness.encoder_flops(config, b, t) - b * 2 * config.hidden_size ** 2


def forward_flops(objective, config, b, t, k, generator=None):
    """Matmul FLOPs of one forward pass of `objective`'s pretraining model on a [b, t] batch
    with k masked positions per sequence: encoders and heads (embedding lookups, softmax and
    sampling excluded). `config` is the objective's own config (BertConfig, ElectraConfig,
    AlbertConfig); `generator` ELECTRA's generator config."""
    h, v = config.hidden_size, config.vocab_size
    pair_head = b * 2 * h * 2  # next-sentence / sentence-order classifier on the pooler
    if objective in ("bert", "mlm"):
        mlm = b * k * 2 * (h * h + h * v)  # transform, then the tied vocabulary projection
        return harness.encoder_flops(config, b, t) + mlm + pair_head
    if objective == "albert":
        e = config.embedding_size
        mapping = b * t * 2 * e * h  # embedding_hidden_mapping_in
        mlm = b * k * 2 * (h * e + e * v)  # transform to E, then the tied table
        return harness.encoder_flops(config, b, t) + mapping + mlm + pair_head
    if objective == "electra":
        e, g = config.embedding_size, generator.hidden_size
        flops = _no_pooler(config, b, t) + b * t * 2 * (h * h + h)  # discriminator + its head
        flops += b * t * 2 * e * h if e != h else 0
        flops += _no_pooler(generator, b, t) + b * k * 2 * (g * e + e * v)  # generator + head
        flops += b * t * 2 * e * g if e != g else 0
        return flops
    raise ValueError(f"unknown objective {objective!r}")


def equal_budget_steps(per_step, reference="bert", reference_steps=1):
    """{objective: steps} whose total FLOPs come closest to `reference_steps` of `reference`
    (at least 1 each): `per_step` maps objective -> training FLOPs of one step."""
    budget = per_step[reference] * reference_steps
    return {name: max(1, round(budget / flop)) for name, flop in per_step.items()}


def spread(values):
    """"mean ± sample standard deviation" (± 0 for one value)."""
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:.3f} ± {sd:.3f}"


# -------------------------------------------------------------------- data


def write_spiece(path, text_file, vocab_size):
    """A unigram SentencePiece model (ALBERT's settings: <pad> 0, <unk> 1, [CLS] [SEP] [MASK])
    learned from the lower-cased `text_file` with the sentencepiece package's trainer, and the
    tokenizer_config.json of a lower-casing ALBERT beside it."""
    import io
    import json

    import sentencepiece as spm

    with open(text_file, encoding="utf-8") as f:
        lines = [line.strip().lower() for line in f if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size,
        model_type="unigram", pad_id=0, unk_id=1, bos_id=-1, eos_id=-1,
        control_symbols=["[CLS]", "[SEP]", "[MASK]"], character_coverage=0.9995,
        minloglevel=2, num_threads=os.cpu_count() or 1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(model.getvalue())
    with open(os.path.join(os.path.dirname(path), "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "keep_accents": False, "remove_space": True,
                   "tokenizer_class": "AlbertTokenizer"}, f)
    return path


def prepare_data(work, t, k):
    """Corpus, both vocabularies, both kinds of records, the library task: a dict of paths."""
    import quickstart  # the demo's corpus and task builders
    from bert_tf.tokenization import BertTokenizer, SentencePieceTokenizer, vocab_learning
    from tasks.pretraining import records as pretraining_records

    corpus, size, documents = quickstart.write_corpus(os.path.join(work, "corpus"),
                                                      FLAGS.objectives_corpus_mb * 1e6)
    counts = vocab_learning.count_words([corpus["train"]], lower_case=True)
    vocab = vocab_learning.learn_vocab(counts, FLAGS.objectives_vocab_size)
    vocab_file = os.path.join(work, "wordpiece", "vocab.txt")
    os.makedirs(os.path.dirname(vocab_file))
    with open(vocab_file, "w", encoding="utf-8") as f:
        f.write("".join(token + "\n" for token in vocab))
    spiece = write_spiece(os.path.join(work, "spiece", "spiece.model"), corpus["train"],
                          FLAGS.objectives_vocab_size)
    tokenizers = {"wordpiece": BertTokenizer(vocab_file, do_lower_case=True),
                  "spiece": SentencePieceTokenizer.from_model_file(spiece, do_lower_case=True)}
    data = {"vocab": {"wordpiece": vocab_file, "spiece": spiece}, "records": {}}
    for kind, tokenizer in tokenizers.items():
        options = pretraining_records.options_for(
            tokenizer, max_seq_length=t, max_predictions_per_seq=k, dupe_factor=2,
            sentence_order=kind == "spiece")
        for split in ("train", "eval"):
            path = os.path.join(work, "records", f"{kind}-{split}.tfrecord")
            pretraining_records.create_pretraining_records(
                [corpus[split]], [path], tokenizer, options, random_seed=1, num_workers=0)
            data["records"][kind, split] = path
    data["vocab_sizes"] = {kind: tok.vocab_size for kind, tok in tokenizers.items()}
    data["library"] = os.path.join(work, "library_task")
    n_train, n_dev, majority = quickstart.write_library_dataset(
        data["library"], FLAGS.objectives_sentences_per_library)
    print(f"corpus {size / 1e6:.2f} MB, {documents} documents; WordPiece {vocab_size_line(data)}; "
          f"library task: {n_train} training, {n_dev} held-out sentences, majority class "
          f"{majority:.3f}", flush=True)
    data["majority"] = majority
    if "tagging" in FLAGS.objectives_tasks:
        from bench import text_data

        n = FLAGS.objectives_tagging_sentences
        data["tagging"] = text_data.write_tagging(text_data.tagging_set(n, n // 4, seed=1),
                                                  os.path.join(work, "tagging_task"))
        print(f"tagging task: {n} training, {n // 4} held-out sentences", flush=True)
    if "qa" in FLAGS.objectives_tasks:
        from bench import text_data

        n = FLAGS.objectives_qa_paragraphs
        data["qa"] = text_data.write_squad(text_data.qa_set(n, max(n // 4, 1), seed=1),
                                           os.path.join(work, "qa_task"))
        print(f"QA task: {n} training, {max(n // 4, 1)} held-out paragraphs", flush=True)
    return data


def vocab_size_line(data):
    sizes = data["vocab_sizes"]
    return f"{sizes['wordpiece']} tokens, SentencePiece {sizes['spiece']}"


# ----------------------------------------------------------------- configs


def configs(data):
    """{objective: config} of one encoder shape: the preset's, each family's own config."""
    from bert_tf import BertConfig
    from bert_tf.models.albert.config import AlbertConfig
    from bert_tf.models.electra.config import ElectraConfig

    bert = BertConfig.preset(FLAGS.objectives_preset,
                             vocab_size=data["vocab_sizes"]["wordpiece"],
                             max_position_embeddings=128)
    shape = dict(hidden_size=bert.hidden_size, num_hidden_layers=bert.num_hidden_layers,
                 num_attention_heads=bert.num_attention_heads,
                 intermediate_size=bert.intermediate_size, hidden_act=bert.hidden_act,
                 hidden_dropout_prob=bert.hidden_dropout_prob,
                 attention_probs_dropout_prob=bert.attention_probs_dropout_prob,
                 max_position_embeddings=bert.max_position_embeddings)
    electra = ElectraConfig(vocab_size=bert.vocab_size, embedding_size=bert.hidden_size, **shape)
    albert = AlbertConfig(vocab_size=data["vocab_sizes"]["spiece"],
                          embedding_size=FLAGS.objectives_albert_embedding_size or bert.hidden_size,
                          num_hidden_groups=1, inner_group_num=1, **shape)
    return {"bert": bert, "mlm": bert, "electra": electra, "albert": albert}


def parameter_count(config):
    """The encoder's parameters (what fine-tuning starts from), from a built encoder."""
    from bert_tf.models import registry

    encoder = registry.family_of(config).encoder_class()(config)
    encoder(harness.random_batch(config, 1, 8))
    return sum(int(w.shape.num_elements()) for w in encoder.weights)


# ------------------------------------------------------------------- runs


def pretrain(objective, config, steps, data, work, seed, t, k, b):
    """Pretrains with run_pretraining.py's in-process run; returns (release dir, held-out
    metrics, seconds of training)."""
    from tasks.pretraining.run import PretrainingRun, PretrainingSettings

    from bert_tf.models.bert.pretraining_objective import MaskedLMObjective

    class MaskedLMOnlyRun(PretrainingRun):
        """BertPretrainer on the masked-LM loss alone: its next-sentence head is not trained."""

        def build_objective(self):
            return MaskedLMObjective()

    kind = "spiece" if objective == "albert" else "wordpiece"
    out = os.path.join(work, "runs", f"{objective}-{seed}")
    config_file = os.path.join(work, "configs", f"{objective}.json")
    os.makedirs(os.path.dirname(config_file), exist_ok=True)
    config.to_json_file(config_file)
    config_flag = ({"bert_config_file": config_file} if objective in ("bert", "mlm")
                   else {"model_config_file": config_file})
    settings = PretrainingSettings(
        input_file=data["records"][kind, "train"], eval_input_file=data["records"][kind, "eval"],
        output_dir=out, vocab_file=data["vocab"][kind], do_train=True, do_eval=True,
        train_batch_size=b, eval_batch_size=64, max_seq_length=t, max_predictions_per_seq=k,
        num_train_steps=steps, num_warmup_steps=steps // 10,
        learning_rate=FLAGS.objectives_learning_rate, adam_bias_correction=True,
        save_checkpoints_steps=steps, iterations_per_loop=min(100, steps), max_eval_steps=20,
        seed=seed, log=lambda line: None, **config_flag)
    run = (MaskedLMOnlyRun if objective == "mlm" else PretrainingRun)(settings)
    try:
        start = time.perf_counter()
        run.train()
        seconds = time.perf_counter() - start
        metrics = run.evaluate(write=False)
    finally:
        run.close()
    return os.path.join(out, "pretrained"), metrics, seconds


def finetune(release, data, work, name, seed, t):
    """Fine-tunes `release` on the library task with run_classifier.py's in-process run;
    returns held-out accuracy."""
    from tasks.classification import run as classifier_run

    job = classifier_run.ClassifierRun(classifier_run.ClassifierSettings(
        task_name="custom", data_dir=data["library"], init_checkpoint=release,
        output_dir=os.path.join(work, "classifier", name), do_train=True, do_eval=True,
        max_seq_length=t, train_batch_size=32, eval_batch_size=64,
        learning_rate=FLAGS.objectives_finetune_learning_rate,
        num_train_epochs=FLAGS.objectives_finetune_epochs, iterations_per_loop=100, seed=seed,
        log=lambda line: None))
    try:
        job.train()
        return job.evaluate()["eval_accuracy"]
    finally:
        job.close()


def tag(release, data, work, name, seed, t):
    """Fine-tunes `release` on the tagging task with run_tagging.py's in-process run; returns
    held-out entity F1."""
    from tasks.tagging import run as tagging_run

    job = tagging_run.TaggerRun(tagging_run.TaggerSettings(
        **data["tagging"], init_checkpoint=release,
        output_dir=os.path.join(work, "tagger", name), do_train=True, do_eval=True,
        max_seq_length=t, train_batch_size=32, eval_batch_size=64,
        learning_rate=FLAGS.objectives_finetune_learning_rate,
        num_train_epochs=FLAGS.objectives_finetune_epochs, iterations_per_loop=100, seed=seed,
        log=lambda line: None))
    try:
        job.train()
        return float(job.evaluate()["eval_f1"])
    finally:
        job.close()


def answer(release, data, work, name, seed):
    """Fine-tunes `release` on the QA task with run_squad.py's in-process run; returns held-out
    F1 (SQuAD v1.1's, as a fraction)."""
    from tasks.question_answering import run as squad_run

    t = FLAGS.objectives_qa_seq_length
    settings = squad_run.SquadSettings(
        **data["qa"], init_checkpoint=release, output_dir=os.path.join(work, "squad", name),
        do_train=True, do_predict=True, max_seq_length=t, doc_stride=t // 4,
        max_query_length=t // 4, train_batch_size=32, predict_batch_size=64,
        learning_rate=FLAGS.objectives_finetune_learning_rate,
        num_train_epochs=FLAGS.objectives_finetune_epochs, iterations_per_loop=100, seed=seed,
        log=lambda line: None)
    job = squad_run.SquadRun(settings)
    try:
        job.train()
        job.predict()
    finally:
        job.close()
    with open(os.path.join(settings.output_dir, squad_run.EVAL_RESULTS_FILE)) as f:
        results = dict(line.split(" = ") for line in f.read().splitlines())
    return float(results["f1"]) / 100


def run(ceilings):
    del ceilings  # float32 throughout: the budget is FLOPs, not seconds
    logging.set_verbosity(logging.WARNING)  # the runs' checkpoint and loading lines
    seeds = [int(s) for s in FLAGS.objectives_seeds]
    b, t = FLAGS.objectives_batch_size, FLAGS.objectives_seq_length
    k = min(FLAGS.objectives_predictions, t - 1)
    work = FLAGS.objectives_dir or tempfile.mkdtemp(prefix="bench_objectives_")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    try:
        data = prepare_data(work, t, k)
        found = configs(data)
        generator = found["electra"].generator(0.25, 1.0)
        per_step = {name: harness.TRAIN_FLOP_FACTOR * forward_flops(
            name, found[name], b, t, k, generator=generator) for name in OBJECTIVES}
        steps = equal_budget_steps(per_step, "bert", FLAGS.objectives_pretrain_steps)
        bert = found["bert"]
        print(f"encoder: {FLAGS.objectives_preset} ({bert.num_hidden_layers} layers, hidden "
              f"{bert.hidden_size}, {bert.num_attention_heads} heads, intermediate "
              f"{bert.intermediate_size}); batch {b} x {t} tokens, {k} masked positions; "
              f"budget {per_step['bert'] * FLAGS.objectives_pretrain_steps / 1e12:.3f} TFLOP "
              f"of training per objective ({FLAGS.objectives_pretrain_steps} MLM + NSP steps); "
              f"ELECTRA's generator: hidden {generator.hidden_size}, "
              f"{generator.num_hidden_layers} layers; seeds {seeds}", flush=True)
        results = {name: [] for name in FLAGS.objectives}
        for seed in seeds:
            for name in FLAGS.objectives:
                release, metrics, seconds = pretrain(name, found[name], steps[name], data, work,
                                                     seed, t, k, b)
                scores = {}
                if "library" in FLAGS.objectives_tasks:
                    scores["library"] = finetune(release, data, work, f"{name}-{seed}", seed, t)
                if "tagging" in FLAGS.objectives_tasks:
                    scores["tagging"] = tag(release, data, work, f"{name}-{seed}", seed, t)
                if "qa" in FLAGS.objectives_tasks:
                    scores["qa"] = answer(release, data, work, f"{name}-{seed}", seed)
                results[name].append((scores, metrics, seconds))
                mlm = metrics.get("masked_lm_accuracy")
                print(f"  seed {seed} {name}: {steps[name]} steps in {seconds:.0f} s, held-out "
                      f"masked-LM accuracy {mlm:.3f}, "
                      + ", ".join(f"{task} {score:.3f}" for task, score in scores.items()),
                      flush=True)
                harness.release()
        header = ["objective", "encoder params", "steps", "GFLOP/step", "pretraining s",
                  "held-out MLM acc."]
        for task in FLAGS.objectives_tasks:
            header += [f"{task} {METRICS[task]} per seed", f"{task} {METRICS[task]} mean ± sd"]
        rows = []
        for name in FLAGS.objectives:
            mlm = [r[1].get("masked_lm_accuracy", float("nan")) for r in results[name]]
            row = [DESCRIPTIONS[name], f"{parameter_count(found[name]):,}", steps[name],
                   f"{per_step[name] / 1e9:.2f}",
                   f"{statistics.fmean(r[2] for r in results[name]):.0f}", spread(mlm)]
            for task in FLAGS.objectives_tasks:
                scores = [r[0][task] for r in results[name]]
                row += [", ".join(f"{a:.3f}" for a in scores), spread(scores)]
            rows.append(row)
        harness.print_table(
            f"pretraining objectives at equal FLOPs, {FLAGS.objectives_preset} encoder, "
            f"fine-tuned on {' and '.join(FLAGS.objectives_tasks)} (library majority class "
            f"{data['majority']:.3f}), seeds "
            f"{','.join(map(str, seeds))}", header, rows)
        print("ELECTRA's held-out MLM accuracy is its generator's (1/4 width); ALBERT's is over "
              "SentencePiece tokens, the others' over WordPiece tokens.", flush=True)
    finally:
        if not FLAGS.objectives_dir:
            shutil.rmtree(work, ignore_errors=True)
