"""The absl flags the training scripts share, defined once; defaults come from the settings dataclasses."""

from absl import flags

from bert_tf.training import run as run_lib


def define_training_flags(defaults: run_lib.TrainingSettings, export_help):
    """The training loop's flags (every script that trains), and --export_dir with its help."""
    d = defaults
    flags.DEFINE_string("output_dir", None, "Checkpoints, summaries and results go here.")
    flags.DEFINE_integer("save_checkpoints_steps", d.save_checkpoints_steps,
                         "Steps between checkpoints.")
    flags.DEFINE_integer("iterations_per_loop", d.iterations_per_loop, "Steps per tf.function "
                         "call (and per progress line).")
    flags.DEFINE_alias("steps_per_loop", "iterations_per_loop")
    flags.DEFINE_integer("keep_checkpoint_max", d.keep_checkpoint_max, "Checkpoints to keep.")
    flags.DEFINE_enum("distribution_strategy", d.distribution_strategy,
                      list(run_lib.STRATEGIES), "How to spread training over devices and hosts.")
    flags.DEFINE_bool("use_tpu", d.use_tpu, "Same as --distribution_strategy=tpu.")
    flags.DEFINE_string("tpu_name", d.tpu_name, "The TPU to use (empty for a TPU VM).")
    flags.DEFINE_enum("mixed_precision", d.mixed_precision, list(run_lib.PRECISIONS),
                      "Keras dtype policy; mixed_float16 adds dynamic loss scaling.")
    flags.DEFINE_enum("optimizer", d.optimizer, list(run_lib.OPTIMIZERS), "AdamW as in the "
                      "original, or LAMB for large batches.")
    flags.DEFINE_float("weight_decay", d.weight_decay, "Weight decay (not on LayerNorm and "
                       "biases).")
    flags.DEFINE_bool("adam_bias_correction", d.adam_bias_correction, "Bias-correct AdamW's "
                      "moments, as keras-hub and Hugging Face do (the fine-tuning scripts' "
                      "default: short runs on small data learn); false is google-research/bert's "
                      "exact optimizer (run_pretraining.py's default).")
    flags.DEFINE_integer("gradient_accumulation_steps", d.gradient_accumulation_steps,
                         "Micro-batches per optimizer step.")
    flags.DEFINE_bool("jit_compile", d.jit_compile, "Compile the training step (forward, "
                      "backward) with XLA.")
    flags.DEFINE_bool("recompute_activations", d.recompute_activations, "Keep only each "
                      "encoder block's input from the forward pass and recompute the block in "
                      "the backward pass: much less activation memory (a larger micro-batch "
                      "fits) for about a third more compute; the same gradients.")
    flags.DEFINE_integer("seed", d.seed, "Seed for initialization, shuffling, dropout, masking: "
                         "the same seed gives the same results.")
    flags.DEFINE_bool("deterministic", d.deterministic, "Use deterministic TensorFlow ops "
                      "(slower), so that a resumed run reproduces an uninterrupted one "
                      "exactly.")
    flags.DEFINE_integer("num_cpu_devices", d.num_cpu_devices, "Split the CPU into this many "
                         "logical devices (to try --distribution_strategy=mirrored without "
                         "GPUs).")
    flags.DEFINE_enum("tokenizer_ops", d.tokenizer_ops, list(run_lib.TOKENIZER_OPS),
                      "Tokenizer ops of the export: core TensorFlow ops, or tensorflow-text's "
                      "(see README; SentencePiece, ALBERT's, has text only).")
    flags.DEFINE_enum("serving_precision", d.serving_precision,
                      list(run_lib.SERVING_PRECISIONS), "What the --export_dir SavedModel "
                      "computes in: float32, or Keras mixed precision in bfloat16 (fast on CPUs "
                      "with AVX512-BF16/AMX and on TPUs) or float16 (GPUs); its signatures are "
                      "the same.")
    flags.DEFINE_bool("serving_xla", d.serving_xla, "The --export_dir SavedModel runs its model "
                      "XLA-compiled (jit_compile), sequence lengths padded to multiples of 32: "
                      "for GPUs; its signatures are the same.")
    flags.DEFINE_string("export_dir", None, export_help)


