"""XLMRobertaConfig: XLM-RoBERTa's hyper-parameters, RoBERTa's field names under model_type xlm-roberta."""

import dataclasses

from bert_tf.models.roberta.config import RobertaConfig


@dataclasses.dataclass(frozen=True)
class XLMRobertaConfig(RobertaConfig):
    """XLM-RoBERTa: RoBERTa's encoder and config fields (Hugging Face's XLMRobertaConfig is
    RobertaConfig's), read from config.json files whose model_type is "xlm-roberta";
    xlm-roberta-base's vocab_size is 250,002 (fairseq's dictionary over its SentencePiece
    model)."""

    family = "xlm-roberta"
    model_types = ("xlm-roberta",)
