"""BertConfigModel: the base of models built from a BertConfig and serialized as that config."""

import keras

from bert_tf.config import BertConfig


class BertConfigModel(keras.Model):
    """A keras.Model whose architecture is a BertConfig (a dict is accepted too).

    `get_config` returns the config in bert_config.json form, so `.keras`
    files and `from_config` round-trip; subclasses add their own arguments.
    """

    def __init__(self, config, **kwargs):
        if not isinstance(config, BertConfig):
            config = BertConfig.from_dict(config)
        super().__init__(**kwargs)
        self.config = config

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "dtype": keras.dtype_policies.serialize(self.dtype_policy),
                "config": self.config.to_dict()}