def define_finetuning_flags(defaults: run_lib.FineTuningSettings, export_help, predict_help,
                            eval_help="Evaluate on the dev set; writes eval_results.txt."):
    """google-research/bert's fine-tuning flags plus the training loop's."""
    d = defaults
    flags.DEFINE_string("vocab_file", None, "vocab.txt of the model (default: the one in "
                        "--init_checkpoint).")
    flags.DEFINE_string("bert_config_file", None, "bert_config.json of the model (default: the "
                        "checkpoint's).")
    flags.DEFINE_string("init_checkpoint", None, "A Google or Hugging Face release directory, "
                        "a checkpoint prefix, or a bert_tf run's output_dir.")
    flags.DEFINE_bool("do_lower_case", None, "Lower-case the input (default: what the "
                      "checkpoint says, else what its vocab implies).")
    flags.DEFINE_integer("max_seq_length", d.max_seq_length, "Tokens per example after "
                         "WordPiece, [CLS] and [SEP]s included; longer inputs are truncated.")
    flags.DEFINE_bool("do_train", False, "Fine-tune on the training data.")
    flags.DEFINE_bool("do_eval", False, eval_help)
    flags.DEFINE_bool("do_predict", False, predict_help)
    flags.DEFINE_integer("train_batch_size", d.train_batch_size, "Global training batch size.")
    flags.DEFINE_integer("eval_batch_size", d.eval_batch_size, "Evaluation batch size.")
    flags.DEFINE_integer("predict_batch_size", d.predict_batch_size, "Prediction batch size.")
    flags.DEFINE_float("learning_rate", d.learning_rate, "Peak learning rate.")
    flags.DEFINE_float("num_train_epochs", d.num_train_epochs, "Epochs of fine-tuning.")
    flags.DEFINE_float("warmup_proportion", d.warmup_proportion, "Fraction of steps to warm "
                       "up.")
    flags.DEFINE_bool("allow_untrained_head", d.allow_untrained_head, "With --do_eval or "
                      "--do_predict but no --do_train, accept a checkpoint without this task's "
                      "head (its outputs are then random).")
    flags.DEFINE_bool("pad_to_max_length", d.pad_to_max_length, "Pad every batch to "
                      "--max_seq_length (static shapes, for TPUs); by default a batch is padded "
                      "to its longest example and similar lengths are batched together.")
    define_distillation_flags(d)
    define_training_flags(d, export_help)


def define_distillation_flags(defaults, teacher=None, distributions=None, own_losses=None,
                              student_config="--bert_config_file"):
    """Distillation from a teacher: the fine-tuning scripts' flags (a fine-tuned teacher, the
    defaults' words) and run_pretraining.py's (a pretrained one, its own words and defaults).

    `teacher` says what the teacher is, `distributions` which distributions the temperature
    softens, `own_losses` what weighs 1 - alpha, `student_config` which flags give the
    student a shape of its own.
    """
    d = defaults
    teacher = teacher or ("a model fine-tuned for this task (a run's output_dir or its "
                          "finetuned/ release, any family and size, the student's vocab) whose "
                          "outputs the student learns")
    distributions = distributions or "the teacher's and the student's distributions"
    own_losses = own_losses or "the hard labels' loss"
    flags.DEFINE_string("teacher", d.teacher, f"Distill: {teacher}; it runs frozen in every "
                        "training step.")
    flags.DEFINE_float("distill_temperature", d.distill_temperature, "Distill: the softmax "
                       f"temperature T of {distributions} (the soft loss is T^2 times their KL "
                       "divergence).")
    flags.DEFINE_float("distill_alpha", d.distill_alpha, "Distill: the weight of the soft "
                       f"loss, and 1 - alpha that of {own_losses} (1: learn from the teacher "
                       "only).")
    flags.DEFINE_float("distill_hidden_weight", d.distill_hidden_weight, "Distill: the weight "
                       "of TinyBERT's hidden-state loss, the mean squared error between each "
                       "student layer's output and a teacher layer's (uniform mapping: the "
                       "last student layer learns the teacher's last), through a learned "
                       "projection where the hidden sizes differ (trained and checkpointed, "
                       "never exported; 0: off).")
    flags.DEFINE_float("distill_attention_weight", d.distill_attention_weight, "Distill: the "
                       "weight of TinyBERT's attention-map loss, the squared difference "
                       "between the attention probabilities of the same layers as "
                       "--distill_hidden_weight's, head by head (the head counts must agree; "
                       "0: off).")
    flags.DEFINE_string("student_layers_from_teacher", d.student_layers_from_teacher,
                        "Distill: start the student from the teacher's weights, student layer "
                        "i from teacher layer 2i (every_other, DistilBERT's) or from the "
                        f"teacher layers listed (0,2,5); without {student_config} the student "
                        "is the teacher with that many layers.")
