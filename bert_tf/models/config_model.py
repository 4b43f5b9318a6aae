"""ConfigModel: the base of every model built from a family's config (encoders, pretrainers, task heads)."""

import re

import keras
import tensorflow as tf
from absl import logging

from bert_tf.checkpoints.table import Rule
from bert_tf.errors import UserError
from bert_tf.training.objective import KerasObjective


class ConfigModel(keras.Model):
    """A keras.Model whose architecture is a family's config (BertConfig, RobertaConfig, ...).

    A dict is accepted too: bert_config.json's form for BERT, the family's
    own form with its "model_type" for the others (see registry.as_config).
    A task model also takes an encoder in place of the config (any family's
    TransformerEncoder, for example one from `from_pretrained`): the head is
    built on that encoder, whose weights it then shares.
    `get_config` returns that dict, so `.keras` files and `from_config`
    round-trip; subclasses add their own arguments. `config_class` limits
    the families a subclass takes (an encoder class takes its own).

    Checkpoints: a subclass has an `encoder` (a TransformerEncoder) and declares
    its head in `head_weights()` ({path: variable}) and `head_checkpoint_names`
    ({"google": [Rule...], "huggingface": [Rule...]}); `from_pretrained` and
    `save_pretrained` then read and write Google and Hugging Face releases
    and bert_tf run directories strictly by those names.
    """

    head_checkpoint_names = {"google": (), "huggingface": ()}
    head_checkpoint_skip = {}  # format -> [Rule]: the head's known names that are not weights
    config_class = None  # None: any family's config
    is_encoder = False  # TransformerEncoder: what a task model may take in place of a config

    def __init__(self, config, **kwargs):
        from bert_tf.models import registry

        given = None
        if isinstance(config, ConfigModel) and config.is_encoder:
            given, config = config, config.config
        config = registry.as_config(config)
        if self.config_class is not None and not isinstance(config, self.config_class):
            raise UserError(
                f"{type(self).__name__} is built from a {self.config_class.__name__}, not a "
                f"{type(config).__name__} (a {config.family} model): use "
                f"{registry.get(config.family).encoder_class().__name__} or "
                "bert_tf.TransformerEncoder")
        super().__init__(**kwargs)
        self.config = config
        # Not tracked here: the head tracks it once, as its `encoder`.
        object.__setattr__(self, "_given_encoder", given)

    def head_encoder(self):
        """The encoder a task model's head sits on: the one given in place of the config,
        else a new encoder of the config's family."""
        from bert_tf.models.registry import build_encoder

        given, self._given_encoder = self._given_encoder, None
        if given is not None:
            return given
        return build_encoder(self.config, dtype=self.dtype_policy, name="encoder")

    # ------------------------------------------------------------ checkpoints

    def head_weights(self):
        """{path: variable} of the weights outside the encoder; see checkpoint_names."""
        return {}

    def uses_pooler(self):
        """Whether this model reads the encoder's pooled output. One that does not (a tagger;
        RoBERTa's and DistilBERT's sentence classifiers, as their Hugging Face models) keeps
        the encoder's pooler frozen (`freeze_unused_pooler`), does not save it, and skips
        one a checkpoint holds."""
        return True

    def freeze_unused_pooler(self):
        """Keeps a pooler the loss never reaches out of the optimizer (call once built)."""
        if not self.uses_pooler() and self.encoder.pooler is not None:
            self.encoder.pooler.trainable = False

    def named_weights(self):
        """{stable path: variable} of every weight: the encoder's, then the head's."""
        named = {path: variable for path, variable in self.encoder.named_weights().items()
                 if self.uses_pooler() or not path.startswith("pooler/")}
        named.update(self.head_weights())
        return named

    def checkpoint_names(self, fmt):
        """The NameTable of this model in checkpoint format `fmt` ("google", "huggingface",
        "keras_hub": a preset is a backbone, so no head has names there)."""
        encoder = self.encoder.checkpoint_names(fmt)
        skip = list(self.head_checkpoint_skip.get(fmt, ()))
        if (not self.uses_pooler() and self.encoder.pooler is not None
                and encoder.has_source_name("pooler/kernel")):  # RobertaBackbone has none
            # The checkpoint's pooler, under the name the encoder's table gives it.
            names = "|".join(re.escape(encoder.source_name(path)[0])
                             for path in ("pooler/kernel", "pooler/bias"))
            prefix = f"({re.escape(encoder.optional_prefix)})?" if encoder.optional_prefix else ""
            skip.append(Rule(f"{prefix}({names})", None,
                             reason=f"pooler variable(s) ({type(self).__name__} does not use "
                                    "the pooler)"))
        return encoder.extended(() if fmt == "keras_hub" else self.head_rules(fmt), skip)

    def head_rules(self, fmt):
        """The head's [Rule] in checkpoint format `fmt` (`head_checkpoint_names`, the same in
        every family, unless a head's names differ between families)."""
        return self.head_checkpoint_names[fmt]

    def checkpoint_objects(self):
        """How this model sits in a bert_tf training checkpoint: the whole model is "model"."""
        return {"model": self}

    @classmethod
    def from_pretrained(cls, path, *args, strict=True, dtype=None, require_head=False,
                        **kwargs):
        """Builds the model from a checkpoint directory's config and loads its weights.

        `path` is a Google release (bert_config.json + bert_model.ckpt.*), a
        checkpoint prefix inside one, a Hugging Face release (config.json +
        model.safetensors), a keras-hub preset (config.json of a BertBackbone,
        RobertaBackbone or DistilBertBackbone + model.weights.h5; reading it
        needs keras-hub) or a bert_tf run's output_dir. Extra arguments
        go to the constructor (for example `num_labels`). With
        `strict=False`, checkpoint weights this model has no place for are
        skipped and weights the checkpoint lacks keep their initial values,
        with warnings; shape mismatches are always errors
        (CheckpointMismatchError). A checkpoint without this model's head
        gives a newly initialized head, with a warning; with `require_head`
        it is an error (a head to serve or predict with must be trained).
        """
        from bert_tf import checkpoints
        from bert_tf.models import registry

        release = checkpoints.resolve(path)
        config = registry.config_from_release(release)
        model = cls._for_config(config)(config, *args, dtype=dtype, **kwargs)
        if not model.head_weights() or model.checkpoint_holds_head(release):
            checkpoints.load_weights(model, release, strict=strict)
            return model
        # A release of the encoder alone, or of another task: the head starts fresh, as
        # for fine-tuning.
        if require_head:
            raise UserError(f"{release.directory} holds no {cls.__name__} head: it was never "
                            "trained for this task")
        checkpoints.load_weights(model.encoder, release, strict=strict)
        logging.warning("%s holds no %s head: the encoder is loaded, the head is newly "
                        "initialized", release.directory, cls.__name__)
        return model

    @classmethod
    def _for_config(cls, config):
        """The class that builds `config` when `cls.from_pretrained` reads it (cls itself)."""
        return cls

    def checkpoint_holds_head(self, release):
        """Whether a checkpoint (any format) has any weight of this model's head."""
        if release.format == "keras_hub":
            return False  # a preset is a backbone
        if release.format == "bert_tf":
            return bool(self._head_attributes() & _training_model_children(release.weights[0]))
        table = self.checkpoint_names(release.format)
        shapes = release.open().shapes
        for path in self.head_weights():
            name = table.source_name(path)[0]
            if name in shapes or table.optional_prefix + name in shapes:
                return True
        return False

    def _head_attributes(self):
        """Names of this model's attributes that hold head weights (layers or variables)."""
        names = set()
        for name, value in vars(self).items():
            if name.startswith("_") or name == "encoder":
                continue
            if (isinstance(value, keras.layers.Layer) and value.weights) or isinstance(
                    value, keras.Variable):
                names.add(name)
        return names

    def save_pretrained(self, directory, vocab_file=None):
        """Writes a release: Google's format for BERT (bert_config.json, bert_model.ckpt),
        Hugging Face's for the other families (config.json, model.safetensors); vocab.txt too.

        Every weight, head included, is written under its name in that format;
        the directory appears only once it is complete. Returns the checkpoint
        prefix (Google) or the weights file (Hugging Face).
        """
        from bert_tf import checkpoints

        if self.release_format() == "google":
            return checkpoints.save_google(self, directory, vocab_file=vocab_file)
        return checkpoints.save_huggingface(self, directory, vocab_file=vocab_file)

    def release_format(self):
        """The format `save_pretrained` writes, the family's first: "google" for BERT,
        "huggingface" for the others (ELECTRA reads Google's TF1 names but releases in Hugging
        Face's layout, as its config has no Google file)."""
        from bert_tf.models import registry

        return registry.family_of(self.config).formats[0]

    # --------------------------------------------------------- Keras-native use

    def objective(self):
        """The Objective this model is trained on (see bert_tf.training.objective), or None.

        compile()'s default loss and metrics come from it, so that Keras'
        `fit` minimizes the loss the run_*.py scripts' training loop minimizes.
        """
        return None

    def compile(self, optimizer="auto", loss="auto", metrics="auto", **kwargs):
        """keras.Model.compile with this model's defaults ("auto").

        optimizer "auto": AdamW at 5e-5 with weight decay 0.01, not on LayerNorm
        and bias variables (BERT's fine-tuning recipe). loss "auto": the
        training loss of the model's `objective()` (the run_*.py scripts'
        loss, normalized over each batch as their training loop does);
        metrics "auto": the objective's metrics (the scripts' training
        metrics), totalled over each epoch. Then `fit`, `evaluate` and
        `predict` work on a tf.data pipeline of (inputs, labels): the inputs
        as the model takes them (for example raw strings mapped through a
        BertTokenizer layer), the labels keyed as in the training loop's
        batches (a dict of the objective's `label_keys`, or a tensor when it
        has one). The objective sees the inputs too (the span loss reads
        input_mask) and weighs its own examples: it takes no sample weights.
        A loss or metrics given here go to Keras as usual.
        """
        if optimizer == "auto":
            from bert_tf.training.optimization import NO_DECAY

            optimizer = keras.optimizers.AdamW(learning_rate=5e-5, weight_decay=0.01,
                                               epsilon=1e-6)
            optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY))
        objective = self.objective() if "auto" in (loss, metrics) else None
        keras_objective = objective and KerasObjective(objective)
        self._objective_loss = keras_objective if loss == "auto" else None
        self._objective_metrics = keras_objective if metrics == "auto" else None
        super().compile(optimizer=optimizer, loss=None if loss == "auto" else loss,
                        metrics=None if metrics == "auto" else metrics, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        keras_objective = getattr(self, "_objective_loss", None)
        if keras_objective is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if sample_weight is not None:
            raise ValueError(f"{type(self).__name__}'s objective weighs its own examples and "
                             "takes no sample weights")
        loss = keras_objective.loss(x, y, y_pred)
        for extra in self.losses:  # add_loss() and regularizers, as Keras adds them
            loss = loss + tf.cast(tf.reduce_sum(extra), loss.dtype)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        keras_objective = getattr(self, "_objective_metrics", None)
        if keras_objective is not None:
            keras_objective.metrics.update_state(keras_objective.batch(x, y), y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    @property
    def metrics(self):
        found = super().metrics
        keras_objective = getattr(self, "_objective_metrics", None)
        if self.compiled and keras_objective is not None:
            found.append(keras_objective.metrics)
        return found

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy),
                "config": self.config.to_dict()}


def _training_model_children(prefix):
    """Attribute names under "model" in a bert_tf training checkpoint's object graph."""
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(prefix)
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    root = graph.nodes[0]
    model = [child.node_id for child in root.children if child.local_name == "model"]
    if not model:
        return set()
    return {child.local_name for child in graph.nodes[model[0]].children}
