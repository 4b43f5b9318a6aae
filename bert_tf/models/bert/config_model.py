"""BertConfigModel: the name BERT's models have always subclassed; see ConfigModel."""

from bert_tf.models.config_model import ConfigModel

# Every family's models share one base; BERT's code and users' subclasses keep this name.
BertConfigModel = ConfigModel
