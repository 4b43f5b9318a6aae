"""What run_pretraining.py does, given its flags: validate, build, train, evaluate, export."""

import os

import keras
import tensorflow as tf

from bert_tf import checkpoints, distribution, optimization, pretraining_inputs, training
from bert_tf.config import BertConfig
from bert_tf.pretraining import BertPretrainer, PretrainingTask
from bert_tf.vocab_learning import list_input_files


class FlagError(ValueError):
    """Inconsistent or impossible flags; the message names the flag."""


def user_errors():
    """Errors that mean bad input rather than a bug: scripts print them without a traceback."""
    from bert_tf.checkpoints import CheckpointMismatchError
    from bert_tf.config import ConfigError
    from bert_tf.tokenization import VocabError

    return (FlagError, ConfigError, FileNotFoundError, pretraining_inputs.RecordError,
            CheckpointMismatchError, VocabError)


def resolve_config(flags):
    if flags.bert_config_file:
        return BertConfig.from_json_file(flags.bert_config_file)
    if flags.init_checkpoint:
        return checkpoints.resolve(flags.init_checkpoint).config
    raise FlagError("--bert_config_file is required (or an --init_checkpoint that has one)")


def input_files(pattern, flag):
    try:
        return list_input_files(pattern)
    except FileNotFoundError as e:
        raise FlagError(f"--{flag}: {e}") from None


def validate(flags, config, num_replicas):
    """Checks flags against each other, the config and the data, before anything is built."""
    if not (flags.do_train or flags.do_eval):
        raise FlagError("nothing to do: pass --do_train and/or --do_eval")
    if flags.max_seq_length > config.max_position_embeddings:
        raise FlagError(f"--max_seq_length={flags.max_seq_length} exceeds the model's "
                        f"max_position_embeddings {config.max_position_embeddings}")
    if flags.max_predictions_per_seq > flags.max_seq_length:
        raise FlagError("--max_predictions_per_seq cannot exceed --max_seq_length")
    k = flags.gradient_accumulation_steps
    if k < 1:
        raise FlagError("--gradient_accumulation_steps must be at least 1")
    for name in ("train_batch_size", "eval_batch_size"):
        size = getattr(flags, name)
        step = num_replicas * (k if name == "train_batch_size" else 1)
        if size < 1 or size % step:
            raise FlagError(f"--{name}={size} is not divisible by {num_replicas} replica(s)"
                            + (f" x {k} accumulation steps" if name == "train_batch_size"
                               and k > 1 else ""))
    if flags.do_train and flags.num_warmup_steps > flags.num_train_steps:
        raise FlagError("--num_warmup_steps exceeds --num_train_steps")
    if flags.save_checkpoints_steps < 1 or flags.iterations_per_loop < 1:
        raise FlagError("--save_checkpoints_steps and --iterations_per_loop must be positive")
    if (flags.dynamic_masking or flags.do_whole_word_mask) and not flags.vocab_file:
        raise FlagError("--dynamic_masking needs --vocab_file")
    if flags.do_whole_word_mask and not flags.dynamic_masking:
        raise FlagError("--do_whole_word_mask applies to --dynamic_masking (offline records "
                        "choose their masks in create_pretraining_data.py)")
    files = {"train": input_files(flags.input_file, "input_file")}
    files["eval"] = (input_files(flags.eval_input_file, "eval_input_file")
                     if flags.eval_input_file else files["train"])
    masked = {}
    for kind, names in files.items():
        try:
            masked[kind] = pretraining_inputs.check_records(
                names, flags.max_seq_length, flags.max_predictions_per_seq)
        except (pretraining_inputs.RecordError, FileNotFoundError) as e:
            raise FlagError(f"--input_file: {e}") from None
        if not masked[kind] and not flags.dynamic_masking:
            raise FlagError(f"{names[0]} holds unmasked records: pass --dynamic_masking "
                            "and --vocab_file")
    return files


