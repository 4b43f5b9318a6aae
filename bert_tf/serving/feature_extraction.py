"""Per-token hidden states of chosen layers as JSON lines, as google-research/bert's extract_features.py writes them.

Input: one text per line; "text_a ||| text_b" for a pair. Output: one JSON
object per line, {"linex_index": i, "features": [{"token": "[CLS]",
"layers": [{"index": -1, "values": [...]}, ...]}, ...]}, values rounded to 6
decimals, for the real tokens ([CLS] and [SEP] included, padding not).
"""

import json
import re

import numpy as np

from bert_tf.errors import DataError, UserError

_PAIR = re.compile(r"^(.*) \|\|\| (.*)$")


def read_examples(path):
    """(index, text_a, text_b or None) per line, streamed."""
    with open(path, "rb") as f:
        for index, raw in enumerate(f):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DataError(f"{path}:{index + 1}: not valid UTF-8") from None
            if index == 0:
                line = line.lstrip("\ufeff")
            match = _PAIR.match(line)
            yield (index, match.group(1), match.group(2)) if match else (index, line, None)


def _batches(examples, size):
    batch = []
    for example in examples:
        batch.append(example)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def extract(encoder, tokenizer, input_file, output_file, layers=(-1, -2, -3, -4),
            max_seq_length=128, batch_size=32):
    """Writes the JSON lines; returns the number of examples."""
    count = 0
    num_layers = encoder.shape.num_layers
    for index in layers:
        if not -num_layers <= index < num_layers:
            raise UserError(f"--layers: layer {index} does not exist in a {num_layers}-layer "
                            "model")
    from bert_tf.data import files

    with files.atomic_write(output_file) as out:
        for batch in _batches(read_examples(input_file), batch_size):
            lines = {}
            # Pairs and single texts are encoded apart (their layouts differ), then written
            # back in input order.
            for pair in (False, True):
                part = [e for e in batch if (e[2] is not None) == pair]
                if not part:
                    continue
                features = tokenizer.encode([e[1] for e in part],
                                            [e[2] for e in part] if pair else None,
                                            max_seq_length, pad_to_max_length=False)
                hidden = encoder(features, training=False)["encoder_outputs"]
                chosen = {i: np.asarray(hidden[i], np.float32) for i in layers}  # [B, T, H]
                tokens = tokenizer.convert_ids_to_tokens(features["input_ids"]).numpy()
                lengths = features["input_mask"].numpy().sum(1)
                for row, (line_index, _, _) in enumerate(part):
                    lines[line_index] = json.dumps({"linex_index": line_index, "features": [
                        {"token": tokens[row, t].decode("utf-8"),
                         "layers": [{"index": i,
                                     "values": [round(float(x), 6) for x in chosen[i][row, t]]}
                                    for i in layers]}
                        for t in range(lengths[row])]})
            for line_index in sorted(lines):
                out.write(lines[line_index] + "\n")
            count += len(lines)
    return count
