"""How QA models are served: a question and a context in, the answer's text and span out.

serving_default takes `question` and `context` strings [B] and returns
`answer` (string [B]), its character `start` and `end` in the context (int32
[B], Python string indices; -1 without an answer), `score` (float32 [B]),
`truncated` (bool [B]: the question had more than max_query_length pieces)
and, for SQuAD 2.0 models, `has_answer` (bool [B]). Long contexts are
windowed in the graph as run_squad.py --do_predict windows them (see
graph.py), so the answers are those of predictions.json. serve_ids takes
int32 input_ids, input_mask and segment_ids [B, T] and returns float32
start_logits and end_logits [B, T].
"""

import tensorflow as tf

from bert_tf.errors import UserError
from bert_tf.serving import export
from tasks.question_answering import graph

# What the graph needs beside the model and tokenizer: run_squad.py's flags of the same names.
DEFAULTS = {"doc_stride": 128, "max_query_length": 64, "n_best_size": 20,
            "max_answer_length": 30, "version_2_with_negative": False,
            "null_score_diff_threshold": 0.0}


def _span_logits(module, features):
    outputs = module.call_model(features)
    return {"start_logits": outputs["start_logits"], "end_logits": outputs["end_logits"]}


def _answer(module, question, context):
    same = tf.debugging.assert_equal(
        tf.shape(question), tf.shape(context),
        message="question and context must hold the same number of strings")
    with tf.control_dependencies([same]):
        question = tf.identity(question)
    out = graph.answer_questions(
        module.call_model, module.tokenizer, question, context, module.max_seq_length,
        **{name: getattr(module, name) for name in DEFAULTS})
    # A blank question asks nothing: no answer (run_squad.py refuses one in a data file).
    blank = tf.equal(tf.strings.length(tf.strings.strip(question)), 0)  # [B]
    none = {"answer": tf.constant(""), "start": tf.constant(-1), "end": tf.constant(-1),
            "score": tf.constant(0.0), "has_answer": tf.constant(False)}
    for name, value in none.items():
        if name in out:
            out[name] = tf.where(blank, tf.cast(value, out[name].dtype), out[name])
    return out


def _warmup(kind, texts, tokenizer):
    """A short context, one that needs several windows, and empty strings."""
    del kind, texts, tokenizer
    long_context = " ".join(f"Paragraph {i} says that the river is {i} miles long."
                            for i in range(60))
    return [{"question": ["Who wrote the notes?", "How long is the river in paragraph 42?", ""],
             "context": ["The notes were written by Ada Lovelace in 1843.", long_context, ""]}]


QUESTION_ANSWERING = export.ExportKind(
    "question_answering", _span_logits, text_inputs=("question", "context"),
    serve_text=_answer, warmup=_warmup)


def serving_constants(max_seq_length, special_tokens=3, **values):
    """The export's QA constants: DEFAULTS overridden by `values` (None keeps the default).

    Raises UserError when max_seq_length leaves no room for context.
    """
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown QA serving settings {sorted(unknown)}")
    found = dict(DEFAULTS)
    found.update({name: value for name, value in values.items() if value is not None})
    for name in ("doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
        if not isinstance(found[name], int) or found[name] < 1:
            raise UserError(f"--{name} must be a positive integer, got {found[name]}")
    if max_seq_length <= found["max_query_length"] + special_tokens:
        raise UserError(f"--max_seq_length={max_seq_length} must be greater than "
                        f"max_query_length={found['max_query_length']} + {special_tokens} "
                        "(the special tokens around a question and a context)")
    return found


def question_answering_exporter(settings, files):
    """export_model.py --task=question_answering: the run's windowing settings from run.json."""
    from tasks.question_answering.model import BertSpanLabeler

    model = BertSpanLabeler.from_pretrained(files.release,
                                            require_head=not settings.allow_untrained_head)
    if not model.checkpoint_holds_head(files.release):
        raise UserError(f"{settings.checkpoint} holds no span head (cls/squad/output_weights or "
                        "qa_outputs.weight): export a run_squad.py output_dir or a release "
                        "fine-tuned on SQuAD")
    info = files.run_info
    values = {name: info.get(name) for name in DEFAULTS}  # what the run was trained with
    values.update({name: getattr(settings, name) for name in DEFAULTS
                   if getattr(settings, name, None) is not None})
    specials = files.tokenizer(settings.max_seq_length).template.special_count(pair=True)
    return model, QUESTION_ANSWERING, serving_constants(settings.max_seq_length, specials,
                                                        **values)