def masking_options(flags):
    if not flags.dynamic_masking:
        return None
    from bert_tf.tokenization import BertTokenizer

    tokenizer = BertTokenizer(flags.vocab_file, do_lower_case=False)  # vocab facts only
    return pretraining_inputs.MaskingOptions.from_tokenizer(
        tokenizer, whole_word=flags.do_whole_word_mask)


def write_eval_results(path, results):
    """google-research/bert's eval_results.txt: sorted `key = value` lines."""
    with tf.io.gfile.GFile(path, "w") as f:
        for key in sorted(results):
            f.write(f"{key} = {results[key]}\n")


def run(flags):
    distribution.split_cpu(flags.num_cpu_devices)
    keras.utils.set_random_seed(flags.seed)
    if flags.deterministic:
        tf.config.experimental.enable_op_determinism()
    strategy_name = "tpu" if flags.use_tpu else flags.distribution_strategy
    strategy = distribution.create_strategy(strategy_name, flags.tpu_name)
    config = resolve_config(flags)
    files = validate(flags, config, strategy.num_replicas_in_sync)
    masking = masking_options(flags)
    is_chief = distribution.is_chief()
    if is_chief:
        tf.io.gfile.makedirs(flags.output_dir)
        config.to_json_file(os.path.join(flags.output_dir, "bert_config.json"))

    options = training.TrainingOptions(
        output_dir=flags.output_dir, num_train_steps=flags.num_train_steps,
        steps_per_loop=flags.iterations_per_loop,
        save_checkpoints_steps=flags.save_checkpoints_steps,
        max_checkpoints=flags.keep_checkpoint_max,
        gradient_accumulation_steps=flags.gradient_accumulation_steps,
        loss_scaling=flags.mixed_precision == "mixed_float16", jit_compile=flags.jit_compile)
    trainer = training.Trainer(
        strategy, PretrainingTask(),
        build_model=lambda: BertPretrainer(config, dtype=flags.mixed_precision),
        build_optimizer=lambda: optimization.create_optimizer(
            flags.optimizer, flags.learning_rate, flags.num_train_steps, flags.num_warmup_steps,
            weight_decay=flags.weight_decay),
        options=options)

    def dataset_fn(kind, global_batch):
        def make(context, skip_batches=0):
            return pretraining_inputs.pretraining_dataset(
                files[kind], context.get_per_replica_batch_size(global_batch),
                flags.max_seq_length, flags.max_predictions_per_seq,
                is_training=kind == "train", masking=masking, seed=flags.seed,
                input_context=context, skip_batches=skip_batches)
        return make

    if flags.do_train:
        resuming = tf.train.latest_checkpoint(flags.output_dir) is not None
        if flags.init_checkpoint and not resuming:
            release = checkpoints.load_weights(trainer.model, flags.init_checkpoint,
                                               strict=False)
            print(f"Initialized from {release.format} checkpoint {flags.init_checkpoint}")
        trainer.train(dataset_fn("train", flags.train_batch_size), flags.train_batch_size)
        if is_chief:
            exported = os.path.join(flags.output_dir, "pretrained")
            trainer.model.save_pretrained(exported, vocab_file=flags.vocab_file)
            print(f"Exported the trained model in Google's format to {exported}")
    elif flags.init_checkpoint and not tf.train.latest_checkpoint(flags.output_dir):
        checkpoints.load_weights(trainer.model, flags.init_checkpoint, strict=False)
    else:
        trainer.restore_or_initialize()

    if flags.do_eval:
        results = trainer.evaluate(dataset_fn("eval", flags.eval_batch_size),
                                   max_steps=flags.max_eval_steps)
        results["global_step"] = int(trainer.global_step.numpy())
        if is_chief:
            path = os.path.join(flags.output_dir, "eval_results.txt")
            write_eval_results(path, results)
            print("Evaluation: " + ", ".join(f"{k} = {v:.4f}" if isinstance(v, float)
                                             else f"{k} = {v}" for k, v in sorted(results.items())))
    return trainer
