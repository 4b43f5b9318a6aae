"""ElectraPretrainer: a small masked-LM generator and the discriminator trained jointly on replaced-token detection (ELECTRA)."""

# B=batch, T=sequence, K=masked positions, V=vocab size, H=hidden size (discriminator),
# G=generator hidden size, E=embedding size

import json
import os

import keras
import numpy as np
import tensorflow as tf

from bert_tf.checkpoints.table import NameTable
from bert_tf.layers import activations
from bert_tf.layers.encoder_block import TransformerEncoderBlock
from bert_tf.models.config_model import ConfigModel
from bert_tf.models.electra import checkpoint_names
from bert_tf.models.electra.config import ElectraConfig
from bert_tf.models.electra.objective import ElectraObjective
from bert_tf.models.masked_lm import MaskedLMHead

GENERATOR_DIRECTORY = "generator"  # the generator's release, inside the discriminator's


@keras.saving.register_keras_serializable(package="bert_tf")
class ElectraPretrainer(MaskedLMHead, ConfigModel):
    """ELECTRA pretraining (google-research/electra's PretrainingModel, its defaults).

    The generator is a masked LM `generator_hidden_size` times the
    discriminator's width and `generator_layers` times its depth (see
    ElectraConfig.generator); it reads the discriminator's embedding tables
    (word, position, segment and their LayerNorm: shared, as the original's
    tied embeddings), with a projection of its own from E to G where they
    differ, and its masked-LM head's decoder is the shared word table. At
    the masked positions, tokens sampled from its softmax (at `temperature`;
    no gradient flows through the sampling) replace the masked ones; the
    discriminator (`encoder`, an ElectraEncoder) then tells, at every real
    token, whether it was replaced (a sampled token equal to the original
    counts as original). The ElectraObjective weighs the discriminator's
    loss `disc_weight` (50) and the generator's `gen_weight` (1).

    Call: `model(batch, training=None)` with int `[B, T]` input_ids (the
    masked records create_pretraining_data.py writes), input_mask,
    segment_ids, and int `[B, K]` masked_lm_positions, masked_lm_ids (the
    original tokens), float `[B, K]` masked_lm_weights. Returns float32
    "mlm_logits" `[B, K, V]`, "disc_logits" `[B, T]`, "disc_labels" `[B, T]`
    (1.0 where replaced) and int32 "sampled_ids" `[B, K]`. Without
    masked_lm_ids (a fill-mask request) only the generator runs: "mlm_logits".
    Training samples from a Keras seed generator, whose state a training
    checkpoint saves, so that a resumed run samples as an uninterrupted one;
    inference (evaluation) from a fixed seed.

    Checkpoints: the discriminator is `encoder` (what fine-tuning reads from
    a run's directory); google-research/electra's TF1 checkpoints are read
    whole (electra/, generator/, generator_predictions/,
    discriminator_predictions/). `save_pretrained` writes Hugging Face's two
    releases: the discriminator (ElectraForPreTraining) and, in its
    "generator" folder, the generator (ElectraForMaskedLM), which
    `from_pretrained` reads back when it is there.
    """

    config_class = ElectraConfig
    objective_class = ElectraObjective  # what run_pretraining.py trains it on
    # run_pretraining.py's flags that are this model's arguments (google-research/electra's names).
    flag_arguments = ("generator_hidden_size", "generator_layers", "temperature")

    def __init__(self, config, generator_hidden_size=0.25, generator_layers=1.0,
                 temperature=1.0, seed=None, **kwargs):
        super().__init__(config, **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.generator_hidden_size = float(generator_hidden_size)
        self.generator_layers = float(generator_layers)
        self.temperature = float(temperature)
        self.seed = seed
        policy = self.dtype_policy
        self.encoder = self.head_encoder()
        self.generator_config = self.config.generator(generator_hidden_size, generator_layers)
        gen = self.generator_shape = self.generator_config.encoder_shape()
        init = keras.initializers.TruncatedNormal(stddev=self.config.initializer_range)
        self.generator_projection = None
        if gen.embedding_size != gen.hidden_size:
            self.generator_projection = keras.layers.Dense(
                gen.hidden_size, kernel_initializer=init, dtype=policy,
                name="generator_projection")
        self.generator_blocks = [
            TransformerEncoderBlock(
                num_attention_heads=gen.num_heads, intermediate_size=gen.intermediate_size,
                hidden_act=gen.activation, hidden_dropout=gen.hidden_dropout,
                attention_dropout=gen.attention_dropout, layer_norm_eps=gen.layer_norm_eps,
                initializer_range=gen.initializer_range, dtype=policy,
                name=f"generator_layer_{i}")
            for i in range(gen.num_layers)]
        for i, block in enumerate(self.generator_blocks):  # tracked by tf.train.Checkpoint too
            setattr(self, f"generator_layer_{i}", block)
        # google-research/electra's generator head applies hidden_act (Hugging Face's, "gelu").
        self.add_masked_lm_head(gen, gen.activation)
        self.discriminator_dense = keras.layers.Dense(
            self.config.hidden_size, kernel_initializer=init, dtype=policy,
            name="discriminator_dense")
        self.discriminator_activation = activations.get(self.encoder.shape.activation)
        self.discriminator_prediction = keras.layers.Dense(
            1, kernel_initializer=init, dtype=policy, name="discriminator_prediction")
        self.sampling_seed = keras.random.SeedGenerator(seed, name="sampling_seed_generator")
        self.build()

    @staticmethod
    def check_arguments(config, generator_hidden_size=0.25, generator_layers=1.0, **unused):
        """ConfigError (naming the flags) for generator sizes that give no valid generator."""
        from bert_tf.models.bert.config import ConfigError

        try:
            config.generator(generator_hidden_size, generator_layers)
        except ConfigError as e:
            raise ConfigError(f"--generator_hidden_size={generator_hidden_size} and "
                              f"--generator_layers={generator_layers} give no generator of "
                              f"this model: {e}") from None

    def build(self, input_shape=None):
        gen, hidden = self.generator_shape, self.config.hidden_size
        if self.generator_projection is not None:
            self.generator_projection.build((None, None, gen.embedding_size))
        for block in self.generator_blocks:
            block.build((None, None, gen.hidden_size))
        self.build_masked_lm_head(gen)
        self.discriminator_dense.build((None, None, hidden))
        self.discriminator_prediction.build((None, None, hidden))
        self.built = True

    # ------------------------------------------------------------------ forward

    def generator_logits(self, inputs, training=None):
        """The generator's float32 `[B, K, V]` logits at masked_lm_positions of input_ids."""
        mask = inputs.get("input_mask")
        segments = inputs.get("segment_ids")
        x = self.encoder.embeddings(inputs["input_ids"], segments, training=training)  # [B, T, E]
        if self.generator_projection is not None:
            x = self.generator_projection(x)  # [B, T, G]
        for block in self.generator_blocks:
            x = block(x, padding_mask=mask, training=training)  # [B, T, G]
        return self.masked_lm_logits(x, inputs["masked_lm_positions"])

    def sample(self, mlm_logits, training=None):
        """int32 `[B, K]` tokens drawn from softmax(mlm_logits / temperature) (Gumbel-max).

        Training draws from the seed generator; inference uses one fixed seed, so that
        evaluating a batch twice samples the same tokens (as its masks are the same)."""
        logits = tf.stop_gradient(mlm_logits) / self.temperature  # [B, K, V]
        if training:
            seed = tf.cast(tf.math.floormod(self.sampling_seed.next(), tf.int32.max - 1),
                           tf.int32)
        else:
            seed = tf.constant([self.seed or 0, 1], tf.int32)
        uniform = tf.random.stateless_uniform(tf.shape(logits), seed, minval=1e-9, maxval=1.0)
        return tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), -1, output_type=tf.int32)

    def discriminate(self, inputs, sampled_ids, training=None):
        """The discriminator on input_ids with `sampled_ids` `[B, K]` at the masked positions
        (masked_lm_weights > 0): {"disc_logits", "disc_labels"}, float32 `[B, T]`."""
        ids = inputs["input_ids"]
        length = tf.shape(ids)[1]
        real = inputs["masked_lm_weights"] > 0  # [B, K]
        at = tf.one_hot(inputs["masked_lm_positions"], length, dtype=tf.int32)  # [B, K, T]
        at *= tf.cast(real, tf.int32)[..., None]
        # Real masked positions are distinct: one K per T at most.
        replaced = tf.reduce_sum(at, axis=1) > 0  # [B, T]
        fake = tf.where(replaced, tf.reduce_sum(at * sampled_ids[..., None], 1), ids)  # [B, T]
        original = tf.where(replaced, tf.reduce_sum(
            at * tf.cast(inputs["masked_lm_ids"], tf.int32)[..., None], 1), ids)
        out = self.encoder(dict(inputs, input_ids=fake), training=training)
        hidden = self.discriminator_activation(self.discriminator_dense(out["sequence_output"]))
        logits = tf.cast(self.discriminator_prediction(hidden)[..., 0], tf.float32)  # [B, T]
        labels = tf.cast(tf.not_equal(fake, original), tf.float32)  # [B, T]
        if "input_mask" in inputs:
            labels *= tf.cast(inputs["input_mask"], tf.float32)
        return {"disc_logits": logits, "disc_labels": labels}

    def call(self, inputs, training=None):
        mlm_logits = self.generator_logits(inputs, training=training)
        if "masked_lm_ids" not in inputs:
            return {"mlm_logits": mlm_logits}
        sampled = self.sample(mlm_logits, training=training)
        return dict(self.discriminate(inputs, sampled, training=training),
                    mlm_logits=mlm_logits, sampled_ids=sampled)

    def objective(self):
        return self.objective_class()

    # -------------------------------------------------------------- checkpoints

    def generator_weights(self):
        """{path: variable} of the generator's own body: "generator/embedding_projection/...",
        "generator/layer_{i}/..." (the paths an encoder has, under generator/)."""
        named = {}
        if self.generator_projection is not None:
            named["generator/embedding_projection/kernel"] = self.generator_projection.kernel
            named["generator/embedding_projection/bias"] = self.generator_projection.bias
        for i, block in enumerate(self.generator_blocks):
            att = block.attention
            p = f"generator/layer_{i}"
            parts = {"attention/query": att.query, "attention/key": att.key,
                     "attention/value": att.value, "attention/output": att.output_dense,
                     "intermediate": block.intermediate, "output": block.output_dense}
            for name, layer in parts.items():
                named[f"{p}/{name}/kernel"] = layer.kernel
                named[f"{p}/{name}/bias"] = layer.bias
            for name, layer in (("attention_layer_norm", block.attention_layer_norm),
                                ("output_layer_norm", block.output_layer_norm)):
                named[f"{p}/{name}/gamma"] = layer.gamma
                named[f"{p}/{name}/beta"] = layer.beta
        return named

    def head_weights(self):
        named = self.generator_weights()
        named.update({
            "mlm/transform/kernel": self.mlm_transform.kernel,
            "mlm/transform/bias": self.mlm_transform.bias,
            "mlm/layer_norm/gamma": self.mlm_layer_norm.gamma,
            "mlm/layer_norm/beta": self.mlm_layer_norm.beta,
            "mlm/output_bias": self.mlm_output_bias,
            "discriminator/dense/kernel": self.discriminator_dense.kernel,
            "discriminator/dense/bias": self.discriminator_dense.bias,
            "discriminator/prediction/kernel": self.discriminator_prediction.kernel,
            "discriminator/prediction/bias": self.discriminator_prediction.bias,
        })
        return named

    def checkpoint_names(self, fmt):
        """google: the whole of a google-research/electra checkpoint, strictly. huggingface:
        an ElectraForPreTraining release (the discriminator); the generator, in a release of
        its own, is read by from_pretrained, and may be absent here."""
        if fmt == "keras_hub":
            return super().checkpoint_names(fmt)
        return checkpoint_names.pretraining_names(fmt)

    def checkpoint_holds_head(self, release):
        if release.format != "huggingface":
            return super().checkpoint_holds_head(release)
        # An ElectraForPreTraining release: its head is the discriminator's.
        table, names = self.checkpoint_names("huggingface"), release.open().shapes
        return any(table.source_name(path)[0] in names for path in self.head_weights()
                   if path.startswith("discriminator/"))

    @classmethod
    def from_pretrained(cls, path, *args, **kwargs):
        """ConfigModel.from_pretrained; a Hugging Face release's "generator" folder (an
        ElectraForMaskedLM of this model's generator size, as save_pretrained writes) is read
        into the generator, strictly."""
        from bert_tf import checkpoints
        from bert_tf.models import registry

        release = checkpoints.resolve(path)
        generator = os.path.join(release.directory, GENERATOR_DIRECTORY)
        if release.format != "huggingface" or not os.path.isdir(generator):
            return super().from_pretrained(path, *args, **kwargs)
        kwargs.pop("require_head", None)  # both releases are read: every head is there
        strict = kwargs.pop("strict", True)
        model = cls(registry.config_from_release(release), *args, **kwargs)
        model.load_release(release, strict=strict)
        return model

    def load_release(self, release, strict=True):
        """Loads a checkpoint of any format (checkpoints.load_weights); a Hugging Face release
        with its generator/ folder (save_pretrained's) gives both models, strictly."""
        from bert_tf import checkpoints
        from bert_tf.checkpoints.table import load_into

        release = checkpoints.resolve(release)
        generator = os.path.join(release.directory, GENERATOR_DIRECTORY)
        if release.format != "huggingface" or not os.path.isdir(generator):
            return checkpoints.load_weights(self, release, strict=strict)
        discriminator = {p: v for p, v in self.named_weights().items()
                         if not p.startswith(("generator/", "mlm/"))}
        load_into(discriminator, release.open(), self.checkpoint_names("huggingface"),
                  strict=strict)
        self.load_generator(generator)
        return release

    def _generator_paths(self):
        """{our path: ElectraForMaskedLM's name (with its electra. prefix), transform}."""
        table = self.encoder.checkpoint_names("huggingface")
        head = NameTable(checkpoint_names.GENERATOR_HEAD["huggingface"])
        found = {}
        for path in self.encoder.named_weights():
            if path.startswith("embeddings/"):  # shared: the generator release holds a copy
                name, transform = table.source_name(path)
                found[path] = ("electra." + name, transform)
        for path in self.generator_weights():
            name, transform = table.source_name(path[len("generator/"):])
            found[path] = ("electra." + name, transform)
        for path in ("mlm/transform/kernel", "mlm/transform/bias", "mlm/layer_norm/gamma",
                     "mlm/layer_norm/beta", "mlm/output_bias"):
            found[path] = head.source_name(path)
        return found

    def load_generator(self, directory):
        """Reads an ElectraForMaskedLM release of the generator's size into the generator and
        its head, strictly; its embedding tables must equal the discriminator's (ELECTRA's are
        shared: the release holds a copy)."""
        from bert_tf import checkpoints
        from bert_tf.checkpoints.table import CheckpointMismatchError, Rule, load_into

        release = checkpoints.resolve(directory)
        encoder = self.encoder.named_weights()
        rules, named, copies = [], {}, {}
        for path, (name, transform) in self._generator_paths().items():
            if path in encoder:  # a shared table: read into a copy, compared below
                copies[path] = keras.Variable(np.zeros(encoder[path].shape, np.float32),
                                              trainable=False)
                named["copy/" + path] = copies[path]
                rules.append(Rule(name, "copy/" + path, transform))
            else:
                named[path] = self.head_weights()[path]
                rules.append(Rule(name, path, transform))
        skip = checkpoint_names.GENERATOR_SKIP["huggingface"] + [checkpoint_names.HF_BUFFERS]
        load_into(named, release.open(), NameTable(rules, skip=skip))
        for path, copy in copies.items():
            if not np.allclose(copy.numpy(), encoder[path].numpy(), atol=1e-6):
                raise CheckpointMismatchError(
                    f"{release.weights[0]}: the generator's {path} differs from the "
                    "discriminator's, but ELECTRA's embeddings are shared")

    def save_pretrained(self, directory, vocab_file=None):
        """Hugging Face's releases: the discriminator (config.json and model.safetensors of an
        ElectraForPreTraining) in `directory`, the generator (an ElectraForMaskedLM) in
        `directory`/generator, each with the vocab. Atomic. Returns the discriminator's weights."""
        from safetensors.numpy import save_file

        from bert_tf import checkpoints
        from bert_tf.checkpoints import huggingface
        from bert_tf.checkpoints.release import HF_CONFIG_NAME
        from bert_tf.checkpoints.table import TRANSFORMS
        from bert_tf.data import files

        table = self.checkpoint_names("huggingface")
        discriminator = {}
        for path, variable in self.encoder.named_weights().items():
            name, transform = table.source_name(path)
            discriminator["electra." + name] = TRANSFORMS[transform](variable.numpy())
        for path, variable in self.head_weights().items():
            if path.startswith("discriminator/"):
                name, transform = table.source_name(path)
                discriminator[name] = TRANSFORMS[transform](variable.numpy())
        named = dict(self.encoder.named_weights(), **self.head_weights())
        generator = {name: TRANSFORMS[transform](named[path].numpy())
                     for path, (name, transform) in self._generator_paths().items()}

        def write(staging, arrays, config, architecture):
            values = dict(config.to_dict(), architectures=[architecture])
            files.write_text(os.path.join(staging, HF_CONFIG_NAME),
                             json.dumps(values, indent=2, sort_keys=True) + "\n")
            save_file({k: np.ascontiguousarray(v, np.float32) for k, v in arrays.items()},
                      os.path.join(staging, huggingface.WEIGHTS_NAME), metadata={"format": "pt"})
            if vocab_file is not None:
                checkpoints.copy_vocab(vocab_file, staging)

        with files.atomic_directory(directory) as staging:
            write(staging, discriminator, self.config, "ElectraForPreTraining")
            inner = os.path.join(staging, GENERATOR_DIRECTORY)
            os.makedirs(inner)
            write(inner, generator, self.generator_config, "ElectraForMaskedLM")
        return os.path.join(directory, huggingface.WEIGHTS_NAME)

    def release_format(self):
        return "huggingface"

    def get_config(self):
        config = super().get_config()
        config.update(generator_hidden_size=self.generator_hidden_size,
                      generator_layers=self.generator_layers, temperature=self.temperature,
                      seed=self.seed)
        return config
